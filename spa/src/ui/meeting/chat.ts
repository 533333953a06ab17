import type { MeetingClient } from "../../client/meeting";
import type { ChatMessage } from "../../client/protocol";
import { RequestError } from "../../client/signaling";
import { h } from "../dom";
import { icon } from "../icons";

// The server's limit on a message, in bytes of its JSON (PROTOCOL.md, Chat).
const MAX_BYTES = 1000;
// Messages from one person within this long share one heading, as in Meet.
const GROUP_MS = 60_000;

// jsonBytes is what the server counts: UTF-8 bytes, with <, >, & and the
// line separators costing six (\u003c) and a line break two (\n).
function jsonBytes(s: string): number {
  let n = new TextEncoder().encode(s).length;
  for (const ch of s) {
    if (ch === "<" || ch === ">" || ch === "&") n += 5;
    else if (ch === "\u2028" || ch === "\u2029") n += 3;
    else if (ch === "\n" || ch === "\t" || ch === '"' || ch === "\\") n += 1;
  }
  return n;
}

// textWithLinks renders a message as text nodes, with web addresses as
// links: built with DOM calls, never parsed as HTML, so a message that says
// <img src=x onerror=…> shows exactly that.
export function textWithLinks(text: string): Node[] {
  const out: Node[] = [];
  const re = /\bhttps?:\/\/[^\s<>"']+/g;
  let at = 0;
  for (const m of text.matchAll(re)) {
    let url = m[0].replace(/[).,;:!?]+$/, "");
    const i = m.index ?? 0;
    try {
      const u = new URL(url);
      if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error("not a web address");
    } catch {
      url = "";
    }
    if (!url) continue;
    if (i > at) out.push(document.createTextNode(text.slice(at, i)));
    const a = document.createElement("a");
    a.href = url;
    a.textContent = url;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    out.push(a);
    at = i + url.length;
  }
  if (at < text.length) out.push(document.createTextNode(text.slice(at)));
  return out;
}

// ChatPanel is the in-call messages panel. It shares the side panel's place
// with People (one is open at a time). Names and text are always text.
export class ChatPanel {
  readonly el = h("aside.side-panel.chat-panel", { "aria-label": "In-call messages", hidden: true });
  private list = h("ol.chat-list", { role: "log", "aria-label": "Messages", "aria-live": "polite" });
  private earlier = h("button.text-btn.chat-earlier", { type: "button", hidden: true }, "Show earlier messages");
  private input = h("textarea.chat-input", { rows: 1, placeholder: "Send a message", "aria-label": "Send a message to everyone" });
  private send = h("button.icon-btn.chat-send", { type: "submit", "aria-label": "Send message", title: "Send message" }, icon("send"));
  private note = h("p.chat-note", { role: "status" });
  private error = h("p.form-error.chat-error", { role: "alert" });
  private setting = h("label.switch-row.chat-setting", { hidden: true });
  private els = new Map<number, HTMLElement>();
  private sending = false;
  // wanted is the host's choice on the switch until the room says so: the
  // change comes back in the node's next presence batch, and a render in
  // between must not flip the switch back.
  private wanted: boolean | null = null;

  constructor(private readonly c: MeetingClient, onClose: () => void) {
    const form = h("form.chat-form", {
      onsubmit: (e: Event) => {
        e.preventDefault();
        void this.submit();
      },
    }, this.input, this.send);
    this.input.addEventListener("keydown", (e) => {
      // Enter sends; Shift+Enter is a new line.
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        void this.submit();
      }
    });
    this.input.addEventListener("input", () => this.refreshForm());
    this.earlier.addEventListener("click", () => {
      this.earlier.disabled = true;
      void c.loadChat(c.chat.oldestId).finally(() => (this.earlier.disabled = false));
    });
    this.el.append(
      h("div.panel-head", {}, h("h2", {}, "In-call messages"), h("button.icon-btn", { type: "button", "aria-label": "Close messages", onclick: onClose }, icon("close"))),
      this.setting,
      h("p.hint.chat-hint", {}, "Messages can only be seen by people in the call and are deleted when the call ends."),
      h("div.panel-body.chat-body", {}, this.earlier, this.list),
      this.note,
      this.error,
      form,
    );
  }

  get open(): boolean {
    return !this.el.hidden;
  }

  focus(): void {
    if (!this.input.disabled) this.input.focus();
  }

  render(): void {
    const c = this.c;
    this.setting.hidden = !c.isModerator;
    if (c.isModerator && !this.setting.firstChild) {
      const sw = h("input", {
        type: "checkbox", role: "switch", "aria-label": "Let everyone send messages",
        onchange: () => {
          const want = (this.wanted = sw.checked);
          // A refused change (said by a notice) never comes back: show the
          // room's setting again after a while.
          void c.setChatEnabled(want).then(() => setTimeout(() => { if (this.wanted === want) { this.wanted = null; this.render(); } }, 3000));
        },
      });
      this.setting.append(h("span", {}, "Let everyone send messages"), sw);
    }
    const sw = this.setting.querySelector("input");
    if (this.wanted === !c.room.chatDisabled) this.wanted = null;
    if (sw) sw.checked = this.wanted ?? !c.room.chatDisabled;
    this.refreshForm();
    if (this.el.hidden) return;
    if (document.visibilityState !== "hidden") c.chat.markRead();
    const body = this.list.parentElement!;
    const atBottom = body.scrollHeight - body.scrollTop - body.clientHeight < 40;
    const msgs = c.chat.messages;
    const keep = new Set(msgs.map((m) => m.id));
    for (const [id, el] of this.els) if (!keep.has(id)) { el.remove(); this.els.delete(id); }
    let prev: ChatMessage | null = null;
    msgs.forEach((m, i) => {
      const grouped = !!prev && prev.from === m.from && m.at - prev.at < GROUP_MS;
      let el = this.els.get(m.id);
      if (!el || el.dataset.grouped !== String(grouped)) {
        const fresh = this.message(m, grouped);
        el?.replaceWith(fresh);
        el = fresh;
        this.els.set(m.id, el);
      }
      if (this.list.children[i] !== el) this.list.insertBefore(el, this.list.children[i] ?? null);
      prev = m;
    });
    this.earlier.hidden = !c.chat.more;
    if (atBottom) body.scrollTop = body.scrollHeight;
  }

  private message(m: ChatMessage, grouped: boolean): HTMLElement {
    const self = m.from === this.c.you?.id;
    const time = new Date(m.at).toLocaleTimeString([], { hour: "numeric", minute: "2-digit" });
    return h(`li.chat-msg${self ? ".self" : ""}` as "li.x", { "data-id": m.id, "data-from": m.from, "data-grouped": String(grouped) },
      grouped ? null : h("div.chat-meta", {}, h("span.chat-name", {}, self ? "You" : m.name), h("span.chat-time", {}, time)),
      h("div.chat-text", {}, ...textWithLinks(m.text)),
    );
  }

  private refreshForm(): void {
    const c = this.c;
    const off = c.room.chatDisabled && !c.isModerator;
    this.input.disabled = off;
    this.note.textContent = off ? "A host turned off chat for participants."
      : c.room.chatDisabled ? "Only hosts and co-hosts can send messages now." : "";
    this.note.hidden = !c.room.chatDisabled;
    const n = jsonBytes(this.input.value);
    const over = n > MAX_BYTES;
    if (over) this.error.textContent = "This message is too long.";
    else if (this.error.textContent === "This message is too long.") this.error.textContent = "";
    this.send.disabled = off || this.sending || !this.input.value.trim() || over;
  }

  private async submit(): Promise<void> {
    const text = this.input.value.trim();
    if (!text || this.send.disabled) return;
    this.sending = true;
    this.error.textContent = "";
    this.refreshForm();
    try {
      await this.c.sendChat(text);
      this.input.value = "";
    } catch (e) {
      const code = e instanceof RequestError ? e.code : "";
      this.error.textContent =
        code === "rate_limited" ? "You're sending messages too quickly. Wait a moment." :
          code === "forbidden" ? "A host turned off chat for participants." :
            code === "bad_request" ? `Can't send this message: ${(e as Error).message}` :
              "The message wasn't sent. Try again.";
    } finally {
      this.sending = false;
      this.refreshForm();
      this.input.focus();
    }
  }
}
