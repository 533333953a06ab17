import type { Participant } from "../../client/protocol";
import { colorFor, h, initials, roleLabel } from "../dom";
import { icon } from "../icons";

// Tile is one person (or one screen share) on the stage. It is kept across
// renders and updated in place, so its <video> keeps playing.
export class Tile {
  readonly el: HTMLElement;
  private video: HTMLVideoElement;
  private avatar: HTMLElement;
  private name: HTMLElement;
  private away: HTMLElement;
  private ring: HTMLElement;
  private role: HTMLElement;
  private mutedBadge: HTMLElement;
  private hand: HTMLElement;
  private pin: HTMLButtonElement;
  private reactions: HTMLElement;
  private track: MediaStreamTrack | null = null;
  // The size the layout gave it (CSS px).
  width = 0;
  height = 0;
  // Until the first frame is decoded the avatar stays up, so a fresh tile is
  // never an empty grey box.
  private hasFrame = false;

  constructor(readonly key: string, self: boolean, onPin: (key: string) => void) {
    this.video = h("video.tile-video", { autoplay: true, playsInline: true, muted: true });
    if (self) this.video.classList.add("mirror");
    this.video.addEventListener("loadeddata", () => {
      this.hasFrame = true;
      this.showFrame();
    });
    this.avatar = h("div.avatar");
    this.role = h("span.tile-role");
    this.name = h("span.tile-name-text");
    this.mutedBadge = h("span.tile-badge.muted-badge", { title: "Microphone off", "aria-label": "Microphone off", role: "img" }, icon("micOff"));
    this.hand = h("span.tile-badge.hand-badge", { title: "Hand raised", "aria-label": "Hand raised", role: "img" }, icon("hand"));
    this.away = h("div.tile-away", { hidden: true }, h("span.spinner.small", { "aria-hidden": "true" }), "Reconnecting…");
    // The speaking ring is its own layer above the video, so that it shows
    // on a tile with video too.
    this.ring = h("div.tile-ring", { "aria-hidden": "true" });
    // Pinning is on the tile, as in Meet: shown on hover and focus.
    this.pin = h("button.tile-pin", { type: "button", onclick: () => onPin(key) }, icon("pin"));
    this.reactions = h("div.tile-reactions", { "aria-hidden": "true" });
    this.el = h("div.tile", { "data-key": key, role: "listitem" }, this.avatar, this.video, this.away, h("div.tile-badges", {}, this.hand, this.mutedBadge), h("div.tile-name", {}, this.name, this.role), this.reactions, this.ring, this.pin);
  }

  update(p: Participant, opts: { label: string; video: MediaStreamTrack | null; speaking: boolean; screen?: boolean; pinned?: boolean }) {
    const showVideo = !!opts.video && (opts.screen || p.camOn);
    this.setTrack(showVideo ? opts.video : null);
    this.el.dataset.participant = p.id;
    this.el.dataset.video = String(showVideo);
    this.el.classList.toggle("speaking", opts.speaking && p.micOn);
    this.el.classList.toggle("screen", !!opts.screen);
    this.video.hidden = !showVideo;
    this.showFrame();
    this.avatar.textContent = initials(p.name);
    this.avatar.style.background = colorFor(p.id);
    this.name.textContent = opts.label;
    const role = opts.screen ? undefined : roleLabel[p.role];
    this.role.textContent = role ?? "";
    this.role.hidden = !role;
    const away = !!p.reconnecting && !opts.screen;
    this.away.hidden = !away;
    this.el.classList.toggle("reconnecting", away);
    this.el.setAttribute("aria-label", `${opts.label}${role ? `, ${role}` : ""}${away ? ", reconnecting" : ""}${p.micOn || opts.screen ? "" : ", microphone off"}${showVideo ? "" : ", camera off"}`);
    this.mutedBadge.hidden = p.micOn || !!opts.screen;
    this.hand.hidden = !p.handRaised || !!opts.screen;
    const pinLabel = `${opts.pinned ? "Unpin" : "Pin"} ${opts.label}`;
    this.pin.setAttribute("aria-label", pinLabel);
    this.pin.title = pinLabel;
    this.pin.setAttribute("aria-pressed", String(!!opts.pinned));
    this.el.classList.toggle("pinned", !!opts.pinned);
  }

  // react floats an emoji up over the tile for a few seconds.
  react(emoji: string): void {
    const r = h("span.tile-reaction", {}, emoji);
    r.style.left = `${20 + Math.random() * 60}%`;
    this.reactions.append(r);
    setTimeout(() => r.remove(), 3000);
  }

  private showFrame() {
    this.avatar.hidden = !this.video.hidden && this.hasFrame;
  }

  private setTrack(t: MediaStreamTrack | null) {
    if (this.track === t) return;
    this.track = t;
    this.hasFrame = false;
    this.video.srcObject = t ? new MediaStream([t]) : null;
    if (t) this.video.play().catch(() => {});
  }

  size(w: number, hgt: number) {
    this.width = w;
    this.height = hgt;
    this.el.style.width = `${w}px`;
    this.el.style.height = `${hgt}px`;
  }
}
