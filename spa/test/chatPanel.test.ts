// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { ChatPanel } from "../src/ui/meeting/chat";
import type { MeetingClient } from "../src/client/meeting";

// A host's chat switch: the change comes back later (in the node's next
// presence batch), and a render in between must not flip it back.
describe("ChatPanel's chat switch", () => {
  it("keeps the host's choice until the room says so", async () => {
    let sent: boolean | null = null;
    const c = {
      isModerator: true,
      you: { id: "p_host" },
      room: { chatDisabled: false },
      chat: { messages: [], more: false, oldestId: 0, markRead() {} },
      setChatEnabled: async (on: boolean) => { sent = on; },
      loadChat: async () => ({ ok: true, oldest: 0, more: false }),
      sendChat: async () => {},
    };
    const panel = new ChatPanel(c as unknown as MeetingClient, () => {});
    panel.render();
    const sw = panel.el.querySelector<HTMLInputElement>('input[role="switch"]')!;
    expect(sw.checked).toBe(true);
    sw.checked = false;
    sw.dispatchEvent(new Event("change"));
    expect(sent).toBe(false);
    panel.render(); // another presence change arrives first
    expect(sw.checked).toBe(false);
    c.room.chatDisabled = true; // the change itself
    panel.render();
    expect(sw.checked).toBe(false);
    c.room.chatDisabled = false; // another host turns it back on
    panel.render();
    expect(sw.checked).toBe(true);
  });
});
