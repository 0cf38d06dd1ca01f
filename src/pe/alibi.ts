/**
 * ALiBi: attention with linear biases. Head h adds -m_h |i - j| to the logit
 * of query i and key j (causal models may use m_h (j - i), equal up to a
 * per-row constant that softmax ignores).
 *
 * Slopes for n heads: with p = 2^floor(log2 n), m_k = 2^(-8k/p), k = 1..p; when
 * n is not a power of two the remaining n - p heads take every other slope of
 * the 2p-head sequence: 2^(-4k/p), k = 1, 3, 5, ...
 *
 * `slopes(n)` follows BLOOM's `build_alibi_tensor` step by step: the bases
 * 2^(-8/p) and 2^(-4/p) are rounded to float32 and raised to integer powers,
 * rounded to float32. posenc rounds each power correctly; PyTorch's CPU pow
 * (SLEEF, 1-ulp accurate) rounds two slopes for 1..128 heads the other way
 * (the 15th power of 2^(-1/4), the 91st of 2^(-1/16)), by one float32 ulp;
 * all others are bit-identical (test/pe/references.test.ts).
 * `{ precision: "float64" }` gives the same formula without the float32
 * roundings (as the original ALiBi code and x-transformers compute it).
 *
 * Reference: Press et al., "Train Short, Test Long" (ICLR 2022),
 * https://arxiv.org/abs/2108.12409; HF transformers `build_alibi_tensor`
 * (models/bloom/modeling_bloom.py).
 */
import { fail, finiteArray, integer, positionsOf } from "../core/validate.js";

/**
 * The most heads the slope functions take: far above any model's (BLOOM-176B
 * has 112), low enough that a typo such as 1e9 is refused instead of
 * allocating gigabytes.
 */
export const MAX_HEADS = 65536;

/** A head count in [1, MAX_HEADS]. */
function heads(fn: string, field: string, n: unknown): number {
  const v = integer(fn, field, n, 1);
  if (v > MAX_HEADS) fail(fn, `${field} must be <= ${MAX_HEADS} (alibi.MAX_HEADS), got ${v}`);
  return v;
}

export interface SlopeOptions {
  /** "float32" (default): BLOOM's float32 computation; "float64": the exact formula. */
  precision?: "float32" | "float64";
}

/** ALiBi slopes for `numHeads` heads. */
export function slopes(numHeads: number, options: SlopeOptions = {}): Float64Array {
  const fn = "alibi.slopes";
  heads(fn, "numHeads", numHeads);
  const precision = options.precision ?? "float32";
  if (precision !== "float32" && precision !== "float64") {
    fail(fn, `options.precision must be "float32" or "float64", got ${JSON.stringify(precision)}`);
  }
  const round = precision === "float32" ? Math.fround : (v: number) => v;
  const closest = 2 ** Math.floor(Math.log2(numHeads));
  const out = new Float64Array(numHeads);
  const base = round(2 ** -(2 ** -(Math.log2(closest) - 3)));
  for (let k = 1; k <= closest; k++) out[k - 1] = round(base ** k);
  if (closest !== numHeads) {
    const extraBase = round(2 ** -(2 ** -(Math.log2(2 * closest) - 3)));
    const remaining = Math.min(closest, numHeads - closest);
    for (let r = 0; r < remaining; r++) out[closest + r] = round(extraBase ** (2 * r + 1));
  }
  return out;
}

/**
 * Slopes for a model where only the first `alibiHeads` of `numHeads` heads use
 * ALiBi (x-transformers' `alibi_num_heads`): those get `slopes(alibiHeads)`,
 * the other heads slope 0 (no bias).
 */
export function partialSlopes(numHeads: number, alibiHeads: number, options: SlopeOptions = {}): Float64Array {
  const fn = "alibi.partialSlopes";
  heads(fn, "numHeads", numHeads);
  heads(fn, "alibiHeads", alibiHeads);
  if (alibiHeads > numHeads) fail(fn, `alibiHeads (${alibiHeads}) must be <= numHeads (${numHeads})`);
  const out = new Float64Array(numHeads);
  out.set(slopes(alibiHeads, options));
  return out;
}

/**
 * The (H, L, S) bias -m_h |q_i - k_j| for query positions q (count or values)
 * and key positions k, row-major.
 */
export function bias(
  slopesPerHead: ArrayLike<number>,
  queryPositions: number | ArrayLike<number>,
  keyPositions: number | ArrayLike<number>,
): Float64Array {
  const fn = "alibi.bias";
  const m = finiteArray(fn, "slopes", slopesPerHead);
  if (m.length === 0) fail(fn, "slopes must hold at least one head");
  const q = positionsOf(fn, queryPositions);
  const k = positionsOf(fn, keyPositions);
  const L = q.length;
  const S = k.length;
  const out = new Float64Array(m.length * L * S);
  for (let h = 0; h < m.length; h++) {
    for (let i = 0; i < L; i++) {
      const row = (h * L + i) * S;
      for (let j = 0; j < S; j++) out[row + j] = -m[h] * Math.abs(q[i] - k[j]);
    }
  }
  return out;
}
