/**
 * The depthwise 3x3 convolution behind the convolutional position encodings
 * (PEG/CPE and LePE), on channel-last grids: zero padding 1, stride 1, one
 * 3x3 filter and one bias per channel (PyTorch `nn.Conv2d(C, C, 3, 1, 1,
 * groups=C)`, a cross-correlation), optionally restricted to windows:
 *
 *   y[b, h, w, c] = bias[c] + sum_{i, j in 0..2} weight[c, i, j] x[b, h + i - 1, w + j - 1, c] m_ij[h, w]
 *
 * with x = 0 outside the grid, and m_ij[h, w] = 1 when the neighbour lies in
 * the same window as (h, w) (windows of wh x ww cells cut from the top-left
 * corner), else 0; without windows m = 1. With windows this is the
 * convolution run on each window on its own, zero-padded at the window border.
 *
 * It is computed as nine shifted multiply-adds, not with
 * `lax.convGeneralDilated`: on WebGPU, jax-js 0.1.25's convolution reads some
 * strided views wrongly (windows cut out of a (2, 6, 6, C) grid by reshape and
 * transpose gave O(1) errors, eager and under jit), while elementwise kernels
 * on views are exact, and the shifted form needs no window reshuffle at all.
 *
 * Reference: Chu et al., "Conditional Positional Encodings for Vision
 * Transformers", https://arxiv.org/abs/2102.10882 (PEG); Dong et al.,
 * "CSWin Transformer", https://arxiv.org/abs/2107.00652 (LePE).
 */
import { numpy as np } from "@jax-js/jax";

/** Windows of windowHeight x windowWidth cells, cut from the top-left corner of the grid. */
export interface ConvWindows {
  windowHeight: number;
  windowWidth: number;
}

/**
 * x: (B, H, W, C); weight: (C, 3, 3) (PyTorch's (C, 1, 3, 3) without the
 * singleton); bias: (C). Returns (B, H, W, C). Consumes x, weight and bias.
 * Shapes are the caller's to check.
 */
export function depthwiseConv3x3(x: np.Array, weight: np.Array, bias: np.Array, windows?: ConvWindows): np.Array {
  const [, H, W, C] = x.shape;
  const padded = np.pad(x, [
    [0, 0],
    [1, 1],
    [1, 1],
    [0, 0],
  ]); // (B, H+2, W+2, C)
  let out: np.Array = bias.reshape([1, 1, 1, C]);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      const mask = windows ? windowMask(H, W, i - 1, j - 1, windows) : null;
      if (mask === "none") continue;
      const tap = padded.ref.slice([], [i, i + H], [j, j + W], []); // x[b, h + i - 1, w + j - 1, c]: (B, H, W, C)
      let term = np.multiply(tap, weight.ref.slice([], [i, i + 1], [j, j + 1]).reshape([1, 1, 1, C]));
      if (mask) term = np.multiply(term, np.array(mask, { dtype: x.dtype }).reshape([1, H, W, 1]));
      out = np.add(out, term);
    }
  }
  padded.dispose();
  weight.dispose();
  return out; // (B, H, W, C)
}

/**
 * m[h, w] = 1 where (h + dy, w + dx) is in the same window as (h, w); null
 * when that holds everywhere, "none" when nowhere.
 */
function windowMask(H: number, W: number, dy: number, dx: number, g: ConvWindows): number[] | null | "none" {
  const m = new Array<number>(H * W).fill(0);
  let ones = 0;
  for (let h = 0; h < H; h++) {
    for (let w = 0; w < W; w++) {
      const same =
        Math.floor(h / g.windowHeight) === Math.floor((h + dy) / g.windowHeight) &&
        Math.floor(w / g.windowWidth) === Math.floor((w + dx) / g.windowWidth);
      if (same) {
        m[h * W + w] = 1;
        ones++;
      }
    }
  }
  return ones === H * W ? null : ones === 0 ? "none" : m;
}
