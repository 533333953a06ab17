import type { Shell } from "../shell";
import type { MeetingClient } from "../../client/meeting";
import type { Preview } from "../preview";
import { h } from "../dom";
import { toggleButton } from "../meeting/controls";

// After this long without an answer, the wait says so plainly.
const LONG_WAIT_MS = 60_000;

// The wait after knocking: the camera preview stays up, as in Meet, with
// the microphone and camera toggles, and a message that says whether anyone
// can let you in (and, after a while, that nobody has yet).
export function lobbyPage(_app: Shell, client: MeetingClient, preview: Preview) {
  const video = h("video.preview-video", { autoplay: true, playsInline: true, muted: true, "aria-label": "Your camera preview" });
  video.srcObject = preview.stream;
  const cancel = h("button.outline-btn", {
    type: "button",
    onclick: () => {
      cancel.disabled = true;
      void client.leave();
    },
  }, "Cancel");
  const note = h("p.muted.lobby-note", { "aria-live": "polite" });
  const micBtn = toggleButton("mic", "micOff", "microphone", () => {
    client.micOn = !client.micOn;
    if (preview.tracks.microphone) preview.tracks.microphone.enabled = client.micOn;
    refresh();
  });
  const camBtn = toggleButton("cam", "camOff", "camera", async () => {
    if (client.camOn) {
      preview.closeCam();
      client.camOn = false;
    } else {
      await preview.openCam().catch(() => {});
      client.camOn = !!preview.tracks.camera;
    }
    video.srcObject = preview.stream;
    refresh();
  });
  const since = Date.now();
  function refresh() {
    micBtn.set(client.micOn);
    camBtn.set(client.camOn);
    video.hidden = !client.camOn || !preview.tracks.camera;
    const p = client.phase;
    const mods = p.kind === "lobby" ? p.moderators : 1;
    if (mods === 0) note.textContent = "No one in the meeting can let you in yet. You'll be let in when a host arrives.";
    else if (Date.now() - since >= LONG_WAIT_MS) note.textContent = "No one has let you in yet. You can keep waiting, or try again later.";
    else note.textContent = "You'll join the meeting when someone lets you in.";
  }
  const timer = setInterval(refresh, 5000);
  const unsub = client.on("phase", refresh);
  refresh();
  const el = h("main.page.prejoin.lobby-wait", {},
    h("header.topbar", {}, h("span.logo", {}, h("span.logo-mark", { "aria-hidden": "true" }), "veet")),
    h("div.prejoin-body", {},
      h("section.preview", {}, h("div.preview-frame", {}, video, h("div.preview-controls", {}, micBtn.el, camBtn.el))),
      h("section.ready", { role: "status" },
        h("h1", {}, "Asking to be let in…"),
        h("div.spinner", { "aria-hidden": "true" }),
        note,
        cancel,
      ),
    ),
  );
  return { el, cleanup: () => { clearInterval(timer); unsub(); } };
}
