import type { Guest, Participant, ParticipantID, Room, ServerEvent, Track } from "./protocol";

// The events RoomState folds into the room. Anything else is not its business.
const sequenced = new Set([
  "participant_joined",
  "participant_left",
  "participant_updated",
  "room_updated",
  "knock",
  "lobby_left",
]);

export interface ApplyResult {
  changed: boolean;
}

export interface RoomStateOptions {
  // How long a delta that arrived ahead of a gap waits for the missing ones
  // before the room asks for a snapshot (PROTOCOL.md: 500 ms).
  holdBackMs?: number;
  // Called when a gap outlived the hold-back: send resync.
  onResync?: () => void;
}

// RoomState is one participant's view of a meeting: a snapshot plus the
// deltas after it, ordered by the room's sequence number. A delta with
// seq = last+1 applies; seq ≤ last is a duplicate or already covered by a
// snapshot and is dropped; a larger seq is held back: pushes from different
// Lambdas overtake one another, so the missing ones usually turn up within a
// few hundred milliseconds. Only a gap still open after holdBackMs asks for a
// snapshot — one per gap, not one per out-of-order event.
export class RoomState {
  code = "";
  title = "";
  locked = false;
  // Only hosts and co-hosts may chat.
  chatDisabled = false;
  seq = 0;
  participants = new Map<ParticipantID, Participant>();
  lobby = new Map<ParticipantID, Guest>();
  tracks: Track[] = [];
  speakers: ParticipantID[] = [];
  private held = new Map<number, ServerEvent>();
  private resyncing = false;
  private gapTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly holdBackMs: number;
  private readonly onResync: () => void;
  // How many times a gap outlived the hold-back (a resync was asked for).
  resyncs = 0;

  constructor(opts: RoomStateOptions = {}) {
    this.holdBackMs = opts.holdBackMs ?? 500;
    this.onResync = opts.onResync ?? (() => {});
  }

  // applySnapshot replaces the room. A snapshot older than what we already
  // applied is stale (it crossed a newer delta on the wire) unless force is
  // set, as on a fresh join.
  applySnapshot(room: Room, force = false): boolean {
    if (!force && room.seq < this.seq) {
      this.resyncing = false;
      return false;
    }
    this.code = room.code;
    this.title = room.title;
    this.locked = room.locked;
    this.chatDisabled = !!room.chatDisabled;
    this.seq = room.seq;
    this.participants = new Map((room.participants ?? []).map((p) => [p.id, p]));
    this.lobby = new Map((room.lobby ?? []).map((g) => [g.id, g]));
    this.resyncing = false;
    for (const s of [...this.held.keys()]) if (s <= this.seq) this.held.delete(s);
    this.drainHeld();
    return true;
  }

  // holdGap starts the hold-back clock for a gap (once per gap).
  private holdGap(): void {
    if (this.gapTimer || this.resyncing) return;
    this.gapTimer = setTimeout(() => {
      this.gapTimer = null;
      if (this.held.size === 0 || this.resyncing) return;
      this.resyncing = true;
      this.resyncs++;
      this.onResync();
    }, this.holdBackMs);
  }

  apply(ev: ServerEvent): ApplyResult {
    if (ev.type === "joined") return { changed: this.applySnapshot(ev.room, true) };
    if (ev.type === "snapshot") return { changed: this.applySnapshot(ev.room) };
    if (ev.type === "tracks" || ev.type === "subscribe_offer") {
      this.tracks = ev.tracks ?? [];
      return { changed: true };
    }
    if (ev.type === "active_speakers") {
      this.speakers = ev.participantIds ?? [];
      return { changed: true };
    }
    if (!sequenced.has(ev.type)) return { changed: false };

    const seq = ev.seq ?? 0;
    if (seq === 0) return { changed: this.fold(ev) }; // outside the sequence
    if (seq <= this.seq) return { changed: false };
    if (seq > this.seq + 1) {
      this.held.set(seq, ev);
      this.holdGap();
      return { changed: false };
    }
    this.fold(ev);
    this.seq = seq;
    this.drainHeld();
    return { changed: true };
  }

  // resyncFailed lets a later gap ask again (the resync request was lost).
  resyncFailed(): void {
    this.resyncing = false;
  }

  get pendingGap(): boolean {
    return this.held.size > 0;
  }

  private drainHeld(): void {
    for (let next = this.held.get(this.seq + 1); next; next = this.held.get(this.seq + 1)) {
      this.held.delete(this.seq + 1);
      this.fold(next);
      this.seq++;
    }
    if (this.held.size === 0) {
      this.resyncing = false;
      if (this.gapTimer) clearTimeout(this.gapTimer);
      this.gapTimer = null;
    }
  }

  private fold(ev: ServerEvent): boolean {
    switch (ev.type) {
      case "participant_joined":
      case "participant_updated":
        this.participants.set(ev.participant.id, ev.participant);
        this.lobby.delete(ev.participant.id);
        return true;
      case "participant_left":
        this.tracks = this.tracks.filter((t) => t.participantId !== ev.participantId);
        return this.participants.delete(ev.participantId);
      case "room_updated":
        this.locked = ev.locked;
        this.chatDisabled = !!ev.chatDisabled;
        return true;
      case "knock":
        this.lobby.set(ev.guest.id, ev.guest);
        return true;
      case "lobby_left":
        return this.lobby.delete(ev.participantId);
    }
    return false;
  }

  // sortedParticipants orders tiles and the people list as Meet does: by
  // arrival, so tiles do not jump around.
  sortedParticipants(): Participant[] {
    return [...this.participants.values()].sort((a, b) => a.joinedAt - b.joinedAt || a.id.localeCompare(b.id));
  }

  tracksOf(id: ParticipantID): Track[] {
    return this.tracks.filter((t) => t.participantId === id);
  }
}
