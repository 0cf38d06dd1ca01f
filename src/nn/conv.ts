/**
 * Dense 2-D convolution on channel-last grids, as patch extraction (im2col)
 * followed by a Linear layer:
 *
 *   y[b, o, r, :] = b + sum_{i, j < k} x[b, s o + i - q, s r + j - q, :] W[(i k + j) Cin : (i k + j + 1) Cin, :]
 *
 * with kernel k, stride s, zero padding q and output size
 * Ho = floor((H + 2q - k) / s) + 1 (PyTorch `nn.Conv2d` arithmetic). W is
 * (k k Cin, Cout), rows ordered (i, j, c): PyTorch's (Cout, Cin, k, k) weight
 * permuted to (k, k, Cin, Cout). Non-overlapping patches (k = s, q = 0, a
 * grid divisible by k) are a plain reshape; other convolutions gather the
 * k^2 taps as shifted slices and pick every s-th row and column by a reshape.
 * `lax.convGeneralDilated` is not used: on WebGPU jax-js 0.1.25 reads some
 * strided views wrongly (see src/attention/depthwiseConv.ts).
 *
 * Initialisation as PyTorch's Conv2d: W and b ~ U(-1/sqrt(k k Cin), 1/sqrt(k k Cin)),
 * which is `initLinear` with fan-in k k Cin.
 *
 * Reference: https://pytorch.org/docs/stable/generated/torch.nn.Conv2d.html;
 * Dosovitskiy et al. (2021) patch embedding, https://arxiv.org/abs/2010.11929
 */
import { type DType, numpy as np } from "@jax-js/jax";
import { reject, shapeOf } from "../core/shapes.js";
import { fail, integer } from "../core/validate.js";
import type { Rng } from "../pe/random.js";
import { initLinear, type LinearParams, linear } from "./linear.js";

/** A square convolution: kernel k, stride s, zero padding q on every side. */
export interface ConvConfig {
  kernel: number;
  stride: number;
  padding: number;
}

/** Output size of one axis: floor((size + 2 padding - kernel) / stride) + 1. */
export function convOutputSize(fn: string, size: number, conv: ConvConfig): number {
  const out = Math.floor((size + 2 * conv.padding - conv.kernel) / conv.stride) + 1;
  if (out < 1) fail(fn, `a grid of ${size} cells is smaller than the kernel ${conv.kernel} with padding ${conv.padding}`);
  return out;
}

/** Weights (k k Cin, Cout) and bias (Cout), initialised as PyTorch's Conv2d. */
export function initConv(r: Rng, inChannels: number, outChannels: number, conv: ConvConfig, dtype: DType = np.float32): LinearParams {
  const fn = "initConv";
  integer(fn, "conv.kernel", conv.kernel, 1);
  integer(fn, "conv.stride", conv.stride, 1);
  integer(fn, "conv.padding", conv.padding, 0);
  return initLinear(r, conv.kernel * conv.kernel * inChannels, outChannels, { dtype });
}

/**
 * x (B, H, W, C) -> (B, Ho, Wo, k k C), each output cell's receptive field
 * flattened in (i, j, c) order; errors name `fn`, the public caller. Consumes x.
 */
export function patches(x: np.Array, conv: ConvConfig, fn = "patches"): np.Array {
  if (x.ndim !== 4) reject(fn, [x], `x must be (B, H, W, C), got ${shapeOf(x)}`);
  const [B, H, W, C] = x.shape;
  const { kernel: k, stride: s, padding: q } = conv;
  let Ho: number, Wo: number;
  try {
    [Ho, Wo] = [convOutputSize(fn, H, conv), convOutputSize(fn, W, conv)];
  } catch (err) {
    x.dispose();
    throw err;
  }
  if (k === s && q === 0 && H % k === 0 && W % k === 0) {
    const grid = x.reshape([B, Ho, k, Wo, k, C]); // (B, Ho, k, Wo, k, C)
    return grid.transpose([0, 1, 3, 2, 4, 5]).reshape([B, Ho, Wo, k * k * C]); // (B, Ho, Wo, k k C)
  }
  // Tap (i, j) reads padded rows i + s o, o < Ho: the slice [i, i + s Ho) reshaped to (Ho, s), column 0.
  // Extra zero rows/columns at the bottom/right make that slice fit; the picked cells never fall in them.
  const extraH = Math.max(0, k - 1 + s * Ho - (H + 2 * q));
  const extraW = Math.max(0, k - 1 + s * Wo - (W + 2 * q));
  const padded = np.pad(x, [
    [0, 0],
    [q, q + extraH],
    [q, q + extraW],
    [0, 0],
  ]); // (B, Hp, Wp, C)
  const taps: np.Array[] = [];
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      const window = padded.ref.slice([], [i, i + s * Ho], [j, j + s * Wo], []); // (B, s Ho, s Wo, C)
      taps.push(window.reshape([B, Ho, s, Wo, s, C]).slice([], [], 0, [], 0, [])); // (B, Ho, Wo, C)
    }
  }
  padded.dispose();
  return taps.length === 1 ? taps[0] : np.concatenate(taps, -1); // (B, Ho, Wo, k k C)
}

/** y = patches(x) W + b: (B, H, W, Cin) -> (B, Ho, Wo, Cout). Borrows the parameters, consumes x. */
export function conv2d(p: LinearParams, x: np.Array, conv: ConvConfig): np.Array {
  const k = conv?.kernel;
  const biasOk = !p.b || (p.b.ndim === 1 && p.w.ndim === 2 && p.b.shape[0] === p.w.shape[1]);
  if (x.ndim !== 4 || p.w.ndim !== 2 || p.w.shape[0] !== k * k * x.shape[3] || !biasOk)
    reject(
      "conv2d",
      [x],
      `x must be (B, H, W, Cin), W (k k Cin, Cout) with k = ${k} and b (Cout), got x ${shapeOf(x)}, W ${shapeOf(p.w)}${p.b ? `, b ${shapeOf(p.b)}` : ""}`,
    );
  return linear(p, patches(x, conv, "conv2d")); // (B, Ho, Wo, Cout)
}
