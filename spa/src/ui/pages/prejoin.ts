import type { Shell } from "../shell";
import { lookupMeeting } from "../../client/calls";
import { guestKey } from "../../client/tokens";
import { clear, colorFor, h, initials } from "../dom";
import { icon } from "../icons";
import { Preview } from "../preview";
import { toggleButton } from "../meeting/controls";
import { openSettings } from "../settings";

const NAME_KEY = "veet:name";

export function prejoinPage(app: Shell, code: string) {
  const preview = new Preview();
  let micOn = true;
  let camOn = true;
  let gone = false;
  let abandoned = false; // the page was left without joining
  let hasToken = !!app.tokens.get(code);
  let region: string | undefined; // where the meeting lives, once looked up

  const video = h("video.preview-video", { autoplay: true, playsInline: true, muted: true, "aria-label": "Your camera preview" });
  video.srcObject = preview.stream;
  const avatar = h("div.preview-off", { hidden: true }, "Camera is off");
  const status = h("p.form-error", { role: "alert" });

  const micBtn = toggleButton("mic", "micOff", "microphone", () => {
    micOn = !micOn;
    if (preview.tracks.microphone) preview.tracks.microphone.enabled = micOn;
    if (micOn && !preview.tracks.microphone) void preview.open(true, false).then(refresh);
    refresh();
  });
  const camBtn = toggleButton("cam", "camOff", "camera", async () => {
    camOn = !camOn;
    if (!camOn) preview.closeCam();
    else await preview.openCam().catch((e: Error) => (status.textContent = `Can't use your camera (${e.name}).`));
    refresh();
  });

  const micSelect = h("select.device-select", { "aria-label": "Microphone" });
  const camSelect = h("select.device-select", { "aria-label": "Camera" });
  micSelect.addEventListener("change", () => void preview.openMic(micSelect.value).then(() => {
    if (preview.tracks.microphone) preview.tracks.microphone.enabled = micOn;
  }));
  camSelect.addEventListener("change", () => {
    if (camOn) void preview.openCam(camSelect.value).then(refresh);
    else preview.camDeviceId = camSelect.value;
  });

  // The same settings as in the call: devices, the speaker, a level meter.
  const settingsBtn = h("button.icon-btn.settings-btn", {
    type: "button", "aria-label": "Settings", title: "Settings",
    onclick: () => openSettings({ preview, micOn: () => micOn, camOn: () => camOn }, () => { refresh(); void fillDevices(); }),
  }, icon("gear"));
  const nameInput = h("input.name-input", {
    type: "text",
    placeholder: "Your name",
    "aria-label": "Your name",
    maxlength: 64,
    value: localStorage.getItem(NAME_KEY) ?? "",
    autofocus: true,
  });
  const joinBtn = h("button.primary-btn.join-btn", { type: "submit" }, hasToken ? "Join now" : "Ask to join");
  const who = h("p.muted.who-line", { "aria-live": "polite" });
  const hint = h("p.hint", { hidden: hasToken }, "A host will let you in.");
  const form = h("form.prejoin-form", {
    onsubmit: async (e: Event) => {
      e.preventDefault();
      const name = nameInput.value.trim();
      if (!name) {
        status.textContent = "Enter your name to join.";
        nameInput.focus();
        return;
      }
      localStorage.setItem(NAME_KEY, name);
      joinBtn.disabled = true;
      joinBtn.textContent = hasToken ? "Joining…" : "Asking…";
      await opening.catch(() => {});
      gone = true;
      await app.joinMeeting(code, name, micOn, camOn, preview, region);
    },
  }, nameInput, joinBtn);

  function refresh() {
    micBtn.set(micOn);
    camBtn.set(camOn);
    const showVideo = camOn && !!preview.tracks.camera;
    video.hidden = !showVideo;
    avatar.hidden = showVideo;
    avatar.style.setProperty("--avatar", colorFor(nameInput.value || "you"));
    clear(avatar);
    avatar.append(h("span.avatar.big", {}, initials(nameInput.value || "You")), h("span", {}, camOn ? "Starting camera…" : "Camera is off"));
    if (preview.error) status.textContent = preview.error;
  }
  nameInput.addEventListener("input", refresh);

  async function fillDevices() {
    const { mics, cams } = await preview.devices();
    const fill = (sel: HTMLSelectElement, list: MediaDeviceInfo[], current: string, kind: string) => {
      clear(sel);
      list.forEach((d, i) => sel.append(h("option", { value: d.deviceId }, d.label || `${kind} ${i + 1}`)));
      if (current) sel.value = current;
      sel.disabled = list.length === 0;
    };
    fill(micSelect, mics, preview.micDeviceId, "Microphone");
    fill(camSelect, cams, preview.camDeviceId, "Camera");
  }

  // Joining waits for the devices, or a quick click would join camera-less.
  const opening = preview.open(true, true).then(() => {
    // Left for another page while the browser was still asking for the
    // devices: they opened after the cleanup, so release them now.
    if (abandoned) return preview.stop();
    if (gone) return;
    if (!preview.tracks.camera) camOn = false;
    if (!preview.tracks.microphone) micOn = false;
    refresh();
    return fillDevices();
  });
  refresh();

  // Say at once what the meeting is: gone, over, locked, or who is there.
  let countdown: ReturnType<typeof setInterval> | null = null;
  const blocked = (why: string) => {
    status.textContent = why;
    joinBtn.disabled = true;
    nameInput.disabled = true;
    el.dataset.blocked = "true";
  };
  void lookupMeeting(app.config.wsUrl, code, { token: app.tokens.get(code), guest: guestKey() }).then((m) => {
    if (gone) return;
    el.dataset.status = m.status;
    region = m.region;
    if (m.status === "not_found") return blocked("This meeting doesn't exist. Check the code and try again.");
    if (m.status === "ended") {
      app.tokens.delete(code);
      return blocked("This meeting has ended.");
    }
    if (m.you === "banned") return blocked("You can't join this meeting: a host removed you from it.");
    hasToken = m.you === "host" || m.you === "cohost" || m.you === "participant";
    if (!hasToken && app.tokens.get(code)) app.tokens.delete(code); // a token the meeting no longer takes
    joinBtn.textContent = hasToken ? "Join now" : "Ask to join";
    hint.hidden = hasToken;
    if (!hasToken && m.locked) return blocked("This meeting is locked. Ask a host to unlock it.");
    if (!hasToken && m.moderators === 0) hint.textContent = m.people > 0 ? "No one in the call can let you in right now." : "No one is in the call yet to let you in.";
    const names = m.names ?? [];
    who.textContent = m.people === 0 ? "No one else is here" :
      names.length >= m.people ? `${listNames(names)} ${m.people === 1 ? "is" : "are"} in this call` :
        `${listNames(names)} and ${m.people - names.length} more are in this call`;
    if (!hasToken && m.retryAfterMs) {
      let left = Math.ceil(m.retryAfterMs / 1000);
      joinBtn.disabled = true;
      const show = () => (status.textContent = `You were turned away a moment ago. You can ask again in ${left} s.`);
      show();
      countdown = setInterval(() => {
        if (--left > 0) return show();
        if (countdown) clearInterval(countdown);
        status.textContent = "";
        joinBtn.disabled = false;
      }, 1000);
    }
  }).catch(() => {
    // The lookup is a courtesy: joining still says what is wrong.
  });

  const el = h("main.page.prejoin", {},
    h("header.topbar", {}, h("a.logo", { href: "/", onclick: (e: Event) => { e.preventDefault(); app.navigate("/"); } }, h("span.logo-mark", { "aria-hidden": "true" }), "veet")),
    h("div.prejoin-body", {},
      h("section.preview", {},
        h("div.preview-frame", {}, video, avatar, h("div.preview-controls", {}, micBtn.el, camBtn.el)),
        h("div.devices", {}, h("label", {}, icon("mic"), micSelect), h("label", {}, icon("cam"), camSelect), settingsBtn),
      ),
      h("section.ready", {},
        h("h1", {}, "Ready to join?"),
        h("p.muted.code-line", {}, code),
        who,
        form,
        status,
        hint,
      ),
    ),
  );
  return {
    el,
    cleanup: () => {
      if (countdown) clearInterval(countdown);
      if (!gone) {
        abandoned = true;
        preview.stop();
      }
    },
  };
}

// listNames says "Ada", "Ada and Grace", "Ada, Grace and Alan".
function listNames(names: string[]): string {
  if (names.length <= 1) return names.join("");
  return `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
}
