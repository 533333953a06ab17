import type { Shell } from "../shell";
import type { Phase } from "../../client/meeting";
import { h } from "../dom";

const texts: Record<string, { title: string; body: string; rejoin: boolean }> = {
  left: { title: "You left the meeting", body: "", rejoin: true },
  cancelled: { title: "You didn't join the meeting", body: "You cancelled your request to join.", rejoin: true },
  removed: { title: "You've been removed from the meeting", body: "A host removed you. You can't rejoin this meeting.", rejoin: false },
  replaced: { title: "You joined from another tab or device", body: "You're in this meeting somewhere else now, so this tab left it.", rejoin: true },
  banned: { title: "You can't join this meeting", body: "You were removed from this meeting by a host.", rejoin: false },
  denied: { title: "You can't join this video call", body: "Someone in the call denied your request to join.", rejoin: true },
  ended: { title: "The meeting has ended", body: "A host ended the meeting for everyone.", rejoin: false },
  failed: { title: "Can't join this meeting", body: "", rejoin: true },
};

export function endPage(app: Shell, code: string, p: Phase) {
  const t = texts[p.kind] ?? texts.failed;
  const body = p.kind === "failed" ? p.message : p.kind === "ended" && p.byYou ? "You ended the meeting for everyone." : t.body;
  const el = h("main.page.center.end-page", { "data-phase": p.kind },
    h("h1", {}, t.title),
    body ? h("p.muted", {}, body) : null,
    h("div.end-actions", {},
      t.rejoin ? h("button.outline-btn", { type: "button", onclick: () => app.rejoin(code) }, p.kind === "left" ? "Rejoin" : p.kind === "replaced" ? "Join here instead" : p.kind === "cancelled" ? "Ask to join again" : "Try again") : null,
      h("button.primary-btn", { type: "button", onclick: () => app.navigate("/"), autofocus: true }, "Return to home screen"),
    ),
  );
  return { el };
}

export function invalidCodePage(app: Shell, path: string) {
  const el = h("main.page.center.end-page", { "data-phase": "invalid" },
    h("h1", {}, "Check your meeting code"),
    h("p.muted", {}, `"${path.slice(0, 60)}" isn't a meeting code. Codes look like abc-defg-hij.`),
    h("button.primary-btn", { type: "button", onclick: () => app.navigate("/"), autofocus: true }, "Return to home screen"),
  );
  return { el };
}
