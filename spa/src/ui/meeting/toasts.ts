import { h } from "../dom";

// Toasts are Meet's snackbars: short notices at the bottom left, announced
// to screen readers through a polite live region.
export class Toasts {
  readonly el = h("div.toasts", { role: "status", "aria-live": "polite" });

  show(text: string, kind = "", ms = 5000): void {
    const t = h("div.toast", kind ? { "data-kind": kind } : {}, text);
    this.el.append(t);
    setTimeout(() => t.remove(), ms);
  }
}
