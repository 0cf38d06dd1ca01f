/**
 * Locally-enhanced positional encoding (LePE) of CSWin: a depthwise 3x3
 * convolution of the values V, computed inside each attention window (the
 * window is zero-padded by the convolution, so no value crosses a window
 * border), and added to the attention output:
 *
 *   Attention(Q, K, V) = softmax(Q K^T / sqrt(d)) V + LePE(V)
 *   LePE(V)[b, n, c] = bias[c] + sum_{i, j in 0..2} weight[c, i, j] V[b, n(h + i - 1, w + j - 1), c]
 *
 * where token n = (h, w) and the neighbour counts only if it lies in the same
 * window and inside the grid (else 0). This is the official `get_lepe`
 * (windows cut by `img2windows`, `get_v` = `nn.Conv2d(C, C, 3, padding=1,
 * groups=C)` per window), returned in token order instead of window order.
 *
 * Windows that do not divide the grid: the grid is cut from the top-left,
 * the last windows are truncated (see `windows.ts`); LePE of a truncated
 * window is the same convolution with zero padding at the truncated border.
 *
 * Reference: Dong et al., "CSWin Transformer: A General Vision Transformer
 * Backbone with Cross-Shaped Windows" (CVPR 2022), https://arxiv.org/abs/2107.00652,
 * section 3.3; microsoft/CSWin-Transformer models/cswin.py `LePEAttention.get_lepe`.
 */
import type { numpy as np } from "@jax-js/jax";
import { integerArg, reject, shapeOf } from "../core/shapes.js";
import { depthwiseConv3x3 } from "./depthwiseConv.js";
import type { WindowGrid } from "./windows.js";

/**
 * v: (B, H*W, C) values, row-major over the grid; weight: (C, 3, 3); bias:
 * (C); windows of windowHeight x windowWidth cells (a window larger than the
 * grid covers the whole grid). Returns LePE(v), (B, H*W, C). Consumes v,
 * weight and bias.
 */
export function lepe(v: np.Array, weight: np.Array, bias: np.Array, windows: WindowGrid): np.Array {
  const fn = "lepe";
  const args = [v, weight, bias];
  const H = integerArg(fn, args, "windows.height", windows?.height, 1);
  const W = integerArg(fn, args, "windows.width", windows?.width, 1);
  const wh = integerArg(fn, args, "windows.windowHeight", windows?.windowHeight, 1);
  const ww = integerArg(fn, args, "windows.windowWidth", windows?.windowWidth, 1);
  const C = v.shape[2];
  if (v.ndim !== 3 || v.shape[1] !== H * W)
    reject(fn, args, `v must be (B, H * W, C) = (B, ${H * W}, C) for grid ${H}x${W}, got ${shapeOf(v)}`);
  if (weight.ndim !== 3 || weight.shape[0] !== C || weight.shape[1] !== 3 || weight.shape[2] !== 3) {
    reject(fn, args, `weight must be (C, 3, 3) = (${C}, 3, 3), got ${shapeOf(weight)}`);
  }
  if (bias.ndim !== 1 || bias.shape[0] !== C) reject(fn, args, `bias must be (C) = (${C}), got ${shapeOf(bias)}`);
  return windowedLepe(v, weight, bias, { height: H, width: W, windowHeight: Math.min(wh, H), windowWidth: Math.min(ww, W) });
}

/** `lepe` without the checks, for callers that validated already. */
export function windowedLepe(v: np.Array, weight: np.Array, bias: np.Array, g: WindowGrid): np.Array {
  const [B, N, C] = v.shape;
  const conv = depthwiseConv3x3(v.reshape([B, g.height, g.width, C]), weight, bias, g); // (B, H, W, C)
  return conv.reshape([B, N, C]);
}
