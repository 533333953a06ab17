import type { MeetingClient } from "../../client/meeting";
import type { Participant } from "../../client/protocol";
import { clear, colorFor, h, initials, roleLabel } from "../dom";
import { icon } from "../icons";
import { choose } from "../dialog";

// PeoplePanel is the side panel: who is in the meeting, who is waiting, and
// for hosts and co-hosts the moderation actions. It is rebuilt when what it
// shows changes (not for the room's other news, such as who speaks, which
// would replace a button under the pointer); focus is put back on the same
// control.
export class PeoplePanel {
  readonly el = h("aside.side-panel.people-panel", { "aria-label": "People", hidden: true });
  private body = h("div.panel-body");
  // The participant whose "more actions" menu is open, kept across re-renders.
  private menuFor: string | null = null;
  // What the last render showed, to skip one that would show the same.
  private shown = "";

  constructor(private readonly client: MeetingClient, onClose: () => void) {
    this.el.append(
      h("div.panel-head", {}, h("h2", {}, "People"), h("button.icon-btn", { type: "button", "aria-label": "Close people panel", onclick: onClose }, icon("close"))),
      this.body,
    );
  }

  get open(): boolean {
    return !this.el.hidden;
  }

  render(): void {
    if (this.el.hidden) {
      this.shown = "";
      return;
    }
    const c = this.client;
    const room = c.room;
    const mod = c.isModerator;
    const key = JSON.stringify([mod, c.isHost, room.locked, this.menuFor, c.you?.id, [...room.lobby.values()], room.sortedParticipants()]);
    if (key === this.shown) return;
    this.shown = key;
    const focusKey = (document.activeElement as HTMLElement | null)?.dataset?.focusKey;
    clear(this.body);

    if (mod) {
      this.body.append(
        h("div.host-controls", {},
          h("label.switch-row", {},
            h("span", {}, icon("lock"), "Lock meeting"),
            h("input", { type: "checkbox", role: "switch", "aria-label": "Lock meeting", checked: room.locked, "data-focus-key": "lock", onchange: (e: Event) => void c.lock((e.target as HTMLInputElement).checked) }),
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
        ),
      );
    }

    if (mod && room.lobby.size > 0) {
      const guests = [...room.lobby.values()].sort((a, b) => a.knockedAt - b.knockedAt);
      this.body.append(
        h("section.lobby-section", { "aria-label": "Waiting to join" },
          h("div.section-head", {},
            h("h3", {}, `Waiting to join (${guests.length})`),
            h("button.text-btn", { type: "button", "data-focus-key": "admitall", onclick: () => void c.admitAll() }, "Admit all"),
          ),
          h("ul.person-list", {}, ...guests.map((g) =>
            h("li.person.guest", { "data-guest": g.id },
              h("span.avatar.small", { style: `background:${colorFor(g.id)}` }, initials(g.name)),
              h("span.person-name", {}, g.name),
              h("button.text-btn", { type: "button", "aria-label": `Deny ${g.name}`, "data-focus-key": `deny-${g.id}`, onclick: () => void c.deny(g.id) }, "Deny"),
              h("button.text-btn.strong", { type: "button", "aria-label": `Admit ${g.name}`, "data-focus-key": `admit-${g.id}`, onclick: () => void c.admit(g.id) }, "Admit"),
            ),
          )),
        ),
      );
    }

    const people = room.sortedParticipants();
    this.body.append(
      h("section", { "aria-label": "In the meeting" },
        h("div.section-head", {}, h("h3", {}, `In the meeting (${people.length})`)),
        h("ul.person-list", {}, ...people.map((p) => this.row(p, mod))),
      ),
    );
    if (focusKey) this.body.querySelector<HTMLElement>(`[data-focus-key="${CSS.escape(focusKey)}"]`)?.focus();
  }

  private row(p: Participant, mod: boolean): HTMLElement {
    const c = this.client;
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
        menu = h("div.person-menu", { role: "group", "aria-label": `Actions for ${n}` },
          c.isHost ? h("button.menu-item", { type: "button", "data-focus-key": `role-${p.id}`, onclick: () => { this.menuFor = null; void c.setRole(p.id, promote ? "cohost" : "participant"); } }, promote ? `Make ${n} a co-host` : `Remove ${n} as co-host`) : null,
          h("button.menu-item.danger", {
            type: "button", "data-focus-key": `remove-${p.id}`,
            onclick: async () => {
              this.menuFor = null;
              this.render();
              const ok = await choose({ title: `Remove ${n} from the meeting?`, body: "They can't join this meeting again.", actions: [{ label: "Remove", value: true, kind: "danger" }] });
              if (ok) await c.remove(p.id);
            },
          }, `Remove ${n} from the meeting`),
        );
      }
    } else {
      actions.push(h("span.state-icon", { "aria-label": p.micOn ? "Microphone on" : "Microphone off", role: "img" }, icon(p.micOn ? "mic" : "micOff")));
    }
    return h("li.person", { "data-participant": p.id },
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
