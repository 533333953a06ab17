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

export interface Modal {
  el: HTMLElement;
  close(): void;
}

// openModal shows an in-app dialog around content (a settings form, a
// link to share) with a title and a close button; Escape, the backdrop and
// the button close it. Focus stays inside while it is open and comes back
// where it was. onClose runs once, however it closes.
export function openModal(opts: { title: string; content: HTMLElement; className?: string; onClose?: () => void }): Modal {
  const before = document.activeElement as HTMLElement | null;
  const titleId = `dlg-${Math.random().toString(36).slice(2)}`;
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    document.removeEventListener("keydown", onKey, true);
    backdrop.remove();
    opts.onClose?.();
    before?.focus?.();
  };
  const closeBtn = h("button.icon-btn.dialog-close", { type: "button", "aria-label": "Close", title: "Close", onclick: close }, "✕");
  const box = h(`div.dialog${opts.className ? "." + opts.className : ""}` as "div.x", { role: "dialog", "aria-modal": "true", "aria-labelledby": titleId },
    h("div.dialog-head", {}, h("h2", { id: titleId }, opts.title), closeBtn),
    opts.content,
  );
  const backdrop = h("div.dialog-backdrop", { onclick: (e: Event) => e.target === backdrop && close() }, box);
  const focusables = () => [...box.querySelectorAll<HTMLElement>("button, select, input, textarea, a[href], [tabindex]")].filter((x) => !x.hasAttribute("disabled") && !x.hidden);
  const onKey = (e: KeyboardEvent) => {
    if (e.key === "Escape") {
      e.preventDefault();
      close();
    }
    if (e.key === "Tab") {
      const all = focusables();
      if (!all.length) return;
      const i = all.indexOf(document.activeElement as HTMLElement);
      e.preventDefault();
      all[(i + (e.shiftKey ? all.length - 1 : 1) + all.length) % all.length].focus();
    }
  };
  document.addEventListener("keydown", onKey, true);
  document.body.append(backdrop);
  (focusables().find((x) => x !== closeBtn) ?? closeBtn).focus();
  return { el: box, close };
}
