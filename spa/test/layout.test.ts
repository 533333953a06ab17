import { describe, expect, it } from "vitest";
import { gridLayout, MAX_TILES } from "../src/ui/layout";

describe("gridLayout", () => {
  it("one tile fills a wide stage by height", () => {
    const g = gridLayout(1, 1600, 900);
    expect(g).toMatchObject({ cols: 1, rows: 1, tileW: 1600, tileH: 900 });
  });

  it("two tiles sit side by side on a wide stage and stack on a tall one", () => {
    expect(gridLayout(2, 1280, 640).cols).toBe(2);
    expect(gridLayout(2, 400, 800).cols).toBe(1);
  });

  it("six tiles make 3×2 on a laptop stage", () => {
    expect(gridLayout(6, 1264, 624)).toMatchObject({ cols: 3, rows: 2 });
  });

  it("tiles always fit inside the stage", () => {
    for (const n of [1, 2, 3, 5, 8, 13, 24, 49]) {
      for (const [w, h] of [[1264, 624], [800, 1200], [360, 560]]) {
        const g = gridLayout(n, w, h);
        expect(g.cols * g.rows).toBeGreaterThanOrEqual(n);
        expect(g.cols * g.tileW + (g.cols - 1) * 8).toBeLessThanOrEqual(w);
        expect(g.rows * g.tileH + (g.rows - 1) * 8).toBeLessThanOrEqual(h);
      }
    }
  });

  it("49 is a 7×7 wall and more tiles are laid out as 49", () => {
    expect(gridLayout(49, 1600, 900)).toMatchObject({ cols: 7, rows: 7 });
    expect(gridLayout(120, 1600, 900)).toEqual(gridLayout(MAX_TILES, 1600, 900));
  });
});
