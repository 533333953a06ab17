import type { App } from "../app";
import type { MeetingClient } from "../../client/meeting";
import type { Preview } from "../preview";
import { h } from "../dom";

// The wait after knocking: the camera preview stays up, as in Meet.
export function lobbyPage(_app: App, client: MeetingClient, preview: Preview) {
  const video = h("video.preview-video", { autoplay: true, playsInline: true, muted: true, "aria-label": "Your camera preview" });
  video.srcObject = preview.stream;
  video.hidden = !preview.tracks.camera;
  const cancel = h("button.outline-btn", {
    type: "button",
    onclick: () => {
      cancel.disabled = true;
      void client.leave();
    },
  }, "Cancel");
  const el = h("main.page.prejoin.lobby-wait", {},
    h("header.topbar", {}, h("span.logo", {}, h("span.logo-mark", { "aria-hidden": "true" }), "veet")),
    h("div.prejoin-body", {},
      h("section.preview", {}, h("div.preview-frame", {}, video)),
      h("section.ready", { role: "status" },
        h("h1", {}, "Asking to be let in…"),
        h("div.spinner", { "aria-hidden": "true" }),
        h("p.muted", {}, "You'll join the meeting when someone lets you in."),
        cancel,
      ),
    ),
  );
  return { el };
}
