import { h } from "../dom";

// Toasts are Meet's snackbars: short notices at the bottom left, announced
// to screen readers through a polite live region; one may carry an action
// ("View").
export class Toasts {
  readonly el = h("div.toasts", { role: "status", "aria-live": "polite" });

  show(text: string, kind = "", ms = 5000, action?: { label: string; run: () => void }): void {
    const t = h("div.toast", kind ? { "data-kind": kind } : {}, h("span", {}, text));
    if (action) t.append(h("button.text-btn.toast-action", { type: "button", onclick: () => { t.remove(); action.run(); } }, action.label));
    this.el.append(t);
    setTimeout(() => t.remove(), ms);
  }
}
