export interface GridLayout {
  cols: number;
  rows: number;
  tileW: number;
  tileH: number;
}

export const MAX_TILES = 49;

// gridLayout picks the column count that makes n 16:9 tiles as large as
// possible inside a w×h stage — what Meet's auto layout does: 1 tile fills
// the stage, 2 sit side by side on a wide screen, 49 make a 7×7 wall.
export function gridLayout(n: number, w: number, h: number, gap = 8, aspect = 16 / 9): GridLayout {
  const count = Math.max(1, Math.min(n, MAX_TILES));
  let best: GridLayout = { cols: 1, rows: count, tileW: 0, tileH: 0 };
  for (let cols = 1; cols <= count; cols++) {
    const rows = Math.ceil(count / cols);
    const maxW = (w - gap * (cols - 1)) / cols;
    const maxH = (h - gap * (rows - 1)) / rows;
    if (maxW <= 0 || maxH <= 0) continue;
    const tileW = Math.min(maxW, maxH * aspect);
    if (tileW > best.tileW) best = { cols, rows, tileW: Math.floor(tileW), tileH: Math.floor(tileW / aspect) };
  }
  return best;
}
