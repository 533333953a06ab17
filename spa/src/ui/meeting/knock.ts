import type { MeetingClient } from "../../client/meeting";
import { clear, h } from "../dom";

// KnockPopup tells hosts someone is waiting, without opening the panel,
// like Meet's "Someone wants to join this call" card.
export class KnockPopup {
  readonly el = h("div.knock-popup", { role: "alertdialog", "aria-label": "Someone wants to join", hidden: true });

  constructor(private readonly client: MeetingClient, private readonly openPanel: () => void) {}

  render(panelOpen: boolean): void {
    const c = this.client;
    const guests = [...c.room.lobby.values()].sort((a, b) => a.knockedAt - b.knockedAt);
    this.el.hidden = panelOpen || !c.isModerator || guests.length === 0;
    if (this.el.hidden) return;
    clear(this.el);
    if (guests.length === 1) {
      const g = guests[0];
      this.el.append(
        h("p.knock-title", {}, "Someone wants to join this call"),
        h("p.knock-name", {}, g.name),
        h("div.knock-actions", {},
          h("button.text-btn", { type: "button", "aria-label": `Deny ${g.name}`, onclick: () => void c.deny(g.id) }, "Deny entry"),
          h("button.text-btn.strong", { type: "button", "aria-label": `Admit ${g.name}`, onclick: () => void c.admit(g.id) }, "Admit"),
        ),
      );
    } else {
      this.el.append(
        h("p.knock-title", {}, `${guests.length} people want to join this call`),
        h("div.knock-actions", {},
          h("button.text-btn", { type: "button", onclick: this.openPanel }, "View all"),
          h("button.text-btn.strong", { type: "button", onclick: () => void c.admitAll() }, "Admit all"),
        ),
      );
    }
  }
}
