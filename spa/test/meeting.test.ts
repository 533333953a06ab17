import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { MeetingClient } from "../src/client/meeting";
import { memoryTokens } from "../src/client/tokens";
import { FakeSocket } from "./fakes";
import type { Participant } from "../src/client/protocol";

// Just enough of RTCPeerConnection for the publish side to make an offer.
class FakePC {
  static made: FakePC[] = [];
  // What an offer applied to a subscribe connection brings: its
  // transceivers, each receiving one MediaStreamTrack.
  static offered: { mid: string; receiver: { track: { id: string } } }[] = [];
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
  async setRemoteDescription(d: { type: string }) {
    this.remoteDescription = d;
    this.signalingState = d.type === "offer" ? "have-remote-offer" : "stable";
    if (d.type === "offer") this.transceivers = FakePC.offered.map((t) => ({ ...t, sender: {} }));
  }
  close() {}
}

const me: Participant = { id: "p_me", name: "Me", role: "participant", micOn: true, camOn: false, screenOn: false, handRaised: false, joinedAt: 2 };
const host: Participant = { ...me, id: "p_host", name: "Hana", role: "host", joinedAt: 1 };
const tick = () => new Promise((r) => setTimeout(r, 0));

let sock: FakeSocket;
let urls: string[] = [];
function client(tokens = memoryTokens(), extra: Partial<ConstructorParameters<typeof MeetingClient>[0]> = {}) {
  const c = new MeetingClient({
    ...extra,
    wsUrl: "ws://x/ws",
    code: "abc-defg-hij",
    tokens,
    backoff: { baseMs: 1, maxMs: 1 },
    socketFactory: (url: string) => {
      urls.push(url);
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
  urls = [];
  FakePC.made = [];
  FakePC.offered = [];
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

  it("fetches the chat history after joining, fills a gap, and keeps it across a rejoin", async () => {
    const { c } = await joined();
    const h1 = lastSent("chat_history");
    expect(h1.before).toBeUndefined();
    const m = (id: number) => ({ id, from: "p_host", name: "Hana", text: `#${id}`, at: id });
    sock.receive({ type: "chat_history", id: h1.id, messages: [m(1), m(2)], more: false });
    await tick();
    expect(c.chat.messages.map((x) => x.id)).toEqual([1, 2]);
    expect(c.chat.unread).toBe(0);
    // A push was lost: message 5 after 2 asks for what came before it.
    sock.receive({ type: "chat", message: m(5) });
    await tick();
    const h2 = lastSent("chat_history");
    expect(h2.before).toBe(5);
    sock.receive({ type: "chat_history", id: h2.id, messages: [m(3), m(4)], more: false });
    await tick();
    expect(c.chat.messages.map((x) => x.id)).toEqual([1, 2, 3, 4, 5]);
    // Sending: the reply is the message, added once.
    const sending = c.sendChat("hi");
    await tick();
    const sent = lastSent("chat");
    expect(sent.text).toBe("hi");
    sock.receive({ type: "chat", id: sent.id, message: { ...m(6), from: "p_me", text: "hi" } });
    await sending;
    expect(c.chat.messages.filter((x) => x.id === 6)).toHaveLength(1);
    expect(c.chat.unread).toBe(1); // message 5 was someone else's, live
  });

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

  it("remote tracks are found by the mid the offer lists, not by the browser's track id", async () => {
    const { c } = await joined();
    const offer = (tracks: object[]) =>
      sock.receive({ type: "subscribe_offer", session: lastSent("join").session, offerId: `o${tracks.length}`, sdp: "v=0\r\noffer\r\n", tracks });
    const track = (participantId: string, mid: string) => ({ participantId, source: "camera", streamId: participantId, trackId: `${participantId}-camera`, kind: "video", muted: false, mid });
    // The browser names received tracks as it likes: here, all alike.
    const first = { id: "recv-0" };
    FakePC.offered = [{ mid: "0", receiver: { track: first } }, { mid: "1", receiver: { track: { id: "recv-1" } } }];
    offer([track("p_host", "0"), track("p_guest1", "1")]);
    for (let i = 0; i < 5; i++) await tick();
    expect(lastSent("subscribe_answer")).toMatchObject({ session: lastSent("join").session, offerId: "o2" });
    expect(c.remoteFor(track("p_host", "0") as never)).toBe(first);
    // Guest 1 left, guest 2 joined: the SFU reused transceiver 1, and the
    // browser kept its old track (and id) for it.
    offer([track("p_host", "0"), track("p_guest2", "1")]);
    for (let i = 0; i < 5; i++) await tick();
    expect([...c.media!.remote.keys()].sort()).toEqual(["p_guest2-camera", "p_host-camera"]);
    expect(c.remoteFor(track("p_guest2", "1") as never)).toMatchObject({ id: "recv-1" });
  });

  it("asks for a snapshot on a sequence gap that outlives the hold-back", async () => {
    await joined();
    sock.receive({ type: "participant_joined", seq: 3, participant: { ...me, id: "p_x" } });
    expect(sock.sent.find((m) => m.action === "resync")).toBeUndefined();
    await new Promise((r) => setTimeout(r, 600));
    expect(lastSent("resync")).toBeDefined();
  });

  it("made co-host by a handover, asks for the room to see who is waiting", async () => {
    await joined();
    sock.receive({ type: "participant_left", seq: 2, participantId: "p_host", reason: "left" });
    sock.receive({ type: "participant_updated", seq: 3, participant: { ...me, role: "cohost" }, reason: "handover" });
    await tick();
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

  it("mute_all in a presence batch turns our mic off and says who; the host who asked keeps theirs", async () => {
    const { c } = await joined();
    const notices: string[] = [];
    c.on("mutedByHost", (m) => notices.push(`${m.byName}:${m.source}`));
    sock.receive({ type: "presence", changes: [{ type: "all_muted", seq: 99, by: "p_me" }] });
    await tick(); await tick();
    expect(c.micOn).toBe(true);
    sock.receive({ type: "presence", changes: [{ type: "all_muted", seq: 100, by: "p_host" }] });
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

  it("a new socket joins again with the same media session and keeps its connections", async () => {
    const { c } = await joined();
    const session = lastSent("join").session;
    const pcs = FakePC.made.length;
    const media = c.media;
    sock.drop();
    for (let i = 0; i < 50 && !sock.sent.some((m) => m.action === "join"); i++) await new Promise((r) => setTimeout(r, 2));
    expect(lastSent("join").session).toBe(session);
    sock.receive({ type: "joined", id: lastSent("join").id, you: me, token: "tok", session, room: { code: "abc-defg-hij", title: "", locked: false, seq: 1, participants: [host, me], lobby: [] } });
    for (let i = 0; i < 5; i++) await tick();
    expect(c.media).toBe(media);
    expect(FakePC.made.length).toBe(pcs);
  });

  it("events of an older placement or another session are not applied", async () => {
    const { c } = await joined();
    const session = lastSent("join").session;
    sock.receive({ type: "joined", id: "x", epoch: 20, session, you: me, token: "tok", room: { code: "abc-defg-hij", title: "", locked: false, seq: 1, participants: [host, me], lobby: [] } });
    for (let i = 0; i < 5; i++) await tick();
    const answers = () => sock.sent.filter((m) => m.action === "subscribe_answer").length;
    const before = answers();
    const tracks = [{ participantId: "p_host", source: "camera", streamId: "p_host", trackId: "p_host-camera", kind: "video", muted: false }];
    // A node that lost the room (older epoch), and a session we left.
    sock.receive({ type: "subscribe_offer", epoch: 10, session, offerId: "o9", sdp: "v=0\r\nold\r\n", tracks });
    sock.receive({ type: "subscribe_offer", epoch: 20, session: "m-other", offerId: "o9", sdp: "v=0\r\nold\r\n", tracks });
    sock.receive({ type: "tracks", epoch: 10, session, tracks });
    for (let i = 0; i < 5; i++) await tick();
    expect(answers()).toBe(before);
    expect(c.room.tracks).toEqual([]);
    sock.receive({ type: "subscribe_offer", epoch: 20, session, offerId: "o1", sdp: "v=0\r\nnew\r\n", tracks });
    for (let i = 0; i < 5; i++) await tick();
    expect(answers()).toBe(before + 1);
    // A media_reconnect that is not newer than ours changes nothing.
    const joins = sock.sent.filter((m) => m.action === "join").length;
    sock.receive({ type: "media_reconnect", epoch: 20, reason: "dup" });
    await tick();
    expect(sock.sent.filter((m) => m.action === "join").length).toBe(joins);
  });

  it("a draining node's migrate keeps the old session until the new one receives the same", async () => {
    const { c } = await joined();
    const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const old = c.media!;
    old.remote.set("p_host-camera", { id: "a" } as never);
    sock.receive({ type: "media_reconnect", epoch: 50, reason: "draining", migrate: true });
    await tick();
    const join = lastSent("join");
    expect(join.session).not.toBe(old.id);
    sock.receive({ type: "joined", id: join.id, epoch: 50, session: join.session, you: me, token: "tok", room: { code: "abc-defg-hij", title: "", locked: false, seq: 1, participants: [host, me], lobby: [] } });
    for (let i = 0; i < 5; i++) await tick();
    expect(c.media!.id).toBe(join.session);
    expect(old.isClosed).toBe(false); // still playing
    expect(c.remoteFor({ trackId: "p_host-camera" } as never)).toMatchObject({ id: "a" });
    await wait(600);
    expect(old.isClosed).toBe(false); // the new one receives nothing yet
    c.media!.remote.set("p_host-camera", { id: "b" } as never);
    c.media!.subscribePC = { connectionState: "connected", close() {} } as never;
    await wait(1500);
    expect(old.isClosed).toBe(true);
    expect(c.remoteFor({ trackId: "p_host-camera" } as never)).toMatchObject({ id: "b" });
  });

  it("rejoin, or not_joined while in the meeting, joins again with the same session", async () => {
    const { c } = await joined();
    const session = lastSent("join").session;
    const joins = () => sock.sent.filter((m) => m.action === "join").length;
    const before = joins();
    sock.receive({ type: "rejoin", reason: "meeting state rebuilt" });
    await tick();
    expect(joins()).toBe(before + 1);
    expect(lastSent("join")).toMatchObject({ session, token: "tok" });
    sock.receive({ type: "joined", id: lastSent("join").id, session, you: me, token: "tok", room: { code: "abc-defg-hij", title: "", locked: false, seq: 1, participants: [host, me], lobby: [] } });
    await tick();
    sock.receive({ type: "error", id: "u1", code: "not_joined", message: "join the meeting first", requestId: "g" });
    await tick();
    expect(joins()).toBe(before + 2);
    expect(lastSent("join").session).toBe(session);
    expect(c.phase.kind).toBe("joined");
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

  it("a meeting of another region is joined through that region's endpoint", async () => {
    const tokens = memoryTokens();
    tokens.set("abc-defg-hij", "tok");
    const { c } = client(tokens, { regions: [{ region: "a", wsUrl: "ws://x/ws" }, { region: "b", wsUrl: "ws://b/ws" }] });
    const p = c.join({ name: "Me", micOn: false, camOn: false, tracks: {} });
    await tick(); await tick();
    const first = sock;
    sock.receive({ type: "error", id: lastSent("join").id, code: "wrong_region", message: "elsewhere", requestId: "g", region: "b" });
    for (let i = 0; i < 5; i++) await tick();
    expect(urls.at(-1)).toBe("ws://b/ws");
    expect(sock).not.toBe(first);
    sock.receive({ type: "joined", id: lastSent("join").id, you: me, token: "tok", room: { code: "abc-defg-hij", title: "", locked: false, seq: 1, participants: [host, me], lobby: [] } });
    await p;
    expect(c.phase.kind).toBe("joined");
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
