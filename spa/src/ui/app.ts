import { endpointFor, type RuntimeConfig } from "../client/config";
import { guestKey, type TokenStore } from "../client/tokens";
import { isMeetingCode } from "../client/codes";
import { MeetingClient, Phase } from "../client/meeting";
import { clear } from "./dom";
import { homePage } from "./pages/home";
import { prejoinPage } from "./pages/prejoin";
import type { Preview } from "./preview";
import { lobbyPage } from "./pages/lobby";
import { meetingPage } from "./pages/meeting";
import { endPage, invalidCodePage } from "./pages/end";
import type { VisibleTile } from "./meeting/grid";
import type { Shell } from "./shell";

// What tests reach through window.__veet.
declare global {
  interface Window {
    __veet?: {
      client: MeetingClient | null;
      pcs(): RTCPeerConnection[];
      tracks(): { trackId: string; mid?: string }[];
      // Set by the meeting page: the tiles on screen and their sizes, and
      // how many knock chimes played.
      visibleTiles?: () => VisibleTile[];
      chimes?: () => number;
    };
  }
}

type Cleanup = () => void;

// App is the router and the owner of the one MeetingClient a tab has. Pages
// are functions that fill the root and return their cleanup.
export class App implements Shell {
  private cleanup: Cleanup | null = null;
  client: MeetingClient | null = null;
  preview: Preview | null = null;

  constructor(
    private readonly root: HTMLElement,
    readonly config: RuntimeConfig,
    readonly tokens: TokenStore,
  ) {
    window.__veet = {
      client: null,
      pcs: () => [this.client?.media?.publishPC, this.client?.media?.subscribePC].filter((p): p is RTCPeerConnection => !!p),
      tracks: () => this.client?.media?.offeredTracks() ?? [],
    };
  }

  start(): void {
    window.addEventListener("popstate", () => this.route());
    this.route();
  }

  navigate(path: string): void {
    if (location.pathname !== path) history.pushState(null, "", path);
    this.route();
  }

  private route(): void {
    const path = decodeURIComponent(location.pathname).replace(/^\/+|\/+$/g, "");
    if (this.client && this.client.code !== path) this.dropClient();
    if (path === "") return this.show(homePage(this));
    if (!isMeetingCode(path)) return this.show(invalidCodePage(this, path));
    if (this.client) return this.onPhase(this.client.phase);
    this.show(prejoinPage(this, path));
  }

  show(page: { el: HTMLElement; cleanup?: Cleanup }): void {
    this.cleanup?.();
    clear(this.root);
    this.root.append(page.el);
    this.cleanup = page.cleanup ?? null;
    page.el.querySelector<HTMLElement>("[autofocus]")?.focus();
  }

  // joinMeeting hands the preview's tracks to a MeetingClient and follows its
  // phases from then on.
  // region is where the meeting lives (from the pre-join lookup): it is
  // joined through that region's endpoint.
  async joinMeeting(code: string, name: string, micOn: boolean, camOn: boolean, preview: Preview, region?: string): Promise<void> {
    this.preview = preview;
    const client = new MeetingClient({
      wsUrl: endpointFor(this.config, region),
      regions: this.config.regions,
      code,
      tokens: this.tokens,
      guest: guestKey(),
      getCamera: () => preview.getCamera(),
    });
    this.client = client;
    window.__veet!.client = client;
    client.on("phase", (p) => this.client === client && this.onPhase(p));
    await client.join({ name, micOn, camOn, tracks: preview.tracks });
  }

  private onPhase(p: Phase): void {
    const client = this.client!;
    switch (p.kind) {
      case "idle":
      case "connecting":
        return;
      case "lobby":
        if (this.root.querySelector(".lobby-wait")) return; // a re-knock
        return this.show(lobbyPage(this, client, this.preview!));
      case "joined":
        if (this.root.querySelector(".meeting")) return;
        return this.show(meetingPage(this, client, this.preview!));
      default:
        this.preview?.stop();
        return this.show(endPage(this, client.code, p));
    }
  }

  // rejoin starts over at the pre-join page of the same meeting.
  rejoin(code: string): void {
    this.dropClient();
    this.show(prejoinPage(this, code));
  }

  private dropClient(): void {
    const c = this.client;
    this.client = null;
    if (window.__veet) window.__veet.client = null;
    if (c && (c.phase.kind === "joined" || c.phase.kind === "lobby")) void c.leave();
    this.preview?.stop();
    this.preview = null;
  }
}
