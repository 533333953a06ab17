import { describe, expect, it, vi } from "vitest";
import { RoomState } from "../src/client/roomState";
import type { Participant, Room, ServerEvent } from "../src/client/protocol";

const person = (id: string, name = id, joinedAt = 1): Participant => ({
  id, name, role: "participant", micOn: true, camOn: true, screenOn: false, handRaised: false, joinedAt,
});
const room = (seq: number, ...ps: Participant[]): Room => ({
  code: "abc-defg-hij", title: "", locked: false, seq, participants: ps, lobby: [],
});
const joined = (seq: number): ServerEvent => ({ type: "participant_joined", seq, participant: person(`p${seq}`) });
const names = (s: RoomState) => s.sortedParticipants().map((p) => p.id);

describe("RoomState", () => {
  it("applies a snapshot then consecutive deltas", () => {
    const s = new RoomState();
    s.applySnapshot(room(5, person("a")));
    expect(s.apply(joined(6))).toEqual({ changed: true });
    expect(s.apply({ type: "participant_left", seq: 7, participantId: "a", reason: "left" }).changed).toBe(true);
    expect(names(s)).toEqual(["p6"]);
    expect(s.seq).toBe(7);
  });

  it("ignores duplicates and deltas the snapshot already covers", () => {
    const s = new RoomState();
    s.applySnapshot(room(5, person("a")));
    expect(s.apply(joined(5))).toEqual({ changed: false });
    expect(s.apply(joined(3)).changed).toBe(false);
    s.apply(joined(6));
    expect(s.apply(joined(6)).changed).toBe(false);
    expect(names(s)).toEqual(["a", "p6"]);
  });

  it("holds an early delta back, and asks for one resync only if the gap outlives the hold-back", () => {
    vi.useFakeTimers();
    try {
      let asked = 0;
      const s = new RoomState({ holdBackMs: 500, onResync: () => asked++ });
      s.applySnapshot(room(1));
      expect(s.apply(joined(3))).toEqual({ changed: false });
      expect(s.apply(joined(4)).changed).toBe(false);
      vi.advanceTimersByTime(499);
      expect(asked).toBe(0); // pushes overtake one another: wait for the missing one
      vi.advanceTimersByTime(1);
      expect(asked).toBe(1);
      expect(names(s)).toEqual([]);
      expect(s.pendingGap).toBe(true);
      // A second gap while the resync is outstanding asks nothing more.
      s.apply(joined(6));
      vi.advanceTimersByTime(1000);
      expect(asked).toBe(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it("a gap filled within the hold-back asks for nothing", () => {
    vi.useFakeTimers();
    try {
      let asked = 0;
      const s = new RoomState({ onResync: () => asked++ });
      s.applySnapshot(room(1));
      s.apply(joined(3));
      vi.advanceTimersByTime(300);
      s.apply(joined(2));
      vi.advanceTimersByTime(1000);
      expect(asked).toBe(0);
      expect(s.resyncs).toBe(0);
      expect(names(s).sort()).toEqual(["p2", "p3"]);
    } finally {
      vi.useRealTimers();
    }
  });

  it("fills a gap when the missing delta arrives late (out of order)", () => {
    const s = new RoomState();
    s.applySnapshot(room(1));
    s.apply(joined(3));
    s.apply(joined(4));
    expect(s.apply(joined(2)).changed).toBe(true);
    expect(s.seq).toBe(4);
    expect(names(s).sort()).toEqual(["p2", "p3", "p4"]);
    expect(s.pendingGap).toBe(false);
  });

  it("a resync snapshot replaces state and keeps only newer held deltas", () => {
    const s = new RoomState();
    s.applySnapshot(room(1));
    s.apply(joined(3));
    s.apply(joined(5));
    s.apply({ type: "snapshot", room: room(4, person("x"), person("p3")) });
    expect(s.seq).toBe(5);
    expect(names(s).sort()).toEqual(["p3", "p5", "x"]);
    expect(s.pendingGap).toBe(false);
  });

  it("drops a stale snapshot but accepts a join's snapshot", () => {
    const s = new RoomState();
    s.applySnapshot(room(9, person("a")));
    expect(s.apply({ type: "snapshot", room: room(4) }).changed).toBe(false);
    expect(names(s)).toEqual(["a"]);
    s.apply({ type: "joined", you: person("b"), token: "t", room: room(2, person("b")) });
    expect(names(s)).toEqual(["b"]);
    expect(s.seq).toBe(2);
  });

  it("tracks the lobby, lock and updates", () => {
    const s = new RoomState();
    s.applySnapshot(room(0, person("a")));
    s.apply({ type: "knock", seq: 1, guest: { id: "g", name: "Guest", knockedAt: 1 } });
    expect([...s.lobby.keys()]).toEqual(["g"]);
    s.apply({ type: "lobby_left", seq: 2, participantId: "g", reason: "admitted" });
    expect(s.lobby.size).toBe(0);
    s.apply({ type: "room_updated", seq: 3, locked: true });
    expect(s.locked).toBe(true);
    s.apply({ type: "participant_updated", seq: 4, participant: { ...person("a"), micOn: false } });
    expect(s.participants.get("a")?.micOn).toBe(false);
  });

  it("applies events outside the sequence (seq 0) at once", () => {
    const s = new RoomState();
    s.applySnapshot(room(3));
    s.apply({ type: "knock", guest: { id: "g", name: "G", knockedAt: 1 } });
    expect(s.lobby.has("g")).toBe(true);
    expect(s.seq).toBe(3);
  });

  it("drops a leaver's tracks", () => {
    const s = new RoomState();
    s.applySnapshot(room(1, person("a"), person("b")));
    s.apply({
      type: "tracks",
      tracks: [
        { participantId: "a", source: "camera", streamId: "s", trackId: "t1", kind: "video", muted: false },
        { participantId: "b", source: "camera", streamId: "s2", trackId: "t2", kind: "video", muted: false },
      ],
    });
    s.apply({ type: "participant_left", seq: 2, participantId: "a", reason: "left" });
    expect(s.tracks.map((t) => t.trackId)).toEqual(["t2"]);
  });
});
