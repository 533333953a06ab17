import { h } from "./dom";
import { icon } from "./icons";
import { openModal, type Modal } from "./dialog";

// Sharing a meeting: its link, a copy button and the system's share sheet
// where there is one (phones, Safari, Chromium on some systems).

export const joinLink = (code: string) => `${location.origin}/${code}`;

// freshKey marks a meeting this tab just created, so that its meeting page
// says "Your meeting's ready" once.
const freshKey = (code: string) => `veet:fresh:${code}`;
export function markFresh(code: string): void { sessionStorage.setItem(freshKey(code), "1"); }
export function takeFresh(code: string): boolean {
  const was = sessionStorage.getItem(freshKey(code)) === "1";
  sessionStorage.removeItem(freshKey(code));
  return was;
}

// shareBox is the link with its buttons; status says what happened.
export function shareBox(code: string): HTMLElement {
  const url = joinLink(code);
  const status = h("span.share-status", { role: "status" });
  const copy = h("button.icon-btn.copy-btn", {
    type: "button", "aria-label": "Copy meeting link", title: "Copy meeting link",
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(url);
        status.textContent = "Copied";
      } catch {
        status.textContent = "Select the link and copy it";
      }
    },
  }, icon("copy"));
  const nav = navigator as Navigator & { share?: (d: ShareData) => Promise<void> };
  const share = nav.share
    ? h("button.outline-btn.small", {
      type: "button",
      onclick: () => void nav.share!({ title: "Join my veet meeting", url }).catch(() => {}),
    }, icon("share"), "Share")
    : null;
  return h("div.share-box", {},
    h("div.share-link", {}, h("input.share-url", { type: "text", readonly: true, value: url, "aria-label": "Meeting link", onfocus: (e: Event) => (e.target as HTMLInputElement).select() }), copy),
    h("div.share-actions", {}, share, status),
  );
}

// readyCard is Meet's "Your meeting's ready": bottom left, over the call,
// for the host of a meeting just created.
export function readyCard(code: string, onClose: () => void): HTMLElement {
  const card: HTMLElement = h("section.ready-card", { role: "dialog", "aria-label": "Your meeting's ready" },
    h("div.dialog-head", {}, h("h2", {}, "Your meeting's ready"),
      h("button.icon-btn", { type: "button", "aria-label": "Close", title: "Close", onclick: () => { card.remove(); onClose(); } }, icon("close"))),
    h("p.muted", {}, "Share this meeting link with others you want in the meeting"),
    shareBox(code),
    h("p.hint", {}, "People using this meeting link will ask to join; you let them in."),
  );
  return card;
}

// laterDialog is the joining info of a meeting created for later, on the
// home page.
export function laterDialog(code: string, onJoin: () => void): Modal {
  let m: Modal;
  const content = h("div.later", {},
    h("p.muted", {}, "Send this link to the people you want to meet with. Save it so you can use it later, too."),
    shareBox(code),
    h("div.dialog-actions", {}, h("button.primary-btn", { type: "button", onclick: () => { m.close(); onJoin(); } }, "Join now")),
  );
  m = openModal({ title: "Here's your joining info", content, className: "later-dialog" });
  return m;
}
