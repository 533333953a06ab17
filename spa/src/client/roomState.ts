import type { Guest, Participant, ParticipantID, PresenceChange, Room, ServerEvent, Track } from "./protocol";

// The events RoomState folds into the room. Anything else is not its business.
const sequenced = new Set([
  "participant_joined",
  "participant_left",
  "participant_updated",
  "room_updated",
  "all_muted",
  "knock",
  "lobby_left",
]);

// A joined or snapshot whose room comes in pages (PROTOCOL.md, Pages),
// being put together: page 1 is the reply's room, the others room_page
// events with the reply's id and seq.
interface Assembly {
  id: string;
  seq: number;
  pages: number;
  force: boolean;
  head: Room;
  got: Map<number, { participants: Participant[]; lobby: Guest[] }>;
  timer: ReturnType<typeof setTimeout>;
}

export interface ApplyResult {
  changed: boolean;
}

export interface RoomStateOptions {
  // How long a delta that arrived ahead of a gap waits for the missing ones
  // before the room asks for a snapshot (PROTOCOL.md: 500 ms).
  holdBackMs?: number;
  // Called when a gap outlived the hold-back: send resync.
  onResync?: () => void;
  // How long the pages of a large room may take to arrive before the room
  // asks again (resync).
  pagesTimeoutMs?: number;
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
  private readonly pagesTimeoutMs: number;
  private readonly onResync: () => void;
  private assembly: Assembly | null = null;
  // How many times a gap outlived the hold-back (a resync was asked for).
  resyncs = 0;

  constructor(opts: RoomStateOptions = {}) {
    this.holdBackMs = opts.holdBackMs ?? 500;
    this.pagesTimeoutMs = opts.pagesTimeoutMs ?? 5000;
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
    if (this.held.size > 0) this.holdGap(); // a gap beyond the snapshot waits its own hold-back
    return true;
  }

  // room takes a joined or snapshot reply: whole, it applies; in pages, it
  // starts an assembly that applies once every page is in.
  private room(ev: { id?: string; room: Room; pages?: number }, force: boolean): boolean {
    const pages = ev.pages ?? 1;
    if (pages <= 1) return this.applySnapshot(ev.room, force);
    if (this.assembly) clearTimeout(this.assembly.timer);
    const got = new Map([[1, { participants: ev.room.participants ?? [], lobby: ev.room.lobby ?? [] }]]);
    const timer = setTimeout(() => {
      // A page never came: ask again rather than show half a room.
      if (this.assembly?.timer !== timer) return;
      this.assembly = null;
      this.resyncing = true;
      this.resyncs++;
      this.onResync();
    }, this.pagesTimeoutMs);
    this.assembly = { id: ev.id ?? "", seq: ev.room.seq, pages, force, head: ev.room, got, timer };
    return false;
  }

  private page(ev: Extract<ServerEvent, { type: "room_page" }>): boolean {
    const a = this.assembly;
    if (!a || (ev.id ?? "") !== a.id || (ev.seq ?? 0) !== a.seq || ev.page < 2 || ev.page > a.pages) return false;
    a.got.set(ev.page, { participants: ev.participants ?? [], lobby: ev.lobby ?? [] });
    if (a.got.size < a.pages) return false;
    clearTimeout(a.timer);
    this.assembly = null;
    const participants: Participant[] = [];
    const lobby: Guest[] = [];
    for (let i = 1; i <= a.pages; i++) {
      const p = a.got.get(i)!;
      participants.push(...p.participants);
      lobby.push(...p.lobby);
    }
    return this.applySnapshot({ ...a.head, participants, lobby }, a.force);
  }

  // assembling: a room in pages is still coming.
  get assembling(): boolean {
    return this.assembly !== null;
  }

  // holdGap starts the hold-back clock for a gap (once per gap).
  private holdGap(): void {
    if (this.gapTimer || this.resyncing) return;
    this.gapTimer = setTimeout(() => {
      this.gapTimer = null;
      // While a room in pages is coming, it is the snapshot to wait for.
      if (this.held.size === 0 || this.resyncing || this.assembly) return;
      this.resyncing = true;
      this.resyncs++;
      this.onResync();
    }, this.holdBackMs);
  }

  apply(ev: ServerEvent): ApplyResult {
    if (ev.type === "joined") return { changed: this.room(ev, true) };
    if (ev.type === "snapshot") return { changed: this.room(ev, false) };
    if (ev.type === "room_page") return { changed: this.page(ev) };
    if (ev.type === "presence") {
      // A batch of changes from the room's node: each applies as if alone.
      let changed = false;
      for (const c of ev.changes ?? []) changed = this.apply(c as ServerEvent).changed || changed;
      return { changed };
    }
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

  private fold(ev: ServerEvent | PresenceChange): boolean {
    switch (ev.type) {
      case "all_muted":
        // Every microphone but the host's who asked is off from here.
        for (const [id, p] of this.participants) if (id !== ev.by && p.micOn) this.participants.set(id, { ...p, micOn: false });
        return true;
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
