import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { MeetingClient } from "../src/client/meeting";
import { memoryTokens } from "../src/client/tokens";
import { FakeSocket } from "./fakes";
import type { Participant } from "../src/client/protocol";

// A sender that keeps its parameters as Chrome does: the encodings it was
// given, one fewer when simulcast is refused, never a different count.
class FakeSender {
  encodings: RTCRtpEncodingParameters[];
  track: { kind: string } | null;
  constructor(track: { kind: string }, enc?: RTCRtpEncodingParameters[]) {
    this.track = track;
    this.encodings = (enc ?? [{}]).map((e) => ({ active: true, ...e }));
  }
  getParameters() { return { transactionId: "t", encodings: this.encodings.map((e) => ({ ...e })) }; }
  async setParameters(p: { encodings: RTCRtpEncodingParameters[] }) {
    if (p.encodings.length !== this.encodings.length) throw new Error("InvalidModificationError");
    this.encodings = p.encodings.map((e) => ({ ...e }));
  }
  async replaceTrack(t: { kind: string } | null) { this.track = t; }
}

class FakePC {
  static made: FakePC[] = [];
  // What the browser does with sendEncodings: take them, or throw.
  static refuseEncodings = false;
  // The answer negotiates simulcast (else Chrome keeps the first encoding).
  static simulcast = true;
  signalingState = "stable";
  remoteDescription: unknown = null;
  transceivers: { mid: string | null; sender: FakeSender; init?: RTCRtpTransceiverInit }[] = [];
  onicecandidate: unknown = null;
  connectionState = "new";
  onconnectionstatechange: unknown = null;
  ontrack: unknown = null;
  constructor() { FakePC.made.push(this); }
  addTransceiver(track: { kind: string }, init: RTCRtpTransceiverInit) {
    if (init.sendEncodings && FakePC.refuseEncodings) throw new TypeError("sendEncodings not supported");
    const t = { mid: null, sender: new FakeSender(track, init.sendEncodings), init };
    this.transceivers.push(t);
    return t;
  }
  getTransceivers() { return this.transceivers; }
  getSenders() { return this.transceivers.map((t) => t.sender); }
  async getStats() { return new Map(); } // nothing ever arrives
  async addIceCandidate() {}
  removeTrack() {}
  async createAnswer() { return { type: "answer", sdp: "v=0\r\nanswer\r\n" }; }
  async createOffer() {
    this.transceivers.forEach((t, i) => (t.mid = String(i)));
    const sections = this.transceivers.map((t, i) => `m=${t.sender.track?.kind ?? "video"} 9 X 0\r\na=mid:${i}\r\na=msid:s track-${i}\r\n`);
    return { type: "offer", sdp: "v=0\r\n" + sections.join("") };
  }
  async setLocalDescription() { this.signalingState = "have-local-offer"; }
  async setRemoteDescription(d: { type: string }) {
    this.remoteDescription = d;
    this.signalingState = d.type === "offer" ? "have-remote-offer" : "stable";
    if (d.type === "answer" && !FakePC.simulcast) for (const t of this.transceivers) t.sender.encodings = t.sender.encodings.slice(0, 1);
  }
  close() {}
}

const me: Participant = { id: "p_me", name: "Me", role: "participant", micOn: true, camOn: true, screenOn: false, handRaised: false, joinedAt: 2 };
const host: Participant = { ...me, id: "p_host", name: "Hana", role: "host", joinedAt: 1 };
const tick = async (n = 5) => { for (let i = 0; i < n; i++) await new Promise((r) => setTimeout(r, 0)); };
const mic = () => ({ kind: "audio", id: "mic", enabled: true, stop: vi.fn() }) as unknown as MediaStreamTrack;
const cam = (width = 1280, height = 720) => ({ kind: "video", id: "cam", enabled: true, stop: vi.fn(), getSettings: () => ({ width, height }) }) as unknown as MediaStreamTrack;

let sock: FakeSocket;
const lastSent = (action: string) => [...sock.sent].reverse().find((m) => m.action === action)!;

async function joined(stallCheckMs = 0) {
  const tokens = memoryTokens();
  tokens.set("abc-defg-hij", "tok");
  const c = new MeetingClient({
    wsUrl: "ws://x/ws", code: "abc-defg-hij", tokens, backoff: { baseMs: 1, maxMs: 1 }, stallCheckMs,
    socketFactory: () => {
      sock = new FakeSocket();
      const s = sock;
      setTimeout(() => s.open(), 0);
      return sock;
    },
  });
  const p = c.join({ name: "Me", micOn: true, camOn: true, tracks: { microphone: mic(), camera: cam() } });
  await tick(2);
  const join = lastSent("join");
  sock.receive({ type: "joined", id: join.id, epoch: 5, session: join.session, you: me, token: "tok", room: { code: "abc-defg-hij", title: "", locked: false, seq: 1, participants: [host, me], lobby: [] } });
  await p;
  await tick();
  const offer = lastSent("publish_offer");
  sock.receive({ type: "publish_answer", id: offer.id, epoch: 5, session: join.session, sdp: "v=0\r\nanswer\r\n" });
  await tick();
  const pc = FakePC.made[0];
  const camSender = pc.transceivers.find((t) => t.sender.track?.kind === "video")!.sender;
  return { c, session: join.session as string, pc, camSender };
}

beforeEach(() => {
  FakePC.made = [];
  FakePC.refuseEncodings = false;
  FakePC.simulcast = true;
  vi.stubGlobal("RTCPeerConnection", FakePC);
  vi.stubGlobal("MediaStream", class { constructor(public tracks: unknown[]) {} });
});
afterEach(() => vi.unstubAllGlobals());

describe("simulcast publishing", () => {
  it("publishes the camera in three layers, the microphone in one", async () => {
    const { pc, camSender } = await joined();
    expect(pc.transceivers[0].init?.sendEncodings).toBeUndefined(); // the microphone
    expect(camSender.encodings.map((e) => [e.rid, e.scaleResolutionDownBy ?? 1, e.maxBitrate])).toEqual([
      ["q", 4, 150_000], ["h", 2, 500_000], ["f", 1, 1_500_000],
    ]);
  });

  it("an answer without simulcast: the one layer left is the full one", async () => {
    FakePC.simulcast = false;
    const { camSender } = await joined();
    expect(camSender.encodings).toEqual([{ rid: "q", active: true, scaleResolutionDownBy: 1, maxBitrate: 1_500_000 }]);
  });

  it("a browser that refuses sendEncodings publishes one capped layer", async () => {
    FakePC.refuseEncodings = true;
    const { camSender } = await joined();
    expect(camSender.encodings).toEqual([{ active: true, maxBitrate: 1_500_000 }]);
  });

  it("a presentation is one layer with a content hint", async () => {
    const { c, pc } = await joined();
    const screen = { kind: "video", id: "scr", enabled: true, contentHint: "", stop: vi.fn(), addEventListener: vi.fn() } as unknown as MediaStreamTrack;
    void c.startScreen(screen);
    await tick();
    const t = pc.transceivers.at(-1)!;
    expect(t.sender.track).toBe(screen);
    expect(screen.contentHint).toBe("detail");
    expect(t.sender.encodings).toEqual([{ active: true, maxBitrate: 2_500_000 }]);
  });
});

describe("publish_layers", () => {
  it("encodes only the layers the node asks for; none pauses all", async () => {
    const { session, camSender } = await joined();
    const mid = "1";
    sock.receive({ type: "publish_layers", epoch: 5, session, tracks: [{ mid, active: ["q", "h"] }] });
    await tick();
    expect(camSender.encodings.map((e) => e.active)).toEqual([true, true, false]);
    sock.receive({ type: "publish_layers", epoch: 5, session, tracks: [{ mid, active: [] }] });
    await tick();
    expect(camSender.encodings.map((e) => e.active)).toEqual([false, false, false]);
    sock.receive({ type: "publish_layers", epoch: 5, session, tracks: [{ mid, active: ["q", "h", "f"] }] });
    await tick();
    expect(camSender.encodings.map((e) => e.active)).toEqual([true, true, true]);
  });

  it("ignores another session's and an older placement's", async () => {
    const { session, camSender } = await joined();
    sock.receive({ type: "publish_layers", epoch: 5, session: "m-other", tracks: [{ mid: "1", active: [] }] });
    sock.receive({ type: "publish_layers", epoch: 4, session, tracks: [{ mid: "1", active: [] }] });
    await tick();
    expect(camSender.encodings.map((e) => e.active)).toEqual([true, true, true]);
  });

  it("what the node asked holds after a renegotiation", async () => {
    const { c, session, camSender } = await joined();
    sock.receive({ type: "publish_layers", epoch: 5, session, tracks: [{ mid: "1", active: ["q"] }] });
    await tick();
    const screen = { kind: "video", id: "scr", enabled: true, stop: vi.fn(), addEventListener: vi.fn() } as unknown as MediaStreamTrack;
    void c.startScreen(screen);
    await tick();
    const offer = lastSent("publish_offer");
    sock.receive({ type: "publish_answer", id: offer.id, epoch: 5, session, sdp: "v=0\r\nanswer\r\n" });
    await tick();
    expect(camSender.encodings.map((e) => e.active)).toEqual([true, false, false]);
  });
});

describe("video_sizes", () => {
  it("reports the shown videos by the subscribe mids, for the current session", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    try {
      const pending = joined();
      await vi.runAllTimersAsync();
      const { c, session } = await pending;
      const track = (participantId: string, mid: string) => ({ participantId, source: "camera", streamId: participantId, trackId: `${participantId}-camera`, kind: "video", muted: false, mid });
      sock.receive({ type: "subscribe_offer", epoch: 5, session, offerId: "o1", sdp: "v=0\r\noffer\r\n", tracks: [track("p_host", "4")] });
      c.sizes.show([{ trackId: "p_host-camera", video: true, width: 640, height: 360 }]);
      await vi.advanceTimersByTimeAsync(1000);
      expect(lastSent("video_sizes")).toMatchObject({ session, sizes: [{ mid: "4", width: 640, height: 360 }] });
    } finally {
      vi.useRealTimers();
    }
  });

  it("the stall watch awaits only the videos we show (the node sends no others)", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"] });
    try {
      let done = false;
      const pending = joined(100).then((r) => { done = true; return r; });
      while (!done) await vi.advanceTimersByTimeAsync(10);
      const { c, session } = await pending;
      const stalls: boolean[] = [];
      c.on("stall", (s) => stalls.push(s));
      // Hana's camera only (no audio): off screen, nothing is owed us.
      sock.receive({ type: "subscribe_offer", epoch: 5, session, offerId: "o1", sdp: "v=0\r\noffer\r\n",
        tracks: [{ participantId: "p_host", source: "camera", streamId: "p_host", trackId: "p_host-camera", kind: "video", muted: false, mid: "4" }] });
      c.sizes.show([]);
      await vi.advanceTimersByTimeAsync(3000);
      expect(stalls).toEqual([]);
      // On screen and still nothing: that is a stall.
      c.sizes.show([{ trackId: "p_host-camera", video: true, width: 640, height: 360 }]);
      await vi.advanceTimersByTimeAsync(3000);
      expect(stalls).toEqual([true]);
      c.sizes.show([]);
      await vi.advanceTimersByTimeAsync(200);
      expect(stalls).toEqual([true, false]);
    } finally {
      vi.useRealTimers();
    }
  });
});
