import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { RequestError, Signaling } from "../src/client/signaling";
import { FakeSocket } from "./fakes";
import { reconnectDelay } from "../src/client/backoff";

function setup(opts: Partial<ConstructorParameters<typeof Signaling>[0]> = {}) {
  const sockets: FakeSocket[] = [];
  const sig = new Signaling({
    url: "ws://x/ws",
    socketFactory: () => { const s = new FakeSocket(); sockets.push(s); return s; },
    random: () => 0.5,
    ...opts,
  });
  return { sig, sockets, last: () => sockets[sockets.length - 1] };
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe("Signaling requests", () => {
  it("resolves each request with the reply naming its id, whatever the order", async () => {
    const { sig, last } = setup();
    const c = sig.connect();
    last().open();
    await c;
    const a = sig.request({ action: "ping" });
    const b = sig.request({ action: "create" });
    const [ida, idb] = last().sent.map((m) => m.id as string);
    expect(ida).not.toBe(idb);
    last().receive({ type: "created", id: idb, code: "abc-defg-hij", hostToken: "h", expiresAt: 1 });
    last().receive({ type: "pong", id: ida, serverTime: 7 });
    await expect(a).resolves.toMatchObject({ type: "pong", serverTime: 7 });
    await expect(b).resolves.toMatchObject({ type: "created", code: "abc-defg-hij" });
  });

  it("rejects the request an error event names, and only that one", async () => {
    const { sig, last } = setup();
    const c = sig.connect(); last().open(); await c;
    const a = sig.request({ action: "admit", participantId: "p" });
    const b = sig.request({ action: "ping" });
    const [ida, idb] = last().sent.map((m) => m.id as string);
    last().receive({ type: "error", id: ida, code: "forbidden", message: "hosts only", requestId: "g1" });
    await expect(a).rejects.toMatchObject({ code: "forbidden", message: "hosts only" });
    last().receive({ type: "pong", id: idb, serverTime: 1 });
    await expect(b).resolves.toMatchObject({ type: "pong" });
  });

  it("times out a request nobody answers", async () => {
    const { sig, last } = setup({ requestTimeoutMs: 1000 });
    const c = sig.connect(); last().open(); await c;
    const p = sig.request({ action: "ping" });
    vi.advanceTimersByTime(1001);
    await expect(p).rejects.toBeInstanceOf(RequestError);
    await expect(p).rejects.toMatchObject({ code: "timeout" });
  });

  it("passes events without a pending request to listeners, ignores junk", async () => {
    const { sig, last } = setup();
    const seen: string[] = [];
    sig.on("event", (e) => seen.push(e.type));
    const c = sig.connect(); last().open(); await c;
    last().onmessage?.({ data: "not json" });
    last().receive({ type: "knock", seq: 1, guest: { id: "g", name: "G", knockedAt: 1 } });
    expect(seen).toEqual(["knock"]);
  });

  it("rejects at once when offline", async () => {
    const { sig } = setup();
    await expect(sig.request({ action: "ping" })).rejects.toMatchObject({ code: "offline" });
  });
});

describe("Signaling connection", () => {
  it("pings on an interval while open", async () => {
    const { sig, last } = setup({ pingIntervalMs: 240_000 });
    const c = sig.connect(); last().open(); await c;
    vi.advanceTimersByTime(240_000 * 2 + 1);
    expect(last().sent.filter((m) => m.action === "ping")).toHaveLength(2);
  });

  it("a ping nobody answers counts as a drop and reconnects", async () => {
    const { sig, sockets, last } = setup({ pingIntervalMs: 1000, requestTimeoutMs: 500 });
    const c = sig.connect(); last().open(); await c;
    const reconnected = vi.fn();
    sig.on("reconnected", reconnected);
    vi.advanceTimersByTime(1000);
    expect(last().sent.at(-1)).toMatchObject({ action: "ping" });
    vi.advanceTimersByTime(500);
    await Promise.resolve(); await Promise.resolve();
    expect(sockets[0].readyState).toBe(3);
    expect(sig.state).toBe("reconnecting");
    vi.advanceTimersByTime(1000);
    expect(sockets).toHaveLength(2);
    last().open();
    expect(reconnected).toHaveBeenCalledTimes(1);
  });

  it("reconnects with growing delays, fails pending requests, announces the reconnect", async () => {
    const { sig, sockets, last } = setup({ backoff: { baseMs: 100, maxMs: 10_000 } });
    let reconnected = 0;
    const states: string[] = [];
    sig.on("reconnected", () => reconnected++);
    sig.on("state", (s) => states.push(s));
    const c = sig.connect(); last().open(); await c;
    const p = sig.request({ action: "ping" });
    last().drop();
    await expect(p).rejects.toMatchObject({ code: "offline" });
    // attempt 0: cap 100 → 50 + 0.5*50 = 75 ms
    vi.advanceTimersByTime(74);
    expect(sockets).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(sockets).toHaveLength(2);
    last().drop(); // attempt 1: cap 200 → 150 ms
    vi.advanceTimersByTime(149);
    expect(sockets).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(sockets).toHaveLength(3);
    last().open();
    expect(reconnected).toBe(1);
    expect(states).toEqual(["connecting", "open", "reconnecting", "open"]);
  });

  it("a failed first connect rejects instead of retrying forever", async () => {
    const { sig, sockets, last } = setup();
    const c = sig.connect();
    last().drop();
    await expect(c).rejects.toThrow(/reach the meeting service/);
    vi.advanceTimersByTime(60_000);
    expect(sockets).toHaveLength(1);
  });

  it("close stops reconnecting", async () => {
    const { sig, sockets, last } = setup();
    const c = sig.connect(); last().open(); await c;
    sig.close();
    vi.advanceTimersByTime(60_000);
    expect(sockets).toHaveLength(1);
    expect(sig.state).toBe("closed");
  });
});

describe("reconnectDelay", () => {
  it("grows exponentially up to the cap, with jitter in the upper half", () => {
    const o = { baseMs: 500, maxMs: 15_000 };
    expect(reconnectDelay(0, o, () => 0)).toBe(250);
    expect(reconnectDelay(0, o, () => 1)).toBe(500);
    expect(reconnectDelay(3, o, () => 0)).toBe(2000);
    expect(reconnectDelay(10, o, () => 0)).toBe(7500);
    expect(reconnectDelay(10, o, () => 0.999)).toBeLessThanOrEqual(15_000);
    expect(reconnectDelay(1000, o, () => 0.5)).toBe(11_250);
  });
});
