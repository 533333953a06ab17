import type { MeetingClient } from "../../client/meeting";
import type { Participant, Track } from "../../client/protocol";
import { h } from "../dom";
import { icon } from "../icons";
import { gridLayout } from "../layout";
import { speaker as speakerOut } from "../audio";
import { gridCapacity, planStage, promote, type LayoutMode, type StageItem, type StagePlan } from "./stage";
import { Tile } from "./tile";

// VisibleTile is one tile on screen and the size it is drawn at, in device
// pixels: what a subscriber would ask the media server for (the layer
// that fits), once adaptive layers exist.
export interface VisibleTile {
  key: string;
  participantId: string;
  source: "camera" | "screen";
  trackId: string | null; // the SFU's track id, when the track is forwarded to us
  video: boolean; // the tile shows video (else the avatar)
  width: number;
  height: number;
}

export interface GridOptions {
  // Your own camera, shown mirrored.
  selfStream: () => MediaStreamTrack | null;
  // The "N others" tile was clicked.
  onOthers?: () => void;
  // What is on screen, or its size, changed.
  onVisible?: (tiles: VisibleTile[]) => void;
}

const GAP = 8;
// Room kept under a tiled page for its pager.
const PAGER_H = 48;
// A speaker stays "the speaker" of the spotlight and sidebar this long after
// they stop, so the large tile does not flicker between people.
const SPEAKER_HOLD_MS = 3000;

// Grid lays the tiles out on the stage in the chosen layout (stage.ts),
// pages or counts the rest, and keeps one hidden <audio> per remote audio
// track, for everyone, on screen or not.
export class Grid {
  readonly el = h("div.stage");
  private main = h("div.stage-main", { role: "list", "aria-label": "Main view" });
  private wall = h("div.tiles", { role: "list", "aria-label": "Participants" });
  private pageLabel = h("span.pager-label");
  private prevBtn = h("button.icon-btn.pager-btn", { type: "button", "aria-label": "Previous page", title: "Previous page", onclick: () => this.turn(-1) }, icon("prev"));
  private nextBtn = h("button.icon-btn.pager-btn", { type: "button", "aria-label": "Next page", title: "Next page", onclick: () => this.turn(1) }, icon("next"));
  private pager = h("div.pager", { hidden: true }, this.prevBtn, this.pageLabel, this.nextBtn);
  private overflow = h("button.tile.overflow-tile", { type: "button", onclick: () => this.opts.onOthers?.() });
  private tiles = new Map<string, Tile>();
  private audios = new Map<string, HTMLAudioElement>();
  private audioBox = h("div.audio-sink", { hidden: true });
  private observer = new ResizeObserver(() => this.layout());
  private plan: StagePlan = { arrangement: "grid", main: [], tiles: [], others: 0, page: 0, pages: 1 };
  // The people's stage order (auto and sidebar bring speakers forward).
  private order: string[] = [];
  private lastSpoke = new Map<string, number>();
  private speaker: { id: string; at: number } | null = null;
  private visibleSig = "";
  mode: LayoutMode = "auto";
  pinned: string | null = null;
  hideNoVideo = false;
  page = 0;

  constructor(private readonly client: MeetingClient, private readonly opts: GridOptions) {
    this.el.append(this.main, this.wall, this.pager, this.audioBox);
    this.observer.observe(this.el);
  }

  setMode(m: LayoutMode): void {
    this.mode = m;
    this.page = 0;
    this.render();
  }

  togglePin(key: string): void {
    this.pinned = this.pinned === key ? null : key;
    this.render();
  }

  private turn(d: number): void {
    this.page = Math.max(0, Math.min(this.plan.pages - 1, this.page + d));
    this.render();
  }

  render(): void {
    const c = this.client;
    const room = c.room;
    const youId = c.you?.id;
    const people = room.sortedParticipants();
    const byPid = new Map<string, Track[]>();
    for (const t of room.tracks) {
      const l = byPid.get(t.participantId);
      if (l) l.push(t);
      else byPid.set(t.participantId, [t]);
    }
    const now = Date.now();
    for (const id of room.speakers) this.lastSpoke.set(id, now);
    const loudest = room.speakers.find((id) => id !== youId && room.participants.has(id));
    if (loudest) this.speaker = { id: loudest, at: now };
    else if (this.speaker && (now - this.speaker.at > SPEAKER_HOLD_MS || !room.participants.has(this.speaker.id))) this.speaker = null;

    // The people's order: the last one kept, newcomers at the end (by
    // arrival), leavers out. Tiled keeps plain arrival order (stable pages).
    const present = new Set(people.map((p) => p.id));
    const known = new Set(this.order);
    this.order = this.order.filter((k) => present.has(k)).concat(people.filter((p) => !known.has(p.id)).map((p) => p.id));
    if (this.pinned && !present.has(this.pinned.replace(/\/screen$/, ""))) this.pinned = null;

    const info = new Map<string, { p: Participant; video: MediaStreamTrack | null; label: string; screen: boolean; track: Track | undefined }>();
    const items = (order: string[]): StageItem[] => {
      const screens: StageItem[] = [];
      const cams: StageItem[] = [];
      for (const id of order) {
        const p = room.participants.get(id)!;
        const self = id === youId;
        const me = self ? { ...p, micOn: c.micOn, camOn: c.camOn } : p;
        const camTrack = byPid.get(id)?.find((t) => t.source === "camera" && t.kind === "video");
        const cam = self ? this.opts.selfStream() : this.remote(camTrack);
        info.set(id, { p: me, video: cam, label: self ? `${p.name} (You)` : p.name, screen: false, track: camTrack });
        cams.push({ key: id, pid: id, screen: false, video: !!cam && me.camOn, self });
        const scrTrack = self ? undefined : byPid.get(id)?.find((t) => t.source === "screen" && t.kind === "video");
        const scr = this.remote(scrTrack);
        if (scr) {
          const key = `${id}/screen`;
          info.set(key, { p, video: scr, label: `${p.name} (presentation)`, screen: true, track: scrTrack });
          screens.push({ key, pid: id, screen: true, video: true, self: false });
        }
      }
      return [...screens, ...cams];
    };

    const w = this.el.clientWidth - 2 * GAP;
    const hh = this.el.clientHeight - 2 * GAP;
    let cap = w > 0 && hh > 0 ? gridCapacity(w, hh) : 9;
    if (this.mode === "tiled" && people.length > cap && hh > PAGER_H) cap = gridCapacity(w, hh - PAGER_H);
    const input = {
      mode: this.mode, pinned: this.pinned, speaker: this.speaker?.id ?? null, hideNoVideo: this.hideNoVideo, page: this.page,
      gridCapacity: cap,
      sideCapacity: w > 0 && hh > 0 ? sideCapacity(w, hh) : 4,
    };
    const order = this.mode === "tiled" ? people.map((p) => p.id) : this.order;
    let plan = planStage({ ...input, items: items(order) });
    // A speaker out of view comes into it, in place of whoever spoke longest ago.
    const sp = this.speaker?.id;
    if (sp && this.mode !== "tiled" && plan.arrangement !== "spotlight" && ![...plan.main, ...plan.tiles].some((x) => x.pid === sp && !x.screen)) {
      const shown = plan.tiles.filter((x) => !x.screen).length + plan.main.filter((x) => !x.screen).length;
      const keep = new Set([youId ?? "", this.pinned ?? ""]);
      const next = promote(this.order, shown, sp, this.lastSpoke, keep);
      if (next !== this.order) {
        this.order = next;
        plan = planStage({ ...input, items: items(next) });
      }
    }
    this.plan = plan;
    this.page = plan.page;

    const shownKeys = new Set([...plan.main, ...plan.tiles].map((x) => x.key));
    for (const [k, t] of this.tiles) if (!shownKeys.has(k)) { t.el.remove(); this.tiles.delete(k); }
    const speaking = new Set(room.speakers);
    const place = (box: HTMLElement, list: StageItem[]) => {
      list.forEach((s, i) => {
        const d = info.get(s.key)!;
        let t = this.tiles.get(s.key);
        if (!t) this.tiles.set(s.key, (t = new Tile(s.key, s.self, (k) => this.togglePin(k))));
        t.update(d.p, { label: d.label, video: d.video, speaking: speaking.has(s.pid), screen: d.screen, pinned: this.pinned === s.key });
        if (box.children[i] !== t.el) box.insertBefore(t.el, box.children[i] ?? null);
      });
    };
    place(this.main, plan.main);
    place(this.wall, plan.tiles);
    if (plan.others > 0 && plan.arrangement !== "spotlight") {
      this.overflow.textContent = `${plan.others} other${plan.others === 1 ? "" : "s"}`;
      this.overflow.setAttribute("aria-label", `${plan.others} more people: show everyone`);
      this.wall.append(this.overflow);
    } else this.overflow.remove();
    this.el.dataset.layout = this.mode;
    this.el.dataset.arrangement = plan.arrangement;
    this.pager.hidden = plan.pages <= 1;
    this.pageLabel.textContent = `${plan.page + 1} of ${plan.pages}`;
    this.prevBtn.disabled = plan.page === 0;
    this.nextBtn.disabled = plan.page >= plan.pages - 1;
    this.syncAudio();
    this.layout();
  }

  private remote(t: Track | undefined): MediaStreamTrack | null {
    return (t && !t.muted && this.client.remoteFor(t)) || null;
  }

  private syncAudio(): void {
    const want = new Map<string, MediaStreamTrack>();
    for (const t of this.client.room.tracks) {
      if (t.kind !== "audio" || t.participantId === this.client.you?.id) continue;
      const track = this.client.remoteFor(t);
      if (track) want.set(t.trackId, track);
    }
    for (const [id, a] of this.audios) {
      if (want.has(id)) continue;
      speakerOut.detach(a);
      a.srcObject = null;
      a.remove();
      this.audios.delete(id);
    }
    for (const [id, track] of want) {
      if (this.audios.has(id)) continue;
      const a = h("audio", { autoplay: true });
      a.srcObject = new MediaStream([track]);
      speakerOut.attach(a);
      a.play().catch(() => {});
      this.audioBox.append(a);
      this.audios.set(id, a);
    }
  }

  layout(): void {
    const w = this.el.clientWidth - 2 * GAP;
    const hh = this.el.clientHeight - 2 * GAP;
    if (w <= 0 || hh <= 0) return;
    const p = this.plan;
    const wallCount = p.tiles.length + (this.overflow.isConnected ? 1 : 0);
    const size = (list: StageItem[], tw: number, th: number) => { for (const s of list) this.tiles.get(s.key)?.size(tw, th); };
    this.main.style.width = this.wall.style.width = "";
    this.wall.style.marginBottom = p.pages > 1 ? `${PAGER_H}px` : "";
    if (p.arrangement === "grid") {
      const g = gridLayout(wallCount, w, p.pages > 1 ? hh - PAGER_H : hh);
      size(p.tiles, g.tileW, g.tileH);
      this.sizeOverflow(g.tileW, g.tileH);
      this.wall.style.width = `${g.cols * g.tileW + (g.cols - 1) * GAP}px`;
    } else {
      const sideW = p.arrangement === "sidebar" && wallCount > 0 ? stripWidth(w) : 0;
      const mainW = sideW ? w - sideW - GAP : w;
      const m = gridLayout(p.main.length, mainW, hh);
      size(p.main, m.tileW, m.tileH);
      this.main.style.width = `${mainW}px`;
      if (sideW) {
        // The column's tiles are 16:9 and share its height.
        const th = Math.min(Math.floor((sideW * 9) / 16), Math.floor((hh - GAP * (wallCount - 1)) / wallCount));
        const tw = Math.floor((th * 16) / 9);
        size(p.tiles, tw, th);
        this.sizeOverflow(tw, th);
        this.wall.style.width = `${sideW}px`;
      }
    }
    this.reportVisible();
  }

  private sizeOverflow(w: number, hgt: number): void {
    this.overflow.style.width = `${w}px`;
    this.overflow.style.height = `${hgt}px`;
  }

  // visibleTiles lists the tiles on screen with the size each is drawn at
  // (device pixels).
  visibleTiles(): VisibleTile[] {
    const dpr = globalThis.devicePixelRatio || 1;
    const byKey = new Map(this.client.room.tracks.map((t) => [`${t.participantId}/${t.source}`, t]));
    return [...this.plan.main, ...this.plan.tiles].flatMap((s) => {
      const t = this.tiles.get(s.key);
      if (!t) return [];
      const source = s.screen ? "screen" : "camera";
      return [{
        key: s.key, participantId: s.pid, source, trackId: byKey.get(`${s.pid}/${source}`)?.trackId ?? null,
        video: t.el.dataset.video === "true", width: Math.round(t.width * dpr), height: Math.round(t.height * dpr),
      }];
    });
  }

  private reportVisible(): void {
    if (!this.opts.onVisible) return;
    const v = this.visibleTiles();
    const sig = JSON.stringify(v);
    if (sig === this.visibleSig) return;
    this.visibleSig = sig;
    this.opts.onVisible(v);
  }

  // react shows a reaction over the sender's tile; false when they have no
  // tile on screen (the page shows it elsewhere).
  react(pid: string, emoji: string): boolean {
    const t = this.tiles.get(pid);
    if (!t) return false;
    t.react(emoji);
    return true;
  }

  destroy(): void {
    this.observer.disconnect();
    for (const a of this.audios.values()) {
      speakerOut.detach(a);
      a.srcObject = null;
    }
  }
}

// stripWidth is the sidebar column's width: a fifth of the stage, within reason.
function stripWidth(w: number): number {
  return Math.round(Math.min(320, Math.max(160, w * 0.2)));
}

function sideCapacity(w: number, h: number): number {
  const th = (stripWidth(w) * 9) / 16;
  return Math.max(2, Math.min(8, Math.floor((h + GAP) / (th + GAP))));
}
