/**
 * Cross-shaped window self-attention (CSWin), differentiable and jit-able on
 * jax-js arrays. Tokens (B, H*W, C) on an H x W grid, h heads of dimension
 * d = C / h:
 *
 * - mode "cross": channels and heads are split in two halves. The first half
 *   (channels [0, C/2), heads [0, h/2)) attends within vertical stripes of
 *   sw columns and the full height (official branch idx 0: H_sp = H,
 *   W_sp = sw); the second half within horizontal stripes of sw rows and the
 *   full width (idx 1: H_sp = sw, W_sp = W). The halves are concatenated.
 * - mode "global": one branch with all heads over the whole grid (the
 *   official last stage, `last_stage=True` or resolution == split_size).
 *
 * In every window and head, with LePE (see `lepe.ts`) on the values:
 *
 *   out = softmax(scale Q K^T) V + LePE(V),   scale = d^-1/2 unless given (qk_scale)
 *
 * Padding (the official code needs H and W divisible by sw): stripes are cut
 * from the top-left, so when sw does not divide W (H) the last vertical
 * (horizontal) stripe is narrower: cells ceil(W/sw) sw - W are zero-padded at
 * the right (bottom), the padded keys get weight exactly 0 (logits set to
 * -infinity), the padded queries are dropped from the output, and LePE sees
 * zeros there, i.e. its convolution is zero-padded at the truncated border.
 * Every token attends to exactly the real tokens of its own stripe, which is
 * full softmax attention under the block mask "same stripe". A stripe at
 * least as wide as the grid is the whole grid (then "cross" equals "global").
 *
 * Reference: Dong et al., "CSWin Transformer: A General Vision Transformer
 * Backbone with Cross-Shaped Windows" (CVPR 2022), https://arxiv.org/abs/2107.00652;
 * microsoft/CSWin-Transformer models/cswin.py `LePEAttention`, `CSWinBlock`
 * (https://github.com/microsoft/CSWin-Transformer).
 */
import { nn, numpy as np } from "@jax-js/jax";
import { integerArg, reject, shapeOf } from "../core/shapes.js";
import { currentLimits } from "../runtime/init.js";
import { windowedLepe } from "./lepe.js";
import { fromWindows, toWindows, type WindowGrid, windowCounts, windowValidity } from "./windows.js";

interface GridAndHeads {
  /** Grid rows H. */
  height: number;
  /** Grid columns W. */
  width: number;
  /** Attention heads h (all branches together). */
  heads: number;
  /** Multiplies the logits (the official qk_scale); default (C / heads)^-1/2. */
  scale?: number;
  /** Override of the device's storage-buffer limit in bytes (for testing the size check). */
  maxBufferBytes?: number;
}

export type CrossShapedWindowOptions =
  | (GridAndHeads & { mode: "cross" /** Stripe width sw (rows or columns). */; stripeWidth: number })
  | (GridAndHeads & { mode: "global" });

/**
 * q, k, v: (B, H*W, C), already projected, tokens row-major over the grid;
 * lepeWeight: (C, 3, 3) and lepeBias: (C), the LePE convolutions of the
 * branches stacked along channels (official: `attns[0].get_v` then
 * `attns[1].get_v`, weights (C/2, 1, 3, 3) each). Returns the concatenated
 * branch outputs (B, H*W, C), the input of the block's `proj`. Consumes all
 * array arguments.
 */
export function crossShapedWindowAttention(
  q: np.Array,
  k: np.Array,
  v: np.Array,
  lepeWeight: np.Array,
  lepeBias: np.Array,
  opts: CrossShapedWindowOptions,
): np.Array {
  const fn = "crossShapedWindowAttention";
  const args = [q, k, v, lepeWeight, lepeBias];
  const mode = opts?.mode;
  if (mode !== "cross" && mode !== "global") reject(fn, args, `opts.mode must be "cross" or "global", got ${JSON.stringify(mode)}`);
  const H = integerArg(fn, args, "opts.height", opts.height, 1);
  const W = integerArg(fn, args, "opts.width", opts.width, 1);
  const heads = integerArg(fn, args, "opts.heads", opts.heads, 1);
  const sw = opts.mode === "cross" ? integerArg(fn, args, "opts.stripeWidth", opts.stripeWidth, 1) : 0;
  const same = q.ndim === 3 && k.ndim === 3 && v.ndim === 3 && q.shape.every((s, i) => s === k.shape[i] && s === v.shape[i]);
  if (!same) reject(fn, args, `q, k and v must have one shape (B, H * W, C), got q ${shapeOf(q)}, k ${shapeOf(k)}, v ${shapeOf(v)}`);
  const [, N, C] = q.shape;
  if (N !== H * W) reject(fn, args, `q, k, v hold ${N} tokens, but the grid ${H}x${W} has ${H * W}`);
  if (C % heads !== 0) reject(fn, args, `channels C (${C}) must be divisible by opts.heads (${heads})`);
  if (mode === "cross" && heads % 2 !== 0)
    reject(
      fn,
      args,
      `opts.heads (${heads}) must be even in mode "cross": half the heads attend in vertical stripes, half in horizontal ones`,
    );
  if (lepeWeight.ndim !== 3 || lepeWeight.shape[0] !== C || lepeWeight.shape[1] !== 3 || lepeWeight.shape[2] !== 3) {
    reject(fn, args, `lepeWeight must be (C, 3, 3) = (${C}, 3, 3), got ${shapeOf(lepeWeight)}`);
  }
  if (lepeBias.ndim !== 1 || lepeBias.shape[0] !== C) reject(fn, args, `lepeBias must be (C) = (${C}), got ${shapeOf(lepeBias)}`);
  const scale = opts.scale ?? (C / heads) ** -0.5;
  if (!Number.isFinite(scale)) reject(fn, args, `opts.scale must be a finite number, got ${opts.scale}`);
  // The largest array made is one branch's (windows, heads, S, S) logits: refuse what a storage buffer cannot hold.
  const limit = opts.maxBufferBytes ?? currentLimits().maxStorageBufferBindingSize;
  const itemBytes = q.dtype === np.float64 ? 8 : q.dtype === np.float16 ? 2 : 4;
  const [B] = q.shape;
  const branches: [number, number, number][] =
    mode === "global"
      ? [[H, W, heads]]
      : [
          [H, Math.min(sw, W), heads / 2],
          [Math.min(sw, H), W, heads / 2],
        ];
  for (const [wh, ww, h] of branches) {
    const windows = B * Math.ceil(H / wh) * Math.ceil(W / ww);
    const bytes = windows * h * (wh * ww) ** 2 * itemBytes;
    if (bytes > limit) {
      reject(
        fn,
        args,
        `the ${wh}x${ww} windows' logits (${windows} windows x ${h} heads x ${wh * ww}^2 x ${itemBytes} bytes = ${bytes} bytes) exceed the device's storage buffer limit of ${limit} bytes`,
      );
    }
  }

  if (mode === "global") {
    return windowAttention(q, k, v, lepeWeight, lepeBias, { height: H, width: W, windowHeight: H, windowWidth: W }, heads, scale);
  }
  const half = C / 2;
  const lead = (x: np.Array, from: number, to: number) => x.ref.slice([], [], [from, to]);
  const vertical = windowAttention(
    lead(q, 0, half),
    lead(k, 0, half),
    lead(v, 0, half),
    lepeWeight.ref.slice([0, half]),
    lepeBias.ref.slice([0, half]),
    { height: H, width: W, windowHeight: H, windowWidth: Math.min(sw, W) },
    heads / 2,
    scale,
  ); // (B, N, C/2)
  const horizontal = windowAttention(
    q.slice([], [], [half, C]),
    k.slice([], [], [half, C]),
    v.slice([], [], [half, C]),
    lepeWeight.slice([half, C]),
    lepeBias.slice([half, C]),
    { height: H, width: W, windowHeight: Math.min(sw, H), windowWidth: W },
    heads / 2,
    scale,
  ); // (B, N, C/2)
  return np.concatenate([vertical, horizontal], -1); // (B, N, C)
}

export interface CswinAttentionWeights {
  /** (3C, C), PyTorch Linear layout (out, in): rows [q | k | v]. */
  qkvWeight: np.Array;
  /** (3C), or undefined (the official default qkv_bias=False; the CSWin models use True). */
  qkvBias?: np.Array;
  /** (C, 3, 3): see `crossShapedWindowAttention`. */
  lepeWeight: np.Array;
  /** (C) */
  lepeBias: np.Array;
  /** (C, C), (out, in). */
  projWeight: np.Array;
  /** (C) */
  projBias: np.Array;
}

/**
 * The attention sublayer of the official `CSWinBlock`, from its normalised
 * input to the output of `proj`:
 *
 *   [q | k | v] = x Wqkv^T + bqkv,   out = crossShapedWindowAttention(q, k, v) Wproj^T + bproj
 *
 * (the block adds it to its input, then its MLP: `x + proj(...)` with
 * x = norm1(input)). x: (B, H*W, C). Returns (B, H*W, C). Consumes x and the weights.
 */
export function cswinAttention(x: np.Array, weights: CswinAttentionWeights, opts: CrossShapedWindowOptions): np.Array {
  const fn = "cswinAttention";
  const { qkvWeight, qkvBias, lepeWeight, lepeBias, projWeight, projBias } = weights ?? ({} as CswinAttentionWeights);
  const args = [x, qkvWeight, qkvBias, lepeWeight, lepeBias, projWeight, projBias];
  const C = x.shape[x.ndim - 1];
  if (x.ndim !== 3) reject(fn, args, `x must be (B, H * W, C), got ${shapeOf(x)}`);
  if (qkvWeight?.ndim !== 2 || qkvWeight.shape[0] !== 3 * C || qkvWeight.shape[1] !== C) {
    reject(fn, args, `weights.qkvWeight must be (3C, C) = (${3 * C}, ${C}), got ${qkvWeight ? shapeOf(qkvWeight) : "undefined"}`);
  }
  if (qkvBias && (qkvBias.ndim !== 1 || qkvBias.shape[0] !== 3 * C))
    reject(fn, args, `weights.qkvBias must be (3C) = (${3 * C}), got ${shapeOf(qkvBias)}`);
  if (projWeight?.ndim !== 2 || projWeight.shape[0] !== C || projWeight.shape[1] !== C) {
    reject(fn, args, `weights.projWeight must be (C, C) = (${C}, ${C}), got ${projWeight ? shapeOf(projWeight) : "undefined"}`);
  }
  if (projBias?.ndim !== 1 || projBias.shape[0] !== C)
    reject(fn, args, `weights.projBias must be (C) = (${C}), got ${projBias ? shapeOf(projBias) : "undefined"}`);
  if (lepeWeight?.ndim !== 3 || lepeWeight.shape[0] !== C || lepeWeight.shape[1] !== 3 || lepeWeight.shape[2] !== 3)
    reject(fn, args, `weights.lepeWeight must be (C, 3, 3) = (${C}, 3, 3), got ${lepeWeight ? shapeOf(lepeWeight) : "undefined"}`);
  if (lepeBias?.ndim !== 1 || lepeBias.shape[0] !== C)
    reject(fn, args, `weights.lepeBias must be (C) = (${C}), got ${lepeBias ? shapeOf(lepeBias) : "undefined"}`);
  let qkv = np.matmul(x, np.transpose(qkvWeight)); // (B, N, 3C)
  if (qkvBias) qkv = np.add(qkv, qkvBias);
  const part = (i: number) => qkv.ref.slice([], [], [i * C, (i + 1) * C]); // (B, N, C)
  const [q, k, v] = [part(0), part(1), part(2)];
  qkv.dispose();
  const attended = crossShapedWindowAttention(q, k, v, lepeWeight, lepeBias, opts); // (B, N, C)
  return np.add(np.matmul(attended, np.transpose(projWeight)), projBias); // (B, N, C)
}

/**
 * Softmax attention inside the windows of one branch, plus LePE. q, k, v:
 * (B, H*W, Cb); lepe weights (Cb, 3, 3), (Cb). Returns (B, H*W, Cb).
 */
function windowAttention(
  q: np.Array,
  k: np.Array,
  v: np.Array,
  lepeWeight: np.Array,
  lepeBias: np.Array,
  g: WindowGrid,
  heads: number,
  scale: number,
): np.Array {
  const [B, , Cb] = q.shape;
  const S = g.windowHeight * g.windowWidth;
  const d = Cb / heads;
  const split = (x: np.Array) => toWindows(x, g).reshape([-1, S, heads, d]); // (B*nWin, S, h, d)
  const { down, across, padHeight, padWidth } = windowCounts(g);
  let mask: np.Array | undefined;
  if (padHeight > 0 || padWidth > 0) {
    // key cells inside the grid, per window: (B*nWin, 1, 1, S)
    const valid = windowValidity(g);
    const perBatch: boolean[] = [];
    for (let b = 0; b < B; b++) perBatch.push(...valid);
    mask = np.array(perBatch).reshape([B * down * across, 1, 1, S]);
  }
  const attended = nn.dotProductAttention(split(q), split(k), split(v.ref), { scale, mask }); // (B*nWin, S, h, d)
  const out = fromWindows(attended.reshape([-1, g.windowHeight, g.windowWidth, Cb]), g); // (B, H*W, Cb)
  return np.add(out, windowedLepe(v, lepeWeight, lepeBias, g)); // (B, H*W, Cb)
}
