import type { Participant, ParticipantID, Role, Source } from "../../client/protocol";
import { clear, colorFor, h, initials, roleLabel } from "../dom";
import { icon } from "../icons";
import { choose } from "../dialog";
import { EMPTY_H, groupHeight, HEAD_H, peopleGroups, ROW_H, visibleRows, type Group, type PeopleSource, type Row } from "./peopleModel";

// What the panel asks of the meeting: the room, who you are, and the
// actions (the server checks every one; the panel only hides buttons).
export interface PeopleActions extends PeopleSource {
  admit(id: ParticipantID): Promise<void>;
  admitAll(): Promise<void>;
  deny(id: ParticipantID): Promise<void>;
  mute(id: ParticipantID, source: Source): Promise<void>;
  muteAll(): Promise<void>;
  remove(id: ParticipantID): Promise<void>;
  lock(locked: boolean): Promise<void>;
  setRole(id: ParticipantID, role: Role): Promise<void>;
  setChatEnabled(enabled: boolean): Promise<void>;
  lowerHands(id?: ParticipantID): Promise<void>;
  setHand(raised: boolean): Promise<void>;
  end(): Promise<void>;
}

// When the panel is not laid out (hidden, or a test without layout), it
// draws as if it were this tall.
const FALLBACK_VIEWPORT = 640;

// PeoplePanel is the side panel: who is waiting, whose hand is up (in
// order), who is in the meeting, a search, and for hosts and co-hosts the
// moderation actions. It draws only the rows in view (a meeting of 1,000
// is a few dozen rows in the DOM); a row is rebuilt only when what it shows
// changed, so a button does not vanish from under the pointer, and focus is
// put back on the same control.
export class PeoplePanel {
  readonly el = h("aside.side-panel.people-panel", { "aria-label": "People", hidden: true });
  private controls = h("div.host-controls");
  private search = h("input.people-search", { type: "search", placeholder: "Search for people", "aria-label": "Search for people", autocomplete: "off" });
  private scroller = h("div.panel-body.people-scroll");
  private canvas = h("div.people-canvas");
  private groups: Group[] = [];
  private sections = new Map<string, { el: HTMLElement; head: HTMLElement; list: HTMLElement; empty: HTMLElement; sig: string }>();
  private rows = new Map<string, { el: HTMLElement; sig: string }>();
  // The participant whose "more actions" menu is open, kept across renders.
  private menuFor: string | null = null;
  // Groups shown whole (the lobby after "Show all").
  private expanded = new Set<string>();
  private controlsSig = "";
  private frame = 0;

  constructor(private readonly c: PeopleActions, onClose: () => void) {
    this.search.addEventListener("input", () => this.render());
    this.scroller.addEventListener("scroll", () => {
      if (this.frame) return;
      this.frame = requestAnimationFrame(() => { this.frame = 0; this.draw(); });
    });
    this.scroller.append(this.canvas);
    this.el.append(
      h("div.panel-head", {}, h("h2", {}, "People"), h("button.icon-btn", { type: "button", "aria-label": "Close people panel", onclick: onClose }, icon("close"))),
      this.controls,
      h("label.search-field", {}, icon("search"), this.search),
      this.scroller,
    );
  }

  get open(): boolean {
    return !this.el.hidden;
  }

  // rowCount is how many rows are in the DOM now (tests, and a check that
  // the panel stays small).
  get rowCount(): number {
    return this.canvas.querySelectorAll("li").length;
  }

  render(): void {
    if (this.el.hidden) return;
    this.renderControls();
    if (this.c.room.lobby.size === 0) this.expanded.delete("lobby");
    this.groups = peopleGroups(this.c, this.search.value, this.expanded);
    this.draw();
  }

  // draw lays the groups out and puts the rows in view in the DOM.
  private draw(): void {
    const focusKey = (document.activeElement as HTMLElement | null)?.dataset?.focusKey;
    const top = this.scroller.scrollTop;
    const height = this.scroller.clientHeight || FALLBACK_VIEWPORT;
    const wanted = new Set<string>();
    const groupKeys = new Set<string>();
    let y = 0;
    for (const g of this.groups) {
      groupKeys.add(g.key);
      const sec = this.section(g);
      const gh = groupHeight(g);
      sec.el.style.top = `${y}px`;
      sec.el.style.height = `${gh}px`;
      sec.list.style.height = `${g.rows.length * ROW_H}px`;
      sec.empty.hidden = g.rows.length > 0;
      const [from, to] = visibleRows(g, y, top, height);
      const els: HTMLElement[] = [];
      for (let i = from; i < to; i++) {
        const r = g.rows[i];
        wanted.add(r.key);
        const el = this.row(r);
        el.style.top = `${i * ROW_H}px`;
        els.push(el);
      }
      // Rows out of view go; those in view stay in list order (what a
      // screen reader reads), each moved only when out of place.
      for (const child of [...sec.list.children]) if (!els.includes(child as HTMLElement)) child.remove();
      els.forEach((el, i) => { if (sec.list.children[i] !== el) sec.list.insertBefore(el, sec.list.children[i] ?? null); });
      y += gh;
    }
    this.canvas.style.height = `${y}px`;
    for (const [k, r] of this.rows) if (!wanted.has(k)) { r.el.remove(); this.rows.delete(k); }
    for (const [k, s] of this.sections) if (!groupKeys.has(k)) { s.el.remove(); this.sections.delete(k); }
    // Sections in the order of the groups (moved only when out of place: a
    // moved element loses the focus inside it).
    this.groups.forEach((g, i) => {
      const el = this.sections.get(g.key)!.el;
      if (this.canvas.children[i] !== el) this.canvas.insertBefore(el, this.canvas.children[i] ?? null);
    });
    if (focusKey && (document.activeElement === document.body || !document.activeElement?.isConnected)) {
      this.el.querySelector<HTMLElement>(`[data-focus-key="${CSS.escape(focusKey)}"]`)?.focus();
    }
  }

  private section(g: Group) {
    let s = this.sections.get(g.key);
    if (!s) {
      const head = h("div.section-head");
      const list = h("ul.person-list");
      const empty = h("p.muted.people-empty", { style: `height:${EMPTY_H}px` }, "No one matches your search");
      const el = h("section.people-group", { "aria-label": g.label, "data-group": g.key }, head, list, empty);
      s = { el, head, list, empty, sig: "" };
      this.sections.set(g.key, s);
    }
    const mod = this.c.isModerator;
    const sig = JSON.stringify([g.title, mod]);
    if (s.sig !== sig) {
      s.sig = sig;
      clear(s.head);
      s.head.style.height = `${HEAD_H}px`;
      s.head.append(h("h3", {}, g.title));
      if (g.key === "lobby") s.head.append(h("button.text-btn", { type: "button", "data-focus-key": "admitall", onclick: () => void this.c.admitAll() }, "Admit all"));
      if (g.key === "hands" && mod) s.head.append(h("button.text-btn", { type: "button", "data-focus-key": "lowerall", onclick: () => void this.c.lowerHands() }, "Lower all"));
    }
    return s;
  }

  private renderControls(): void {
    const c = this.c;
    const room = c.room;
    const sig = JSON.stringify([c.isModerator, room.locked, room.chatDisabled]);
    if (sig === this.controlsSig) return;
    this.controlsSig = sig;
    clear(this.controls);
    this.controls.hidden = !c.isModerator;
    if (!c.isModerator) return;
    this.controls.append(
      h("label.switch-row", {},
        h("span", {}, icon("lock"), "Lock meeting"),
        h("input", { type: "checkbox", role: "switch", "aria-label": "Lock meeting", checked: room.locked, "data-focus-key": "lock", onchange: (e: Event) => void c.lock((e.target as HTMLInputElement).checked) }),
      ),
      h("label.switch-row", {},
        h("span", {}, icon("chat"), "Let everyone send messages"),
        h("input", { type: "checkbox", role: "switch", "aria-label": "Let everyone send messages", checked: !room.chatDisabled, "data-focus-key": "chat", onchange: (e: Event) => void c.setChatEnabled((e.target as HTMLInputElement).checked) }),
      ),
      h("div.row-actions", {},
        h("button.outline-btn.small", { type: "button", "data-focus-key": "muteall", onclick: () => void c.muteAll() }, "Mute all"),
        h("button.danger-btn.small", {
          type: "button", "data-focus-key": "end",
          onclick: async () => {
            const ok = await choose({ title: "End the meeting for everyone?", body: "Everyone, and everyone waiting to join, leaves the call.", actions: [{ label: "End meeting", value: true, kind: "danger" }] });
            if (ok) await c.end();
          },
        }, "End meeting for all"),
      ),
    );
  }

  // row returns the element of a row, built again only when what it shows
  // changed.
  private row(r: Row): HTMLElement {
    const mod = this.c.isModerator;
    const youId = this.c.you?.id;
    const sig = JSON.stringify([r, mod, this.c.isHost, youId, r.kind === "person" && this.menuFor === r.p.id]);
    const had = this.rows.get(r.key);
    if (had && had.sig === sig) return had.el;
    const el = r.kind === "guest" ? this.guestRow(r.g) : r.kind === "hand" ? this.handRow(r.p, r.place)
      : r.kind === "more" ? this.moreRow(r.group, r.hidden) : this.personRow(r.p);
    el.dataset.key = r.key;
    if (had) had.el.replaceWith(el);
    this.rows.set(r.key, { el, sig });
    return el;
  }

  private guestRow(g: { id: string; name: string }): HTMLElement {
    const c = this.c;
    return h("li.person.guest", { "data-guest": g.id },
      h("span.avatar.small", { style: `background:${colorFor(g.id)}` }, initials(g.name)),
      h("span.person-name", {}, g.name),
      h("button.text-btn", { type: "button", "aria-label": `Deny ${g.name}`, "data-focus-key": `deny-${g.id}`, onclick: () => void c.deny(g.id) }, "Deny"),
      h("button.text-btn.strong", { type: "button", "aria-label": `Admit ${g.name}`, "data-focus-key": `admit-${g.id}`, onclick: () => void c.admit(g.id) }, "Admit"),
    );
  }

  private moreRow(group: string, hidden: number): HTMLElement {
    return h("li.person.more-row", {},
      h("button.text-btn", { type: "button", "data-focus-key": `more-${group}`, onclick: () => { this.expanded.add(group); this.render(); } }, `Show all (${hidden} more)`));
  }

  private handRow(p: Participant, place: number): HTMLElement {
    const c = this.c;
    const self = p.id === c.you?.id;
    const lower = self
      ? h("button.text-btn", { type: "button", "aria-label": "Lower your hand", "data-focus-key": `lower-${p.id}`, onclick: () => void c.setHand(false) }, "Lower")
      : c.isModerator
        ? h("button.text-btn", { type: "button", "aria-label": `Lower ${p.name}'s hand`, "data-focus-key": `lower-${p.id}`, onclick: () => void c.lowerHands(p.id) }, "Lower")
        : null;
    return h("li.person.hand-row", { "data-participant": p.id, "data-place": place },
      h("span.hand-place", { "aria-label": `Number ${place}` }, String(place)),
      h("span.avatar.small", { style: `background:${colorFor(p.id)}` }, initials(p.name)),
      h("span.person-text", {}, h("span.person-name", {}, self ? `${p.name} (You)` : p.name), h("span.person-role", {}, since(p.handRaisedAt))),
      lower,
    );
  }

  private personRow(p: Participant): HTMLElement {
    const c = this.c;
    const mod = c.isModerator;
    const self = p.id === c.you?.id;
    const actions: HTMLElement[] = [];
    let menu: HTMLElement | null = null;
    if (mod && !self && p.role !== "host") {
      const n = p.name;
      actions.push(
        h("button.icon-btn", { type: "button", "aria-label": p.micOn ? `Mute ${n}'s microphone` : `${n}'s microphone is off`, title: p.micOn ? "Mute microphone" : "Microphone is off", disabled: !p.micOn, "data-focus-key": `mute-${p.id}`, onclick: () => void c.mute(p.id, "microphone") }, icon(p.micOn ? "mic" : "micOff")),
        h("button.icon-btn", { type: "button", "aria-label": p.camOn ? `Stop ${n}'s camera` : `${n}'s camera is off`, title: p.camOn ? "Stop camera" : "Camera is off", disabled: !p.camOn, "data-focus-key": `cam-${p.id}`, onclick: () => void c.mute(p.id, "camera") }, icon(p.camOn ? "cam" : "camOff")),
      );
      const menuOpen = this.menuFor === p.id;
      actions.push(h("button.icon-btn", {
        type: "button", "aria-label": `More actions for ${n}`, title: "More actions", "aria-expanded": String(menuOpen),
        "data-focus-key": `more-${p.id}`,
        onclick: () => { this.menuFor = menuOpen ? null : p.id; this.render(); },
      }, icon("more")));
      if (menuOpen) {
        const promote = p.role !== "cohost";
        const done = () => { this.menuFor = null; this.render(); };
        menu = h("div.person-menu", { role: "group", "aria-label": `Actions for ${n}` },
          c.isHost ? h("button.menu-item", { type: "button", "data-focus-key": `role-${p.id}`, onclick: () => { done(); void c.setRole(p.id, promote ? "cohost" : "participant"); } }, promote ? `Make ${n} a co-host` : `Remove ${n} as co-host`) : null,
          p.handRaised ? h("button.menu-item", { type: "button", onclick: () => { done(); void c.lowerHands(p.id); } }, `Lower ${n}'s hand`) : null,
          h("button.menu-item.danger", {
            type: "button", "data-focus-key": `remove-${p.id}`,
            onclick: async () => {
              done();
              const ok = await choose({ title: `Remove ${n} from the meeting?`, body: "They can't join this meeting again.", actions: [{ label: "Remove", value: true, kind: "danger" }] });
              if (ok) await c.remove(p.id);
            },
          }, `Remove ${n} from the meeting`),
        );
      }
    } else {
      actions.push(h("span.state-icon", { "aria-label": p.micOn ? "Microphone on" : "Microphone off", role: "img" }, icon(p.micOn ? "mic" : "micOff")));
    }
    return h(`li.person${menu ? ".menu-open" : ""}` as "li.x", { "data-participant": p.id },
      h("span.avatar.small", { style: `background:${colorFor(p.id)}` }, initials(p.name)),
      h("span.person-text", {},
        h("span.person-name", {}, self ? `${p.name} (You)` : p.name),
        roleLabel[p.role] ? h("span.person-role", {}, roleLabel[p.role]) : null,
        p.reconnecting ? h("span.person-state", {}, "Reconnecting…") : null,
      ),
      p.handRaised ? h("span.state-icon.hand", { "aria-label": "Hand raised", role: "img" }, icon("hand")) : null,
      h("span.person-actions", {}, ...actions),
      menu,
    );
  }
}

// since says how long a hand has been up, as the queue shows it.
function since(at?: number): string {
  if (!at) return "Hand raised";
  const s = Math.max(0, Math.round((Date.now() - at) / 1000));
  return s < 60 ? "Hand raised just now" : `Hand raised ${Math.floor(s / 60)} min ago`;
}
