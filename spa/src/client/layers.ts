// What the publish connection sends: the camera in simulcast layers, a
// presentation as one sharp layer, and which layers the media node wants
// encoded (dynacast). Pure functions of a sender's parameters, so that they
// are tested without a browser.

// The camera's layers, low to high (the order Chrome expects), by the rid
// the media node knows them by: about 320×180, 640×360 and 1280×720.
export const cameraLayers = [
  { rid: "q", height: 180, maxBitrate: 150_000 },
  { rid: "h", height: 360, maxBitrate: 500_000 },
  { rid: "f", height: 720, maxBitrate: 1_500_000 },
] as const;

// A presentation is one layer at full resolution: text must stay readable,
// and a shared screen changes little, so a high ceiling costs little.
export const screenMaxBitrate = 2_500_000;

// The capture the camera is asked for (the top layer).
export const cameraCapture = { width: 1280, height: 720, frameRate: 24 };

// A lower layer is worth encoding only when it is clearly smaller than the
// capture: a 480-line camera gets a 360 and a 180 layer, a 360-line one only
// the 180 layer below it.
const DISTINCT = 1.2;

// cameraEncodings chooses the simulcast layers for a camera capture of the
// given size (its settings; unknown: 1280×720). The top layer ("f") is the
// capture itself, down to 720 lines at most; each lower layer is kept when
// the capture is clearly larger than it. The short side counts, so a
// portrait camera gets the same layers as a landscape one.
export function cameraEncodings(capture: Capture = {}): RTCRtpEncodingParameters[] {
  const short = shortSide(capture);
  const out: RTCRtpEncodingParameters[] = [];
  for (const l of cameraLayers) {
    if (l.rid !== "f" && short < l.height * DISTINCT) continue;
    const e: RTCRtpEncodingParameters = { rid: l.rid, maxBitrate: l.maxBitrate };
    const scale = scaleFor(short, l.height);
    if (scale > 1) e.scaleResolutionDownBy = scale;
    out.push(e);
  }
  // A camera too small for a second layer sends one, without a rid.
  if (out.length === 1) delete out[0].rid;
  return out;
}

type Capture = { width?: number; height?: number };

function shortSide({ width: w = 0, height: h = 0 }: Capture): number {
  return w > 0 && h > 0 ? Math.min(w, h) : h || w || cameraCapture.height;
}

function scaleFor(short: number, height: number): number {
  return round2(Math.max(1, short / height));
}

// rescaleLayers keeps each layer at its size when the camera's track is
// replaced by one of another resolution (a device switch: the encodings,
// fixed at negotiation, scale whatever they are given). True when it
// changed something.
export async function rescaleLayers(sender: SenderLike, capture: Capture): Promise<boolean> {
  const p = sender.getParameters();
  if (p.encodings.length < 2) return false;
  const short = shortSide(capture);
  let changed = false;
  for (const e of p.encodings) {
    const l = cameraLayers.find((x) => x.rid === e.rid);
    if (!l) continue;
    const scale = scaleFor(short, l.height);
    if ((e.scaleResolutionDownBy ?? 1) !== scale) {
      e.scaleResolutionDownBy = scale;
      changed = true;
    }
  }
  if (changed) await sender.setParameters(p);
  return changed;
}

const round2 = (x: number) => Math.round(x * 100) / 100;

// SenderLike is what this file reads and writes of RTCRtpSender: enough for
// a fake in tests.
export interface SenderLike {
  getParameters(): RTCRtpSendParameters;
  setParameters(p: RTCRtpSendParameters): Promise<void>;
}

// singleLayer tells whether simulcast was refused: we asked for several
// layers and the negotiation (an answer without a=simulcast, a browser that
// cannot) left one.
export function singleLayer(sender: SenderLike, asked: RTCRtpEncodingParameters[]): boolean {
  return asked.length > 1 && sender.getParameters().encodings.length === 1;
}

// fallBackToOneLayer makes the one layer a refused simulcast leaves the top
// one: Chrome keeps the first encoding, our lowest (a quarter of the size at
// 150 kbit/s), so without this a browser or node without simulcast would
// see everyone at 320×180. True when it changed something.
export async function fallBackToOneLayer(sender: SenderLike, asked: RTCRtpEncodingParameters[]): Promise<boolean> {
  if (!singleLayer(sender, asked)) return false;
  const top = asked[asked.length - 1];
  const p = sender.getParameters();
  const e = p.encodings[0];
  const scale = top.scaleResolutionDownBy ?? 1;
  if (e.scaleResolutionDownBy === scale && e.maxBitrate === top.maxBitrate) return false;
  e.scaleResolutionDownBy = scale;
  e.maxBitrate = top.maxBitrate;
  await sender.setParameters(p);
  return true;
}

// capBitrate sets a one-layer sender's ceiling (a browser that took no
// sendEncodings at addTransceiver). True when it changed something.
export async function capBitrate(sender: SenderLike, maxBitrate: number): Promise<boolean> {
  const p = sender.getParameters();
  if (p.encodings.length !== 1 || p.encodings[0].maxBitrate === maxBitrate) return false;
  p.encodings[0].maxBitrate = maxBitrate;
  await sender.setParameters(p);
  return true;
}

// applyActiveLayers turns each encoding on or off as the node asks
// (publish_layers): a layer is encoded when its rid is listed. An empty list
// pauses every layer, nobody receives any of them. A sender with one layer
// (no simulcast: its rid, if any, the node never saw) is on when anything
// is listed. True when it changed something.
export async function applyActiveLayers(sender: SenderLike, active: readonly string[]): Promise<boolean> {
  const p = sender.getParameters();
  const one = p.encodings.length === 1;
  let changed = false;
  for (const e of p.encodings) {
    const on = one ? active.length > 0 : active.includes(e.rid ?? "");
    if (e.active !== on) {
      e.active = on;
      changed = true;
    }
  }
  if (changed) await sender.setParameters(p);
  return changed;
}
