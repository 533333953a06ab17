import type { LocalTracks } from "../client/media";
import { cameraCapture } from "../client/layers";

// Preview owns the local camera and microphone from the pre-join page on:
// it opens the devices the person chose, and hands the same tracks to the
// meeting so joining does not blink the camera.
export class Preview {
  tracks: LocalTracks = { microphone: null, camera: null };
  micDeviceId = "";
  camDeviceId = "";
  error = "";
  readonly stream = new MediaStream();

  async open(wantMic: boolean, wantCam: boolean): Promise<void> {
    this.error = "";
    const problems: string[] = [];
    if (wantMic) await this.openMic().catch((e: Error) => problems.push(`microphone (${e.name || e.message})`));
    if (wantCam) await this.openCam().catch((e: Error) => problems.push(`camera (${e.name || e.message})`));
    if (problems.length) this.error = `Can't use your ${problems.join(" or ")}. Check the browser's permissions.`;
  }

  async openMic(deviceId = this.micDeviceId): Promise<MediaStreamTrack> {
    const s = await navigator.mediaDevices.getUserMedia({
      audio: deviceId ? { deviceId: { exact: deviceId } } : { echoCancellation: true, noiseSuppression: true },
    });
    const t = s.getAudioTracks()[0];
    this.swap("microphone", t);
    return t;
  }

  async openCam(deviceId = this.camDeviceId): Promise<MediaStreamTrack> {
    const s = await navigator.mediaDevices.getUserMedia({
      // The top simulcast layer's size: the lower layers are scaled from it.
      video: { width: { ideal: cameraCapture.width }, height: { ideal: cameraCapture.height }, frameRate: { ideal: cameraCapture.frameRate }, ...(deviceId ? { deviceId: { exact: deviceId } } : {}) },
    });
    const t = s.getVideoTracks()[0];
    this.swap("camera", t);
    return t;
  }

  // getCamera reopens the camera when it is turned back on in the meeting.
  getCamera(): Promise<MediaStreamTrack> {
    return this.openCam();
  }

  closeCam(): void {
    this.tracks.camera?.stop();
    if (this.tracks.camera) this.stream.removeTrack(this.tracks.camera);
    this.tracks.camera = null;
  }

  async devices(): Promise<{ mics: MediaDeviceInfo[]; cams: MediaDeviceInfo[]; speakers: MediaDeviceInfo[] }> {
    const all = await navigator.mediaDevices.enumerateDevices().catch(() => [] as MediaDeviceInfo[]);
    return {
      mics: all.filter((d) => d.kind === "audioinput"),
      cams: all.filter((d) => d.kind === "videoinput"),
      speakers: all.filter((d) => d.kind === "audiooutput"),
    };
  }

  stop(): void {
    this.tracks.microphone?.stop();
    this.tracks.camera?.stop();
    this.tracks.screen?.stop();
  }

  private swap(kind: "microphone" | "camera", t: MediaStreamTrack): void {
    const old = this.tracks[kind];
    if (old && old !== t) {
      old.stop();
      this.stream.removeTrack(old);
    }
    this.tracks[kind] = t;
    this.stream.addTrack(t);
    const id = t.getSettings().deviceId;
    if (id) {
      if (kind === "microphone") this.micDeviceId = id;
      else this.camDeviceId = id;
    }
  }
}
