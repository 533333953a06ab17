// @vitest-environment happy-dom
import { describe, expect, it, vi } from "vitest";
import { RoomState } from "../src/client/roomState";
import type { Guest, Participant } from "../src/client/protocol";
import { PeoplePanel, type PeopleActions } from "../src/ui/meeting/people";
import { HEAD_H, ROW_H } from "../src/ui/meeting/peopleModel";

// A meeting of 1,000 with 200 waiting and 10 hands up, as a host sees it.
function bigMeeting() {
  const room = new RoomState();
  const participants: Participant[] = Array.from({ length: 1000 }, (_, i) => ({
    id: `p_${String(i).padStart(12, "0")}`, name: `Person ${String(i).padStart(4, "0")}`, role: i === 0 ? "host" : "participant",
    micOn: i % 3 === 0, camOn: true, screenOn: false, handRaised: i > 0 && i <= 10, handRaisedAt: i > 0 && i <= 10 ? 5000 - i : undefined, joinedAt: i,
  }));
  const lobby: Guest[] = Array.from({ length: 200 }, (_, i) => ({ id: `p_g${String(i).padStart(11, "0")}`, name: `Guest ${String(i).padStart(3, "0")}`, knockedAt: i }));
  room.applySnapshot({ code: "abc-defg-hij", title: "", locked: false, seq: 1, participants, lobby }, true);
  const src: PeopleActions = {
    room, you: participants[0], isModerator: true, isHost: true,
    admit: vi.fn(async () => {}), admitAll: vi.fn(async () => {}), deny: vi.fn(async () => {}), mute: vi.fn(async () => {}),
    muteAll: vi.fn(async () => {}), remove: vi.fn(async () => {}), lock: vi.fn(async () => {}), setRole: vi.fn(async () => {}),
    setChatEnabled: vi.fn(async () => {}), lowerHands: vi.fn(async () => {}), setHand: vi.fn(async () => {}), end: vi.fn(async () => {}),
  };
  const panel = new PeoplePanel(src, () => {});
  document.body.append(panel.el);
  panel.el.hidden = false;
  const scroller = panel.el.querySelector<HTMLElement>(".people-scroll")!;
  return { room, src, panel, scroller, participants };
}

const names = (el: HTMLElement, group: string) =>
  [...el.querySelectorAll(`[data-group="${group}"] li .person-name`)].map((n) => n.textContent);

describe("PeoplePanel at 1,000 participants", () => {
  it("draws only the rows in view, and the whole list's height", () => {
    const { panel, scroller } = bigMeeting();
    panel.render();
    // A 640 px viewport holds about a dozen 56 px rows; a few more either side.
    expect(panel.rowCount).toBeGreaterThan(5);
    expect(panel.rowCount).toBeLessThan(30);
    const canvas = panel.el.querySelector<HTMLElement>(".people-canvas")!;
    // The lobby shows its first five and "Show all"; then the hands, everyone.
    expect(canvas.style.height).toBe(`${3 * HEAD_H + (6 + 10 + 1000) * ROW_H}px`);
    expect(names(panel.el, "lobby")).toEqual(["Guest 000", "Guest 001", "Guest 002", "Guest 003", "Guest 004"]);
    expect(panel.el.querySelector('[data-group="lobby"] h3')!.textContent).toBe("Waiting to join (200)");
    expect(names(panel.el, "hands").slice(0, 2)).toEqual(["Person 0010", "Person 0009"]); // within a 640 px view

    // Scrolled to the middle of everyone: those rows, and only those.
    const peopleTop = (HEAD_H + 6 * ROW_H) + (HEAD_H + 10 * ROW_H) + HEAD_H;
    scroller.scrollTop = peopleTop + 500 * ROW_H;
    panel.render();
    const shown = names(panel.el, "people");
    expect(shown).toContain("Person 0500");
    expect(shown).not.toContain("Person 0000");
    expect(shown).not.toContain("Person 0999");
    expect(names(panel.el, "lobby")).toEqual([]);
    expect(panel.rowCount).toBeLessThan(30);

    // "Show all" puts the whole lobby in the list, still drawn in view only.
    scroller.scrollTop = 0;
    panel.render();
    panel.el.querySelector<HTMLButtonElement>(".more-row button")!.click();
    expect(canvas.style.height).toBe(`${3 * HEAD_H + (200 + 10 + 1000) * ROW_H}px`);
    scroller.scrollTop = HEAD_H + 150 * ROW_H;
    panel.render();
    expect(names(panel.el, "lobby")).toContain("Guest 150");
    expect(panel.rowCount).toBeLessThan(30);
  });

  it("orders raised hands by when they went up; a search narrows every group", () => {
    const { panel, src } = bigMeeting();
    panel.render();
    // Person 10's hand went up first (handRaisedAt 4990).
    expect(names(panel.el, "hands").slice(0, 3)).toEqual(["Person 0010", "Person 0009", "Person 0008"]);
    panel.el.querySelector<HTMLButtonElement>('[data-group="hands"] .section-head button')!.click();
    expect(src.lowerHands).toHaveBeenCalledWith();
    panel.el.querySelector<HTMLButtonElement>('[data-group="lobby"] .section-head button')!.click();
    expect(src.admitAll).toHaveBeenCalled();

    const search = panel.el.querySelector<HTMLInputElement>('input[type="search"]')!;
    search.value = "person 0777";
    search.dispatchEvent(new Event("input"));
    expect(names(panel.el, "people")).toEqual(["Person 0777"]);
    expect(names(panel.el, "lobby")).toEqual([]);
    expect(panel.el.querySelector('[data-group="lobby"] .people-empty')!.hasAttribute("hidden")).toBe(false);
    search.value = "guest 19";
    search.dispatchEvent(new Event("input"));
    expect(names(panel.el, "lobby")).toEqual([...Array(10)].map((_, i) => `Guest 19${i}`));
  });

  it("rebuilds only a row whose person changed", () => {
    const { panel, room, participants, scroller } = bigMeeting();
    scroller.scrollTop = (HEAD_H + 6 * ROW_H) + (HEAD_H + 10 * ROW_H);
    panel.render();
    const row = (id: string) => panel.el.querySelector(`[data-group="people"] li[data-participant="${id}"]`);
    const [a, b] = [participants[1], participants[2]];
    const before = [row(a.id), row(b.id)];
    expect(before.every(Boolean)).toBe(true);
    room.apply({ type: "participant_updated", seq: 2, participant: { ...b, micOn: !b.micOn } });
    panel.render();
    expect(row(a.id)).toBe(before[0]);
    expect(row(b.id)).not.toBe(before[1]);
  });
});
