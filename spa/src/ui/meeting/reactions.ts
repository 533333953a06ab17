import type { Emoji } from "../../client/protocol";
import { h } from "../dom";

// The reactions everyone can send (events.Emojis), with the name a screen
// reader says.
export const reactions: { emoji: Emoji; label: string }[] = [
  { emoji: "💖", label: "Heart" },
  { emoji: "👍", label: "Thumbs up" },
  { emoji: "🎉", label: "Celebrate" },
  { emoji: "👏", label: "Applause" },
  { emoji: "😂", label: "Laugh" },
  { emoji: "😮", label: "Surprised" },
  { emoji: "😢", label: "Sad" },
  { emoji: "🤔", label: "Thinking" },
  { emoji: "👎", label: "Thumbs down" },
];

// ReactionBar is the row of reactions above the control bar, opened by its
// button; it stays open for more than one (as Meet's does) until closed.
export function reactionBar(send: (e: Emoji) => void) {
  return h("div.reaction-bar", { role: "toolbar", "aria-label": "Reactions", hidden: true },
    ...reactions.map((r) => h("button.reaction-btn", { type: "button", "aria-label": r.label, title: r.label, onclick: () => send(r.emoji) }, r.emoji)));
}

// ReactionFeed shows reactions of people whose tile is not on screen (a
// big meeting, another page): the emoji and the name, bottom left.
export class ReactionFeed {
  readonly el = h("div.reaction-feed", { "aria-hidden": "true" });

  show(emoji: string, name: string): void {
    const item = h("div.reaction-item", {}, h("span.reaction-emoji", {}, emoji), h("span.reaction-name", {}, name));
    this.el.append(item);
    while (this.el.children.length > 6) this.el.firstElementChild?.remove();
    setTimeout(() => item.remove(), 3000);
  }
}
