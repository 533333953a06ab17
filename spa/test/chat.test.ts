import { describe, expect, it } from "vitest";
import { ChatLog } from "../src/client/chat";
import type { ChatMessage } from "../src/client/protocol";

const msg = (id: number, from = "p_other"): ChatMessage => ({ id, from, name: "N", text: `#${id}`, at: id });

describe("ChatLog", () => {
  it("keeps messages once, in id order, and counts others' as unread", () => {
    const log = new ChatLog();
    expect(log.add(msg(10), "p_me")).toEqual({ added: true, gapBefore: 0 });
    expect(log.add(msg(11, "p_me"), "p_me").added).toBe(true);
    expect(log.add(msg(10), "p_me").added).toBe(false); // the reply and a history page
    expect(log.unread).toBe(1);
    log.markRead();
    expect(log.add(msg(14), "p_me")).toEqual({ added: true, gapBefore: 14 }); // 12 and 13 were missed
    log.merge([msg(12), msg(13)], false, "p_me");
    expect(log.messages.map((m) => m.id)).toEqual([10, 11, 12, 13, 14]);
    expect(log.unread).toBe(1); // the fill-in is older than what we had: not news
  });

  it("a history page after a drop brings what was said meanwhile as unread", () => {
    const log = new ChatLog();
    log.merge([msg(1), msg(2)], true, "p_me");
    expect(log.unread).toBe(0); // a late joiner's history is not news
    expect(log.more).toBe(true);
    log.merge([msg(2), msg(3, "p_me"), msg(4)], true, "p_me");
    expect(log.unread).toBe(1);
    expect(log.more).toBe(true); // that page did not reach below what we had
    log.merge([msg(0)], false, "p_me");
    expect(log.more).toBe(false);
    expect(log.oldestId).toBe(0);
    expect(log.lastId).toBe(4);
  });
});
