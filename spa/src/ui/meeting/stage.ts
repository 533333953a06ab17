// The stage's plan: which tiles a layout shows, which one is large, and
// what is left for "N others" or the next page. Pure, so that it is tested
// without a browser and so that what is on screen (and at what size) is
// one function of the room, not of the DOM.

export type LayoutMode = "auto" | "tiled" | "spotlight" | "sidebar";
export const layoutModes: { mode: LayoutMode; label: string; hint: string }[] = [
  { mode: "auto", label: "Auto", hint: "Let veet choose: a grid, or what is presented with people beside it" },
  { mode: "tiled", label: "Tiled", hint: "Everyone the same size, in pages" },
  { mode: "spotlight", label: "Spotlight", hint: "Only the speaker, the pinned person or the presentation" },
  { mode: "sidebar", label: "Sidebar", hint: "The speaker or presentation large, others beside it" },
];

export interface StageItem {
  key: string; // participant id, or "<id>/screen" for a presentation
  pid: string;
  screen: boolean;
  video: boolean;
  self: boolean;
}

export interface StagePlan {
  arrangement: "grid" | "sidebar" | "spotlight";
  main: StageItem[]; // shown large (sidebar, spotlight)
  tiles: StageItem[]; // the grid's page, or the sidebar's column
  others: number; // not shown on this page: an "N others" tile when > 0 (not in tiled)
  page: number; // 0-based, tiled only
  pages: number;
}

export interface PlanInput {
  mode: LayoutMode;
  items: StageItem[]; // presentations first, then people in stage order
  pinned: string | null;
  speaker: string | null; // the loudest other participant now, or lately
  hideNoVideo: boolean;
  page: number;
  // How many tiles fit: in a grid page, and in a sidebar's column.
  gridCapacity: number;
  sideCapacity: number;
}

// AUTO_MAX is what Meet's auto layout shows at most (the rest "N others").
export const AUTO_MAX = 9;

export function planStage(i: PlanInput): StagePlan {
  let items = i.items;
  if (i.hideNoVideo) items = items.filter((x) => x.video || x.screen || x.self || x.key === i.pinned);
  const pinned = items.find((x) => x.key === i.pinned) ?? null;
  const focus = pinned ?? items.find((x) => x.screen) ?? items.find((x) => x.pid === i.speaker && !x.screen)
    ?? items.find((x) => !x.self) ?? items[0] ?? null;
  const none: StagePlan = { arrangement: "grid", main: [], tiles: [], others: 0, page: 0, pages: 1 };
  if (!focus) return none;
  const rest = (main: StageItem) => items.filter((x) => x !== main);
  const column = (list: StageItem[], cap: number) => {
    cap = Math.max(1, cap);
    if (list.length <= cap) return { tiles: list, others: 0 };
    return { tiles: list.slice(0, cap - 1), others: list.length - (cap - 1) };
  };

  switch (i.mode) {
    case "spotlight":
      return { ...none, arrangement: "spotlight", main: [focus], others: items.length - 1 };
    case "sidebar": {
      const c = column(rest(focus), i.sideCapacity);
      return { ...none, arrangement: "sidebar", main: [focus], ...c };
    }
    case "tiled": {
      // Pinned first; pages of what fits; no "N others", the pager says it.
      const list = pinned ? [pinned, ...rest(pinned)] : items;
      const cap = Math.max(1, i.gridCapacity);
      const pages = Math.max(1, Math.ceil(list.length / cap));
      const page = Math.min(Math.max(0, i.page), pages - 1);
      return { ...none, tiles: list.slice(page * cap, (page + 1) * cap), page, pages };
    }
    case "auto":
    default: {
      if (pinned || items.some((x) => x.screen)) {
        const c = column(rest(focus), i.sideCapacity);
        return { ...none, arrangement: "sidebar", main: [focus], ...c };
      }
      return { ...none, ...column(items, Math.min(AUTO_MAX, i.gridCapacity)) };
    }
  }
}

// gridCapacity is how many tiles of at least minW wide fit in w×h (16:9,
// gap between), at most max: a tiled page.
export function gridCapacity(w: number, h: number, minW = 200, max = 49, gap = 8): number {
  const minH = (minW * 9) / 16;
  const cols = Math.max(1, Math.floor((w + gap) / (minW + gap)));
  const rows = Math.max(1, Math.floor((h + gap) / (minH + gap)));
  return Math.max(1, Math.min(max, cols * rows));
}

// promote keeps the stage's order stable and brings a speaker into view:
// order is the people's keys as shown; a speaker beyond the first `shown`
// takes the place of the shown one who spoke longest ago (never yourself
// or the pinned one). It answers the new order.
export function promote(order: string[], shown: number, speaker: string | null, lastSpoke: Map<string, number>, keep: Set<string>): string[] {
  if (!speaker) return order;
  const at = order.indexOf(speaker);
  if (at < 0 || at < shown) return order;
  let victim = -1;
  for (let j = 0; j < Math.min(shown, order.length); j++) {
    if (keep.has(order[j])) continue;
    if (victim < 0 || (lastSpoke.get(order[j]) ?? 0) < (lastSpoke.get(order[victim]) ?? 0)) victim = j;
  }
  if (victim < 0) return order;
  const out = [...order];
  [out[victim], out[at]] = [out[at], out[victim]];
  return out;
}
