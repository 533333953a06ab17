import { describe, expect, it } from "vitest";
import { gridCapacity, planStage, promote, type PlanInput, type StageItem } from "../src/ui/meeting/stage";

const person = (i: number, extra: Partial<StageItem> = {}): StageItem => ({ key: `p${i}`, pid: `p${i}`, screen: false, video: true, self: i === 0, ...extra });
const people = (n: number) => Array.from({ length: n }, (_, i) => person(i));
const base = (items: StageItem[], extra: Partial<PlanInput> = {}): PlanInput =>
  ({ mode: "auto", items, pinned: null, speaker: null, hideNoVideo: false, page: 0, gridCapacity: 25, sideCapacity: 5, ...extra });
const keys = (l: StageItem[]) => l.map((x) => x.key);

describe("planStage", () => {
  it("auto: a grid of up to nine, then N others", () => {
    expect(planStage(base(people(6)))).toMatchObject({ arrangement: "grid", others: 0 });
    const p = planStage(base(people(1000)));
    expect(p.tiles).toHaveLength(8);
    expect(p.others).toBe(992);
  });

  it("auto: a presentation or a pin goes large, the rest beside it", () => {
    const screen = { ...person(3), key: "p3/screen", screen: true };
    const p = planStage(base([screen, ...people(10)]));
    expect(p.arrangement).toBe("sidebar");
    expect(keys(p.main)).toEqual(["p3/screen"]);
    expect(p.tiles).toHaveLength(4);
    expect(p.others).toBe(6);
    expect(keys(planStage(base(people(4), { pinned: "p2" })).main)).toEqual(["p2"]);
  });

  it("tiled: pages of what fits, the pinned one first", () => {
    const p = planStage(base(people(1000), { mode: "tiled", page: 3 }));
    expect(p).toMatchObject({ page: 3, pages: 40, others: 0 });
    expect(keys(p.tiles)[0]).toBe("p75");
    expect(planStage(base(people(30), { mode: "tiled", page: 9 })).page).toBe(1); // clamped
    expect(keys(planStage(base(people(5), { mode: "tiled", pinned: "p4" })).tiles)[0]).toBe("p4");
  });

  it("spotlight: the pinned one, else a presentation, else the speaker, never yourself while others are here", () => {
    expect(keys(planStage(base(people(5), { mode: "spotlight", speaker: "p3" })).main)).toEqual(["p3"]);
    expect(keys(planStage(base(people(5), { mode: "spotlight", speaker: "p3", pinned: "p1" })).main)).toEqual(["p1"]);
    expect(keys(planStage(base(people(5), { mode: "spotlight" })).main)).toEqual(["p1"]);
    expect(keys(planStage(base(people(1), { mode: "spotlight" })).main)).toEqual(["p0"]);
  });

  it("hides tiles without video, except yours and the pinned one", () => {
    const items = [person(0, { video: false }), person(1, { video: false }), person(2), person(3, { video: false })];
    expect(keys(planStage(base(items, { hideNoVideo: true, mode: "tiled", pinned: "p3" })).tiles)).toEqual(["p3", "p0", "p2"]);
  });
});

describe("promote", () => {
  it("brings a speaker into view in place of whoever spoke longest ago, never yourself", () => {
    const order = ["p0", "p1", "p2", "p3", "p4"];
    const spoke = new Map([["p1", 5], ["p2", 1], ["p3", 9]]);
    expect(promote(order, 3, "p4", spoke, new Set(["p0"]))).toEqual(["p0", "p1", "p4", "p3", "p2"]);
    expect(promote(order, 3, "p1", spoke, new Set())).toBe(order); // already in view
  });
});

describe("gridCapacity", () => {
  it("counts the 200 px tiles that fit, at most 49", () => {
    expect(gridCapacity(1264, 624)).toBe(30);
    expect(gridCapacity(100, 100)).toBe(1);
    expect(gridCapacity(10_000, 10_000)).toBe(49);
  });
});
