// VideoSizes tells the media node how large each forwarded video is drawn
// (video_sizes), so that it sends each of us the simulcast layer that fits
// and pauses what we do not show. It reports what changed, not every
// resize: a change waits DEBOUNCE_MS for the layout to settle, and reports
// are at least MIN_GAP_MS apart (two a second at most).
import type { VideoSize } from "./protocol";

export const DEBOUNCE_MS = 300;
export const MIN_GAP_MS = 500;
// After a subscribe offer the node waits for our sizes to send the new
// tracks: report as soon as the grid has drawn their tiles.
export const FORWARD_MS = 100;
// A page of tiles is far smaller; the bound keeps the message bounded
// whatever the grid does.
export const MAX_SIZES = 64;

// What the grid says is on screen (Grid.visibleTiles): the SFU's track id,
// whether the tile shows the video (not the avatar of a muted camera) and
// the size in device pixels.
export interface ShownVideo {
  trackId: string | null;
  video: boolean;
  width: number;
  height: number;
}

// What the subscribe offer forwards to us, with the mids of our side.
export interface ForwardedTrack {
  trackId: string;
  kind: string;
  mid?: string;
}

export type SendSizes = (session: string, sizes: VideoSize[]) => boolean;

interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(t: unknown): void;
}

const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (t) => clearTimeout(t as ReturnType<typeof setTimeout>),
};

export class VideoSizes {
  // null until the UI says what is on screen: until then we say nothing
  // and the node sends what it would without us.
  private shown: ShownVideo[] | null = null;
  private session = "";
  private forwarded: ForwardedTrack[] = [];
  // What the node has from us for this session ("" until a report went out).
  private sent = "";
  private lastAt = -Infinity;
  private timer: unknown = null;

  constructor(private readonly send: SendSizes, private readonly clock: Clock = realClock) {}

  // show takes what is on screen now.
  show(tiles: ShownVideo[]): void {
    this.shown = tiles;
    this.schedule();
  }

  // forward takes the current media session and what it receives, with
  // our mids (at a new session, then after each subscribe offer). The node
  // hears our sizes again then, even unchanged: what it knew of them was
  // for other tracks, or for a session it no longer has.
  forward(session: string, tracks: ForwardedTrack[]): void {
    this.session = session;
    this.forwarded = tracks;
    this.sent = "";
    this.schedule(FORWARD_MS);
  }

  // again sends the current sizes once more (a tracks event, a join that
  // kept the session: the node may have been rebuilt).
  again(): void {
    this.sent = "";
    this.schedule();
  }

  stop(): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.session = "";
  }

  // shownTracks are the track ids of the videos on screen; null until the
  // page said (every video may then be sent to us).
  shownTracks(): Set<string> | null {
    return this.shown ? new Set(this.onScreen().keys()) : null;
  }

  // sizes are the forwarded videos on screen, by mid. A video left out is
  // one we do not show: the node pauses it.
  sizes(): VideoSize[] {
    const byTrack = this.onScreen();
    const out: VideoSize[] = [];
    for (const f of this.forwarded) {
      const t = byTrack.get(f.trackId);
      if (!t || !f.mid || f.kind !== "video") continue;
      out.push({ mid: f.mid, width: Math.round(t.width), height: Math.round(t.height) });
      if (out.length === MAX_SIZES) break;
    }
    return out.sort((a, b) => a.mid.localeCompare(b.mid, "en", { numeric: true }));
  }

  private onScreen(): Map<string, ShownVideo> {
    const m = new Map<string, ShownVideo>();
    for (const t of this.shown ?? []) if (t.trackId && t.video && t.width > 0 && t.height > 0) m.set(t.trackId, t);
    return m;
  }

  private schedule(wait = DEBOUNCE_MS): void {
    if (this.timer !== null || !this.session) return;
    const now = this.clock.now();
    const at = Math.max(now + wait, this.lastAt + MIN_GAP_MS);
    this.timer = this.clock.setTimeout(() => this.flush(), at - now);
  }

  private flush(): void {
    this.timer = null;
    // Nothing forwarded to us, nothing to size; nothing on screen known yet,
    // nothing to say.
    if (!this.session || !this.shown || !this.forwarded.length) return;
    const sizes = this.sizes();
    const sig = JSON.stringify(sizes);
    if (sig === this.sent) return;
    // Not sent (the socket is down): the join that follows the reconnect
    // sends it again.
    if (!this.send(this.session, sizes)) return;
    this.sent = sig;
    this.lastAt = this.clock.now();
  }
}
