import type { MeetingClient } from "../../client/meeting";
import type { Participant } from "../../client/protocol";
import { h } from "../dom";
import { gridLayout, MAX_TILES } from "../layout";
import { Tile } from "./tile";

interface TileSpec {
  key: string;
  p: Participant;
  label: string;
  video: MediaStreamTrack | null;
  screen?: boolean;
}

// Grid lays the tiles out on the stage and keeps one hidden <audio> per
// remote audio track.
export class Grid {
  readonly el = h("div.stage");
  private wall = h("div.tiles", { role: "list", "aria-label": "Participants" });
  // What is being presented goes here, large, as in Meet's spotlight view.
  private spot = h("div.spotlight", { role: "list", "aria-label": "Presentations" });
  private presenting = 0;
  private tiles = new Map<string, Tile>();
  private audios = new Map<string, HTMLAudioElement>();
  private audioBox = h("div.audio-sink", { hidden: true });
  private overflow = h("div.tile.overflow-tile");
  private observer = new ResizeObserver(() => this.layout());
  private count = 0;

  constructor(private readonly client: MeetingClient, private readonly selfStream: () => MediaStreamTrack | null) {
    this.el.append(this.spot, this.wall, this.audioBox);
    this.observer.observe(this.el);
  }

  render(): void {
    const c = this.client;
    const room = c.room;
    const youId = c.you?.id;
    const speaking = new Set(room.speakers);
    const specs: TileSpec[] = [];
    for (const p of room.sortedParticipants()) {
      const self = p.id === youId;
      const me = self ? { ...p, micOn: c.micOn, camOn: c.camOn } : p;
      const cam = self ? this.selfStream() : this.remote(p.id, "camera");
      specs.push({ key: p.id, p: me, label: self ? `${p.name} (You)` : p.name, video: cam });
      const screen = self ? null : this.remote(p.id, "screen");
      if (screen) specs.push({ key: `${p.id}/screen`, p, label: `${p.name} (presentation)`, video: screen, screen: true });
    }
    // Presentations first, as Meet puts what is shared in front.
    specs.sort((a, b) => Number(!!b.screen) - Number(!!a.screen));
    const shown = specs.length > MAX_TILES ? specs.slice(0, MAX_TILES - 1) : specs;
    const keep = new Set(shown.map((s) => s.key));
    for (const [k, t] of this.tiles) if (!keep.has(k)) { t.el.remove(); this.tiles.delete(k); }
    this.presenting = shown.filter((s) => s.screen).length;
    let si = 0;
    let wi = 0;
    for (const s of shown) {
      let t = this.tiles.get(s.key);
      if (!t) this.tiles.set(s.key, (t = new Tile(s.key, s.key === youId)));
      t.update(s.p, { label: s.label, video: s.video, speaking: speaking.has(s.p.id), screen: s.screen });
      const [box, i] = s.screen ? [this.spot, si++] : [this.wall, wi++];
      if (box.children[i] !== t.el) box.insertBefore(t.el, box.children[i] ?? null);
    }
    this.el.classList.toggle("presenting", this.presenting > 0);
    const hidden = specs.length - shown.length;
    this.overflow.textContent = hidden > 0 ? `${hidden} others` : "";
    if (hidden > 0) this.wall.append(this.overflow);
    else this.overflow.remove();
    this.count = shown.length - this.presenting + (hidden > 0 ? 1 : 0);
    this.wall.dataset.tiles = String(this.count);
    this.syncAudio();
    this.layout();
  }

  private remote(pid: string, source: "camera" | "screen"): MediaStreamTrack | null {
    const t = this.client.room.tracks.find((x) => x.participantId === pid && x.source === source && x.kind === "video");
    return (t && !t.muted && this.client.remoteFor(t)) || null;
  }

  private syncAudio(): void {
    const want = new Map<string, MediaStreamTrack>();
    for (const t of this.client.room.tracks) {
      if (t.kind !== "audio" || t.participantId === this.client.you?.id) continue;
      const track = this.client.remoteFor(t);
      if (track) want.set(t.trackId, track);
    }
    for (const [id, a] of this.audios) if (!want.has(id)) { a.srcObject = null; a.remove(); this.audios.delete(id); }
    for (const [id, track] of want) {
      if (this.audios.has(id)) continue;
      const a = h("audio", { autoplay: true });
      a.srcObject = new MediaStream([track]);
      a.play().catch(() => {});
      this.audioBox.append(a);
      this.audios.set(id, a);
    }
  }

  layout(): void {
    let w = this.el.clientWidth - 16;
    const hh = this.el.clientHeight - 16;
    if (w <= 0 || hh <= 0) return;
    if (this.presenting > 0) {
      // Presentations take three quarters of the width; people share the rest.
      const spotW = Math.floor(w * 0.75) - 8;
      const s = gridLayout(this.presenting, spotW, hh);
      for (const t of this.tiles.values()) if (t.key.endsWith("/screen")) t.size(s.tileW, s.tileH);
      this.spot.style.width = `${spotW}px`;
      w = w - spotW - 8;
    }
    const g = gridLayout(this.count, w, hh);
    for (const t of this.tiles.values()) if (!(this.presenting > 0 && t.key.endsWith("/screen"))) t.size(g.tileW, g.tileH);
    this.overflow.style.width = `${g.tileW}px`;
    this.overflow.style.height = `${g.tileH}px`;
    this.wall.style.width = `${g.cols * g.tileW + (g.cols - 1) * 8}px`;
  }

  destroy(): void {
    this.observer.disconnect();
    for (const a of this.audios.values()) a.srcObject = null;
  }
}
