/**
 * Positional encoding generator (PEG) of conditional positional encodings
 * (CPE), differentiable on jax-js arrays: tokens on an H x W grid go through
 * a depthwise 3x3 convolution (zero padding 1, stride 1, with bias) that is
 * added back to them,
 *
 *   out[b, n, c] = x[b, n, c] + bias[c] + sum_{i, j in 0..2} weight[c, i, j] x[b, (h + i - 1) W + (w + j - 1), c]
 *
 * for token n = h W + w (zero outside the grid). timm's Twins `PosConv` with
 * stride 1; `pe/peg` is its float64 reference.
 *
 * Reference: Chu et al., "Conditional Positional Encodings for Vision
 * Transformers" (ICLR 2023), https://arxiv.org/abs/2102.10882; timm
 * models/twins.py `PosConv` (https://github.com/huggingface/pytorch-image-models)
 */
import { numpy as np } from "@jax-js/jax";
import { integerArg, reject, shapeOf } from "../core/shapes.js";
import { depthwiseConv3x3 } from "./depthwiseConv.js";

export interface TokenGrid {
  height: number;
  width: number;
}

/**
 * x: (B, H*W, C) tokens, row-major over the grid; weight: (C, 3, 3) (timm's
 * `proj[0].weight` (C, 1, 3, 3) without the singleton); bias: (C).
 * Returns (B, H*W, C). Consumes x, weight and bias.
 */
export function peg(x: np.Array, weight: np.Array, bias: np.Array, grid: TokenGrid): np.Array {
  const fn = "pegLayer";
  const args = [x, weight, bias];
  const H = integerArg(fn, args, "grid.height", grid?.height, 1);
  const W = integerArg(fn, args, "grid.width", grid?.width, 1);
  const [B, N, C] = x.shape;
  if (x.ndim !== 3 || N !== H * W) reject(fn, args, `x must be (B, H * W, C) = (B, ${H * W}, C) for grid ${H}x${W}, got ${shapeOf(x)}`);
  if (weight.ndim !== 3 || weight.shape[0] !== C || weight.shape[1] !== 3 || weight.shape[2] !== 3) {
    reject(fn, args, `weight must be (C, 3, 3) = (${C}, 3, 3), got ${shapeOf(weight)}`);
  }
  if (bias.ndim !== 1 || bias.shape[0] !== C) reject(fn, args, `bias must be (C) = (${C}), got ${shapeOf(bias)}`);
  const conv = depthwiseConv3x3(x.ref.reshape([B, H, W, C]), weight, bias); // (B, H, W, C)
  return np.add(x, conv.reshape([B, N, C])); // (B, N, C)
}
