import { h } from "./dom";

export interface DialogAction<T> {
  label: string;
  value: T;
  kind?: "primary" | "danger" | "plain";
}

// choose shows an in-app dialog (the browser's confirm() blocks the page,
// cannot be styled and reads like a security warning) and resolves with the
// chosen action's value, or null when it is dismissed (Escape, the
// backdrop, "Cancel"). Focus goes to the first action and comes back where
// it was.
export function choose<T>(opts: { title: string; body?: string; actions: DialogAction<T>[] }): Promise<T | null> {
  return new Promise((resolve) => {
    const before = document.activeElement as HTMLElement | null;
    const titleId = `dlg-${Math.random().toString(36).slice(2)}`;
    const close = (v: T | null) => {
      document.removeEventListener("keydown", onKey, true);
      backdrop.remove();
      before?.focus?.();
      resolve(v);
    };
    const buttons = opts.actions.map((a) =>
      h(`button.${a.kind === "danger" ? "danger-btn" : a.kind === "primary" ? "primary-btn" : "outline-btn"}` as "button.x",
        { type: "button", onclick: () => close(a.value) }, a.label));
    const cancel = h("button.text-btn", { type: "button", onclick: () => close(null) }, "Cancel");
    const box = h("div.dialog", { role: "dialog", "aria-modal": "true", "aria-labelledby": titleId },
      h("h2", { id: titleId }, opts.title),
      opts.body ? h("p.muted", {}, opts.body) : null,
      h("div.dialog-actions", {}, cancel, ...buttons),
    );
    const backdrop = h("div.dialog-backdrop", { onclick: (e: Event) => e.target === backdrop && close(null) }, box);
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") {
        e.preventDefault();
        close(null);
      }
      if (e.key === "Tab") {
        // Keep focus inside the dialog.
        const all = [cancel, ...buttons];
        const i = all.indexOf(document.activeElement as HTMLButtonElement);
        e.preventDefault();
        all[(i + (e.shiftKey ? all.length - 1 : 1)) % all.length].focus();
      }
    };
    document.addEventListener("keydown", onKey, true);
    document.body.append(backdrop);
    buttons[0]?.focus();
  });
}
