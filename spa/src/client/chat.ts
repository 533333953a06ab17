import type { ChatMessage, ParticipantID } from "./protocol";

// The most messages a tab keeps: the server keeps 100 (PROTOCOL.md, Chat);
// a long meeting's chat beyond that is not worth a tab's memory.
const KEEP = 500;

// ChatLog is one participant's copy of the meeting's chat: the messages by
// id, oldest first. Ids grow by one per message in the meeting, so a message
// that skips ids says some were missed (a lost push, a drop): the meeting
// asks for the history before it (gapBefore) and merges it in. Messages
// may arrive twice (the reply and a history page): an id is kept once.
export class ChatLog {
  messages: ChatMessage[] = [];
  // Older messages are kept on the server than the oldest one here.
  more = false;
  // Messages from others that arrived while nobody was looking.
  unread = 0;
  private ids = new Set<number>();

  get lastId(): number {
    return this.messages.length ? this.messages[this.messages.length - 1].id : 0;
  }

  get oldestId(): number {
    return this.messages.length ? this.messages[0].id : 0;
  }

  // add takes a live message; it reports whether it is new, and the id to
  // ask the history before when messages were skipped (0 = none).
  add(m: ChatMessage, you?: ParticipantID): { added: boolean; gapBefore: number } {
    const last = this.lastId;
    if (!this.insert(m)) return { added: false, gapBefore: 0 };
    if (m.from !== you) this.unread++;
    return { added: true, gapBefore: last > 0 && m.id > last + 1 ? m.id : 0 };
  }

  // merge takes a history page. Messages newer than what was here are news
  // (they came while we were away) and count as unread; older ones fill in.
  merge(page: ChatMessage[], more: boolean, you?: ParticipantID): number {
    const last = this.lastId;
    const hadAny = this.messages.length > 0;
    let n = 0;
    for (const m of page) {
      if (!this.insert(m)) continue;
      n++;
      if (hadAny && m.id > last && m.from !== you) this.unread++;
    }
    // A page that reaches below what we have says whether even older ones exist.
    if (page.length && (!hadAny || page[0].id <= this.oldestId)) this.more = more;
    return n;
  }

  markRead(): void {
    this.unread = 0;
  }

  private insert(m: ChatMessage): boolean {
    if (this.ids.has(m.id)) return false;
    this.ids.add(m.id);
    const list = this.messages;
    let i = list.length;
    while (i > 0 && list[i - 1].id > m.id) i--;
    list.splice(i, 0, m);
    if (list.length > KEEP) {
      for (const old of list.splice(0, list.length - KEEP)) this.ids.delete(old.id);
      this.more = true;
    }
    return true;
  }
}
