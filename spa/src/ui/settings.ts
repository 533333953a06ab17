import type { Preview } from "./preview";
import { clear, h } from "./dom";
import { openModal, type Modal } from "./dialog";
import { canPickSpeaker, MicMeter, speaker, testTone } from "./audio";

// What the settings dialog works on: the preview's devices, and, in a
// call, the meeting that sends them.
export interface DeviceOwner {
  preview: Preview;
  micOn(): boolean;
  camOn(): boolean;
  // A device was switched: the new track is in preview.tracks; a meeting
  // replaces its sender's track (no renegotiation).
  switched?(source: "microphone" | "camera", track: MediaStreamTrack): Promise<void>;
}

// openSettings is Meet's settings dialog, before and during a call: the
// microphone with a live level meter, the speakers (with a test sound),
// the camera with a preview. A choice applies at once.
export function openSettings(o: DeviceOwner, onClose?: () => void): Modal {
  const p = o.preview;
  const meter = new MicMeter();
  const mic = h("select.device-select", { "aria-label": "Microphone" });
  const spk = h("select.device-select", { "aria-label": "Speakers" });
  const cam = h("select.device-select", { "aria-label": "Camera" });
  const video = h("video.settings-video", { autoplay: true, playsInline: true, muted: true, "aria-label": "Camera preview" });
  const status = h("p.form-error", { role: "alert" });
  const showVideo = () => {
    const t = o.camOn() ? p.tracks.camera : null;
    video.srcObject = t ? new MediaStream([t]) : null;
    video.hidden = !t;
  };

  const fill = async () => {
    const { mics, cams, speakers } = await p.devices();
    const put = (sel: HTMLSelectElement, list: MediaDeviceInfo[], current: string, kind: string) => {
      clear(sel);
      list.forEach((d, i) => sel.append(h("option", { value: d.deviceId }, d.label || `${kind} ${i + 1}`)));
      if (current && list.some((d) => d.deviceId === current)) sel.value = current;
      sel.disabled = list.length === 0;
    };
    put(mic, mics, p.micDeviceId, "Microphone");
    put(cam, cams, p.camDeviceId, "Camera");
    put(spk, speakers, speaker.id || "default", "Speaker");
  };

  mic.addEventListener("change", async () => {
    status.textContent = "";
    try {
      const t = await p.openMic(mic.value);
      t.enabled = o.micOn();
      await o.switched?.("microphone", t);
      meter.watch(t);
    } catch (e) {
      status.textContent = `Can't use that microphone (${(e as Error).name || (e as Error).message}).`;
    }
  });
  cam.addEventListener("change", async () => {
    status.textContent = "";
    if (!o.camOn()) {
      p.camDeviceId = cam.value; // used when the camera is turned on
      return;
    }
    try {
      const t = await p.openCam(cam.value);
      await o.switched?.("camera", t);
      showVideo();
    } catch (e) {
      status.textContent = `Can't use that camera (${(e as Error).name || (e as Error).message}).`;
    }
  });
  spk.addEventListener("change", () => void speaker.set(spk.value));

  const content = h("div.settings", {},
    h("section.settings-section", { "aria-label": "Audio" },
      h("h3", {}, "Audio"),
      h("label.settings-row", {}, h("span", {}, "Microphone"), mic),
      meter.el,
      canPickSpeaker
        ? h("div.settings-row", {},
          h("label.settings-row", {}, h("span", {}, "Speakers"), spk),
          h("button.outline-btn.small", { type: "button", onclick: () => void testTone() }, "Test"))
        : h("p.hint", {}, "This browser plays sound on the system's speakers."),
    ),
    h("section.settings-section", { "aria-label": "Video" },
      h("h3", {}, "Video"),
      h("label.settings-row", {}, h("span", {}, "Camera"), cam),
      video,
    ),
    status,
  );
  const onDevices = () => void fill();
  navigator.mediaDevices?.addEventListener?.("devicechange", onDevices);
  const modal = openModal({
    title: "Settings",
    content,
    className: "settings-dialog",
    onClose: () => {
      meter.stop();
      video.srcObject = null;
      navigator.mediaDevices?.removeEventListener?.("devicechange", onDevices);
      onClose?.();
    },
  });
  void fill();
  meter.watch(p.tracks.microphone ?? null);
  showVideo();
  return modal;
}
