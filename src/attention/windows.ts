/**
 * Rectangular windows over a token grid: (B, H*W, C) tokens, row-major over
 * an H x W grid, cut into windows of wh x ww cells (CSWin's `img2windows` /
 * `windows2img`, with windows ordered row-major over the grid and cells
 * row-major inside each window).
 *
 * When H or W is not a multiple of the window, the grid is padded with zeros
 * at the bottom and the right up to the next multiple: the last row/column of
 * windows is then partly padding. `windowValidity` says which cells are real,
 * and `fromWindows` drops the padded cells again.
 *
 * Reference: microsoft/CSWin-Transformer models/cswin.py `img2windows`,
 * `windows2img` (https://github.com/microsoft/CSWin-Transformer)
 */
import { numpy as np } from "@jax-js/jax";

export interface WindowGrid {
  /** Grid rows H. */
  height: number;
  /** Grid columns W. */
  width: number;
  /** Window rows wh. */
  windowHeight: number;
  /** Window columns ww. */
  windowWidth: number;
}

/** Windows down (nH) and across (nW), and the zero rows/columns added. */
export function windowCounts(g: WindowGrid): { down: number; across: number; padHeight: number; padWidth: number } {
  const down = Math.ceil(g.height / g.windowHeight);
  const across = Math.ceil(g.width / g.windowWidth);
  return { down, across, padHeight: down * g.windowHeight - g.height, padWidth: across * g.windowWidth - g.width };
}

/** (B, H*W, C) -> (B*nH*nW, wh, ww, C), zero-padded. Consumes x. */
export function toWindows(x: np.Array, g: WindowGrid): np.Array {
  const [B, , C] = x.shape;
  const { down, across, padHeight, padWidth } = windowCounts(g);
  let grid = x.reshape([B, g.height, g.width, C]); // (B, H, W, C)
  if (padHeight > 0 || padWidth > 0)
    grid = np.pad(grid, [
      [0, 0],
      [0, padHeight],
      [0, padWidth],
      [0, 0],
    ]); // (B, Hp, Wp, C)
  const w = grid.reshape([B, down, g.windowHeight, across, g.windowWidth, C]);
  return np.transpose(w, [0, 1, 3, 2, 4, 5]).reshape([B * down * across, g.windowHeight, g.windowWidth, C]);
}

/** (B*nH*nW, wh, ww, C) -> (B, H*W, C), padded cells dropped. Consumes w. */
export function fromWindows(w: np.Array, g: WindowGrid): np.Array {
  const C = w.shape[3];
  const { down, across, padHeight, padWidth } = windowCounts(g);
  const B = w.shape[0] / (down * across);
  const grid = np.transpose(w.reshape([B, down, across, g.windowHeight, g.windowWidth, C]), [0, 1, 3, 2, 4, 5]);
  let full = grid.reshape([B, down * g.windowHeight, across * g.windowWidth, C]); // (B, Hp, Wp, C)
  if (padHeight > 0 || padWidth > 0) full = full.slice([], [0, g.height], [0, g.width], []); // (B, H, W, C)
  return full.reshape([B, g.height * g.width, C]);
}

/** For each window (row-major) and cell (row-major), whether it lies inside the grid: nH*nW*wh*ww flags. */
export function windowValidity(g: WindowGrid): boolean[] {
  const { down, across } = windowCounts(g);
  const out: boolean[] = [];
  for (let i = 0; i < down; i++) {
    for (let j = 0; j < across; j++) {
      for (let r = 0; r < g.windowHeight; r++) {
        for (let c = 0; c < g.windowWidth; c++) out.push(i * g.windowHeight + r < g.height && j * g.windowWidth + c < g.width);
      }
    }
  }
  return out;
}
