import type { Guest, Participant } from "../../client/protocol";
import type { RoomState } from "../../client/roomState";

// What the people panel shows, as data: groups of rows (waiting guests,
// raised hands in the order they went up, everyone), filtered by a search.
// The panel draws only the rows in view, so this is the one part that
// walks the whole room: O(n) per change, no DOM.

export interface PeopleSource {
  readonly room: RoomState;
  readonly you: Participant | null;
  readonly isModerator: boolean;
  readonly isHost: boolean;
}

export type Row =
  | { kind: "guest"; key: string; g: Guest }
  | { kind: "hand"; key: string; p: Participant; place: number }
  | { kind: "person"; key: string; p: Participant }
  | { kind: "more"; key: string; group: Group["key"]; hidden: number };

export interface Group {
  key: "lobby" | "hands" | "people";
  label: string; // the region's name
  title: string; // its heading, with the count
  rows: Row[];
}

// Sizes the panel draws at (px): fixed, so that where a row is follows from
// its index, which is what lets the panel draw only the rows in view.
export const ROW_H = 56;
export const HEAD_H = 44;
export const EMPTY_H = 48;
// A long lobby shows its first few, then "Show all": the hand queue and
// everyone else stay within reach of a host's scroll.
export const LOBBY_PREVIEW = 5;

// fold makes a search ignore case and accents: "jose" finds "José".
export function fold(s: string): string {
  return s.normalize("NFD").replace(/\p{M}/gu, "").toLowerCase();
}

// peopleGroups: expanded lists the groups shown whole (a search shows
// every match anyway).
export function peopleGroups(src: PeopleSource, query = "", expanded: ReadonlySet<string> = new Set()): Group[] {
  const q = fold(query.trim());
  const hit = (name: string) => !q || fold(name).includes(q);
  const room = src.room;
  const out: Group[] = [];
  if (src.isModerator && room.lobby.size > 0) {
    const guests = [...room.lobby.values()].sort((a, b) => a.knockedAt - b.knockedAt || a.id.localeCompare(b.id));
    let rows: Row[] = guests.filter((g) => hit(g.name)).map((g) => ({ kind: "guest", key: `g:${g.id}`, g }));
    if (!q && !expanded.has("lobby") && rows.length > LOBBY_PREVIEW + 1) {
      rows = [...rows.slice(0, LOBBY_PREVIEW), { kind: "more", key: "more:lobby", group: "lobby", hidden: rows.length - LOBBY_PREVIEW }];
    }
    out.push({ key: "lobby", label: "Waiting to join", title: `Waiting to join (${guests.length})`, rows });
  }
  const people = room.sortedParticipants();
  const hands = people.filter((p) => p.handRaised)
    .sort((a, b) => (a.handRaisedAt ?? Infinity) - (b.handRaisedAt ?? Infinity) || a.joinedAt - b.joinedAt || a.id.localeCompare(b.id));
  if (hands.length > 0) {
    const rows: Row[] = [];
    hands.forEach((p, i) => { if (hit(p.name)) rows.push({ kind: "hand", key: `h:${p.id}`, p, place: i + 1 }); });
    out.push({ key: "hands", label: "Raised hands", title: `Raised hands (${hands.length})`, rows });
  }
  const rows: Row[] = people.filter((p) => hit(p.name)).map((p) => ({ kind: "person", key: `p:${p.id}`, p }));
  out.push({ key: "people", label: "In the meeting", title: `In the meeting (${people.length})`, rows });
  return out;
}

// groupHeight is a group's height as drawn: its heading, its rows, or a
// line saying nothing matches.
export function groupHeight(g: Group): number {
  return HEAD_H + (g.rows.length ? g.rows.length * ROW_H : EMPTY_H);
}

// visibleRows is the range of a group's rows [from, to) that fall inside
// the viewport [top, top+height) when the group starts at y, with a few
// rows either side so that a quick scroll shows no blank.
export function visibleRows(g: Group, y: number, top: number, height: number, overscan = 4): [number, number] {
  const first = Math.floor((top - y - HEAD_H) / ROW_H) - overscan;
  const last = Math.ceil((top + height - y - HEAD_H) / ROW_H) + overscan;
  return [Math.max(0, first), Math.min(g.rows.length, Math.max(0, last))];
}
