import { describe, expect, it } from "vitest";
import { DEBOUNCE_MS, FORWARD_MS, MIN_GAP_MS, VideoSizes, type ShownVideo } from "../src/client/videoSizes";
import type { VideoSize } from "../src/client/protocol";

// A clock the test turns by hand.
function fakeClock() {
  let now = 1000;
  let timers: { at: number; fn: () => void; id: number }[] = [];
  let next = 1;
  return {
    now: () => now,
    setTimeout: (fn: () => void, ms: number) => { const id = next++; timers.push({ at: now + ms, fn, id }); return id; },
    clearTimeout: (id: unknown) => { timers = timers.filter((t) => t.id !== id); },
    advance(ms: number) {
      const end = now + ms;
      for (;;) {
        timers.sort((a, b) => a.at - b.at);
        const t = timers[0];
        if (!t || t.at > end) break;
        timers.shift();
        now = t.at;
        t.fn();
      }
      now = end;
    },
    pending: () => timers.length,
  };
}

const tracks = [
  { trackId: "a-camera", kind: "video", mid: "1" },
  { trackId: "a-microphone", kind: "audio", mid: "0" },
  { trackId: "b-camera", kind: "video", mid: "3" },
  { trackId: "b-screen", kind: "video", mid: "10" },
];
const tile = (trackId: string, width: number, height: number, video = true): ShownVideo => ({ trackId, video, width, height });

function setup() {
  const clock = fakeClock();
  const sent: { session: string; sizes: VideoSize[]; at: number }[] = [];
  let online = true;
  const v = new VideoSizes((session, sizes) => {
    if (online) sent.push({ session, sizes, at: clock.now() });
    return online;
  }, clock);
  return { v, clock, sent, setOnline: (x: boolean) => { online = x; } };
}

describe("VideoSizes", () => {
  it("reports the videos on screen by mid, once the layout settled", () => {
    const { v, clock, sent } = setup();
    v.forward("m-1", tracks);
    v.show([tile("a-camera", 640, 360), tile("b-camera", 320, 180), tile(null as unknown as string, 320, 180)]);
    clock.advance(FORWARD_MS - 1);
    expect(sent).toEqual([]);
    clock.advance(1);
    expect(sent).toEqual([{ session: "m-1", at: 1000 + FORWARD_MS, sizes: [{ mid: "1", width: 640, height: 360 }, { mid: "3", width: 320, height: 180 }] }]);
  });

  it("leaves out what is not shown: off screen, an avatar, a zero size, audio", () => {
    const { v, clock, sent } = setup();
    v.forward("m-1", tracks);
    v.show([tile("a-camera", 640, 360, false), tile("b-camera", 0, 0), tile("a-microphone", 10, 10)]);
    clock.advance(1000);
    expect(sent.map((s) => s.sizes)).toEqual([[]]);
  });

  it("says nothing before the page said what is on screen, nor with nothing forwarded", () => {
    const { v, clock, sent } = setup();
    v.forward("m-1", tracks);
    clock.advance(1000);
    v.forward("m-1", []);
    v.show([tile("a-camera", 640, 360)]);
    clock.advance(1000);
    expect(sent).toEqual([]);
  });

  it("a burst of resizes is one report; reports stay MIN_GAP_MS apart; an unchanged size is not sent", () => {
    const { v, clock, sent } = setup();
    v.forward("m-1", tracks);
    v.show([tile("a-camera", 640, 360)]);
    clock.advance(FORWARD_MS);
    expect(sent).toHaveLength(1);
    // Dragging the window: a resize every 16 ms for a second.
    for (let i = 0; i < 60; i++) {
      v.show([tile("a-camera", 640 + i, 360)]);
      clock.advance(16);
    }
    clock.advance(DEBOUNCE_MS);
    expect(sent.length).toBeLessThanOrEqual(1 + Math.ceil((60 * 16 + DEBOUNCE_MS) / MIN_GAP_MS));
    for (let i = 1; i < sent.length; i++) expect(sent[i].at - sent[i - 1].at).toBeGreaterThanOrEqual(MIN_GAP_MS);
    expect(sent.at(-1)!.sizes).toEqual([{ mid: "1", width: 699, height: 360 }]);
    const n = sent.length;
    v.show([tile("a-camera", 699, 360)]);
    clock.advance(2000);
    expect(sent).toHaveLength(n);
  });

  it("sends again after a subscribe offer, a new session or a rejoin, even unchanged", () => {
    const { v, clock, sent } = setup();
    v.forward("m-1", tracks);
    v.show([tile("a-camera", 640, 360)]);
    clock.advance(1000);
    v.forward("m-1", tracks); // a new offer: same tracks
    clock.advance(1000);
    v.again();
    clock.advance(1000);
    // A new media session: mids are its own.
    v.forward("m-2", [{ trackId: "a-camera", kind: "video", mid: "7" }]);
    clock.advance(1000);
    expect(sent.map((s) => [s.session, s.sizes.map((x) => x.mid)])).toEqual([["m-1", ["1"]], ["m-1", ["1"]], ["m-1", ["1"]], ["m-2", ["7"]]]);
  });

  it("a report the socket could not take goes out at the next occasion", () => {
    const { v, clock, sent, setOnline } = setup();
    v.forward("m-1", tracks);
    setOnline(false);
    v.show([tile("a-camera", 640, 360)]);
    clock.advance(1000);
    setOnline(true);
    v.again(); // the join after the reconnect
    clock.advance(1000);
    expect(sent.map((s) => s.sizes)).toEqual([[{ mid: "1", width: 640, height: 360 }]]);
  });

  it("stops with the meeting", () => {
    const { v, clock, sent } = setup();
    v.forward("m-1", tracks);
    v.show([tile("a-camera", 640, 360)]);
    v.stop();
    v.show([tile("a-camera", 320, 180)]);
    clock.advance(1000);
    expect(sent).toEqual([]);
    expect(clock.pending()).toBe(0);
  });
});
