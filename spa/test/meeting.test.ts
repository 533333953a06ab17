import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { MeetingClient } from "../src/client/meeting";
import { memoryTokens } from "../src/client/tokens";
import { FakeSocket } from "./fakes";
import type { Participant } from "../src/client/protocol";

// Just enough of RTCPeerConnection for the publish side to make an offer.
class FakePC {
  static made: FakePC[] = [];
  signalingState = "stable";
  remoteDescription: unknown = null;
  transceivers: { mid: string; sender: object }[] = [];
  onicecandidate: unknown = null;
  connectionState = "new";
  onconnectionstatechange: (() => void) | null = null;
  constructor() { FakePC.made.push(this); }
  fail() { this.connectionState = "failed"; this.onconnectionstatechange?.(); }
  addTransceiver() { const t = { mid: String(this.transceivers.length), sender: { replaceTrack: async () => {} } }; this.transceivers.push(t); return t; }
  getTransceivers() { return this.transceivers; }
  async addIceCandidate() {}
  removeTrack() {}
  async createAnswer() { return { type: "answer", sdp: "v=0\r\nanswer\r\n" }; }
  async createOffer() { return { type: "offer", sdp: "v=0\r\nm=audio 9 X 0\r\na=mid:0\r\na=msid:s mic-track\r\n" }; }
  async setLocalDescription() { this.signalingState = "have-local-offer"; }
  async setRemoteDescription(d: unknown) { this.remoteDescription = d; this.signalingState = "stable"; }
  close() {}
}

const me: Participant = { id: "p_me", name: "Me", role: "participant", micOn: true, camOn: false, screenOn: false, handRaised: false, joinedAt: 2 };
const host: Participant = { ...me, id: "p_host", name: "Hana", role: "host", joinedAt: 1 };
const tick = () => new Promise((r) => setTimeout(r, 0));

let sock: FakeSocket;
function client(tokens = memoryTokens(), extra: Partial<ConstructorParameters<typeof MeetingClient>[0]> = {}) {
  const c = new MeetingClient({
    ...extra,
    wsUrl: "ws://x/ws",
    code: "abc-defg-hij",
    tokens,
    backoff: { baseMs: 1, maxMs: 1 },
    socketFactory: () => {
      sock = new FakeSocket();
      const s = sock;
      setTimeout(() => s.open(), 0);
      return sock;
    },
  });
  return { c, tokens };
}
const lastSent = (action: string) => [...sock.sent].reverse().find((m) => m.action === action)!;
const mic = () => ({ id: "mic", enabled: true, stop: vi.fn() }) as unknown as MediaStreamTrack;

beforeEach(() => {
  FakePC.made = [];
  vi.stubGlobal("RTCPeerConnection", FakePC);
  vi.stubGlobal("MediaStream", class { constructor(public tracks: unknown[]) {} });
});
afterEach(() => vi.unstubAllGlobals());

describe("MeetingClient", () => {
  it("knocks, waits, joins with the admitted token, then publishes", async () => {
    const { c, tokens } = client();
    const phases: string[] = [];
    c.on("phase", (p) => phases.push(p.kind));
    const joining = c.join({ name: "Me", micOn: true, camOn: false, tracks: { microphone: mic() } });
    await tick(); await tick();
    const knock = lastSent("join");
    expect(knock).toMatchObject({ code: "abc-defg-hij", name: "Me", micOn: true, camOn: false });
    expect(knock.token).toBeUndefined();
    sock.receive({ type: "lobby_waiting", id: knock.id, you: { id: "g", name: "Me", knockedAt: 1 }, code: "abc-defg-hij", title: "" });
    await joining;
    expect(phases).toEqual(["connecting", "lobby"]);

    sock.receive({ type: "admitted", token: "tok-1" });
    await tick();
    const join = lastSent("join");
    expect(join.token).toBe("tok-1");
    sock.receive({ type: "joined", id: join.id, you: me, token: "tok-2", room: { code: "abc-defg-hij", title: "", locked: false, seq: 4, participants: [host, me], lobby: [] } });
    await tick(); await tick();
    expect(phases.at(-1)).toBe("joined");
    expect(tokens.get("abc-defg-hij")).toBe("tok-2");
    expect(c.room.sortedParticipants().map((p) => p.id)).toEqual(["p_host", "p_me"]);
    expect(FakePC.made).toHaveLength(1);
    expect(lastSent("publish_offer")).toMatchObject({ tracks: [{ trackId: "mic-track", source: "microphone" }] });
  });

  async function joined(extra: Partial<ConstructorParameters<typeof MeetingClient>[0]> = {}) {
    const tokens = memoryTokens();
    tokens.set("abc-defg-hij", "tok");
    const r = client(tokens, extra);
    const p = r.c.join({ name: "Me", micOn: true, camOn: false, tracks: { microphone: mic() } });
    await tick(); await tick();
    const join = lastSent("join");
    expect(join.token).toBe("tok");
    sock.receive({ type: "joined", id: join.id, you: me, token: "tok", room: { code: "abc-defg-hij", title: "", locked: false, seq: 1, participants: [host, me], lobby: [] } });
    await p;
    await tick(); await tick();
    return r;
  }

  it("a subscribe_offer that overtakes the joined reply is answered once joined", async () => {
    const tokens = memoryTokens();
    tokens.set("abc-defg-hij", "tok");
    const { c } = client(tokens);
    const p = c.join({ name: "Me", micOn: true, camOn: false, tracks: { microphone: mic() } });
    await tick(); await tick();
    sock.receive({ type: "subscribe_offer", sdp: "v=0\r\noffer\r\n", tracks: [{ participantId: "p_host", source: "camera", trackId: "p_host-camera" }] });
    sock.receive({ type: "candidate", target: "subscribe", candidate: { candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host" } });
    await tick();
    expect(sock.sent.find((m) => m.action === "subscribe_answer")).toBeUndefined();
    sock.receive({ type: "joined", id: lastSent("join").id, you: me, token: "tok", room: { code: "abc-defg-hij", title: "", locked: false, seq: 1, participants: [host, me], lobby: [] } });
    await p;
    for (let i = 0; i < 5; i++) await tick();
    expect(lastSent("subscribe_answer")).toMatchObject({ sdp: "v=0\r\nanswer\r\n" });
    expect(FakePC.made).toHaveLength(2); // publish and subscribe
    expect(c.room.tracks.map((t) => t.trackId)).toEqual(["p_host-camera"]);
  });

  it("tracks no longer in a subscribe_offer are forgotten", async () => {
    const { c } = await joined();
    const track = (id: string) => ({ id }) as unknown as MediaStreamTrack;
    c.media!.remote.set("p_host-camera", track("p_host-camera"));
    c.media!.remote.set("p_gone-camera", track("p_gone-camera"));
    sock.receive({ type: "subscribe_offer", sdp: "v=0\r\noffer\r\n", tracks: [{ participantId: "p_host", source: "camera", streamId: "p_host", trackId: "p_host-camera", kind: "video", muted: false }] });
    for (let i = 0; i < 5; i++) await tick();
    expect(lastSent("subscribe_answer")).toBeDefined();
    expect([...c.media!.remote.keys()]).toEqual(["p_host-camera"]);
  });

  it("asks for a snapshot on a sequence gap", async () => {
    await joined();
    sock.receive({ type: "participant_joined", seq: 3, participant: { ...me, id: "p_x" } });
    expect(lastSent("resync")).toBeDefined();
  });

  it("a host's mute turns the mic off and says who did it", async () => {
    const { c } = await joined();
    const notices: string[] = [];
    c.on("mutedByHost", (m) => notices.push(`${m.byName}:${m.source}`));
    sock.receive({ type: "muted", source: "microphone", by: "p_host" });
    await tick(); await tick();
    expect(c.micOn).toBe(false);
    expect(notices).toEqual(["Hana:microphone"]);
  });

  it("stopping a presentation, or a host stopping it, ends the screen capture", async () => {
    const { c } = await joined();
    const screen = () => ({ id: "screen", enabled: true, stop: vi.fn(), addEventListener: vi.fn() }) as unknown as MediaStreamTrack;
    const mine = screen();
    // Updates get no reply here: do not wait for them.
    void c.startScreen(mine);
    for (let i = 0; i < 3; i++) await tick();
    void c.stopScreen();
    for (let i = 0; i < 3; i++) await tick();
    expect(mine.stop).toHaveBeenCalled();

    const again = screen();
    void c.startScreen(again);
    for (let i = 0; i < 3; i++) await tick();
    sock.receive({ type: "muted", source: "screen", by: "p_host" });
    for (let i = 0; i < 3; i++) await tick();
    expect(again.stop).toHaveBeenCalled();
  });

  it("a camera that opens after the meeting ended is released at once", async () => {
    let open!: (t: MediaStreamTrack) => void;
    const { c } = await joined({ getCamera: () => new Promise((r) => { open = r; }) });
    const turningOn = c.setCam(true);
    sock.receive({ type: "removed", by: "p_host" });
    const cam = { id: "cam", enabled: true, readyState: "live", stop: vi.fn() } as unknown as MediaStreamTrack;
    open(cam);
    await turningOn;
    expect(cam.stop).toHaveBeenCalled();
    expect(c.camOn).toBe(false);
  });

  it("removal ends the session without reconnecting and keeps the barred token", async () => {
    const { c, tokens } = await joined();
    sock.receive({ type: "removed", by: "p_host" });
    expect(c.phase.kind).toBe("removed");
    expect(c.sig.state).toBe("closed");
    expect(tokens.get("abc-defg-hij")).toBe("tok");
  });

  it("an unsolicited left (the same person joined elsewhere) ends without reconnecting", async () => {
    const { c, tokens } = await joined();
    sock.receive({ type: "left" });
    sock.onclose?.({ code: 1000, reason: "" });
    await tick(); await tick();
    expect(c.phase.kind).toBe("replaced");
    expect(c.sig.state).toBe("closed");
    expect(c.media).toBeNull();
    expect(tokens.get("abc-defg-hij")).toBe("tok");
  });

  it("the reply to our own leave is a plain left", async () => {
    const { c } = await joined();
    const leaving = c.leave();
    await tick();
    sock.receive({ type: "left", id: lastSent("leave").id });
    await leaving;
    expect(c.phase.kind).toBe("left");
  });

  it("a re-join cut short by another drop waits for the next reconnect instead of failing", async () => {
    const { c } = await joined();
    const until = async (what: string, f: () => boolean) => {
      for (let i = 0; i < 500 && !f(); i++) await new Promise((r) => setTimeout(r, 2));
      if (!f()) throw new Error(`timed out waiting for ${what}`);
    };
    const first = sock;
    first.drop();
    await until("a re-join on a new socket", () => sock !== first && sock.sent.some((m) => m.action === "join"));
    const second = sock;
    second.drop();
    await until("a re-join on a third socket", () => sock !== second && sock.sent.some((m) => m.action === "join"));
    expect(c.phase.kind).toBe("joined");
    sock.receive({ type: "joined", id: lastSent("join").id, you: me, token: "tok", room: { code: "abc-defg-hij", title: "", locked: false, seq: 2, participants: [host, me], lobby: [] } });
    await tick();
    expect(c.phase.kind).toBe("joined");
    expect(c.sig.state).toBe("open");
  });

  it("media_reconnect joins again on the same socket, and the reply rebuilds media", async () => {
    const { c } = await joined();
    sock.receive({ type: "publish_answer", id: lastSent("publish_offer").id, sdp: "v=0\r\nanswer\r\n" });
    await tick();
    const socket = sock;
    const joins = () => sock.sent.filter((m) => m.action === "join").length;
    const before = joins();
    const pcs = FakePC.made.length;
    sock.receive({ type: "media_reconnect", reason: "node stopping" });
    await tick();
    expect(sock).toBe(socket); // signaling stays up
    expect(joins()).toBe(before + 1);
    expect(lastSent("join").token).toBe("tok");
    sock.receive({ type: "joined", id: lastSent("join").id, you: me, token: "tok", room: { code: "abc-defg-hij", title: "", locked: false, seq: 2, participants: [host, me], lobby: [] } });
    for (let i = 0; i < 5; i++) await tick();
    expect(c.phase.kind).toBe("joined");
    expect(FakePC.made.length).toBeGreaterThan(pcs); // a fresh publish connection
    expect(sock.sent.filter((m) => m.action === "publish_offer").length).toBeGreaterThanOrEqual(2);
  });

  it("a failed PeerConnection (network change) joins again and rebuilds media", async () => {
    await joined();
    sock.receive({ type: "publish_answer", id: lastSent("publish_offer").id, sdp: "v=0\r\nanswer\r\n" });
    await tick();
    const joins = () => sock.sent.filter((m) => m.action === "join").length;
    const before = joins();
    const old = FakePC.made[0];
    old.fail();
    await tick();
    expect(joins()).toBe(before + 1);
    sock.receive({ type: "joined", id: lastSent("join").id, you: me, token: "tok", room: { code: "abc-defg-hij", title: "", locked: false, seq: 2, participants: [host, me], lobby: [] } });
    for (let i = 0; i < 5; i++) await tick();
    // The replaced connection failing late is not ours any more: no new join.
    const after = joins();
    old.fail();
    await tick();
    expect(joins()).toBe(after);
    expect(FakePC.made.length).toBeGreaterThan(1);
  });

  it("a refused join becomes a page with a human message", async () => {
    const { c } = client();
    const p = c.join({ name: "Me", micOn: false, camOn: false, tracks: {} });
    await tick(); await tick();
    sock.receive({ type: "error", id: lastSent("join").id, code: "not_found", message: "no such room", requestId: "g" });
    await p;
    expect(c.phase).toMatchObject({ kind: "failed", message: expect.stringContaining("doesn't exist") });
  });

  it("a banned token shows as banned", async () => {
    const { c } = client();
    const p = c.join({ name: "Me", micOn: false, camOn: false, tracks: {} });
    await tick(); await tick();
    sock.receive({ type: "error", id: lastSent("join").id, code: "banned", message: "removed", requestId: "g" });
    await p;
    expect(c.phase.kind).toBe("banned");
  });
});
