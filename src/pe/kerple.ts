/**
 * KERPLE: kernelized relative positional embeddings from conditionally
 * positive definite kernels. For query i and key j with distance |i - j|:
 *
 *   log:   b = -r1 * log(1 + r2 * |i - j|)
 *   power: b = -r1 * |i - j|^r2          (0 < r2 <= 2)
 *
 * with r1, r2 > 0 learnable per head.
 *
 * Reference: Chi et al., "KERPLE: Kernelized Relative Positional Embedding for
 * Length Extrapolation" (NeurIPS 2022), https://arxiv.org/abs/2205.09921
 */
import { fail, finiteArray, positionsOf } from "../core/validate.js";

export type KerpleKind = "log" | "power";

export interface KerpleParams {
  kind: KerpleKind;
  /** r1 per head, > 0. */
  r1: ArrayLike<number>;
  /** r2 per head, > 0 (and <= 2 for "power"). */
  r2: ArrayLike<number>;
}

/** The bias for one head at distance |i - j| = `distance`. */
export function kernel(kind: KerpleKind, r1: number, r2: number, distance: number): number {
  const d = Math.abs(distance);
  return kind === "log" ? -r1 * Math.log1p(r2 * d) : -r1 * d ** r2;
}

/** The (H, L, S) bias for query positions (count or values) and key positions, row-major. */
export function bias(
  params: KerpleParams,
  queryPositions: number | ArrayLike<number>,
  keyPositions: number | ArrayLike<number>,
): Float64Array {
  const fn = "kerple.bias";
  const { kind } = params;
  if (kind !== "log" && kind !== "power") fail(fn, `params.kind must be "log" or "power", got ${JSON.stringify(kind)}`);
  const r1 = finiteArray(fn, "params.r1", params.r1);
  const r2 = finiteArray(fn, "params.r2", params.r2);
  if (r1.length === 0 || r1.length !== r2.length) {
    fail(fn, `params.r1 and params.r2 must hold one value per head, got lengths ${r1.length} and ${r2.length}`);
  }
  for (let h = 0; h < r1.length; h++) {
    if (r1[h] <= 0) fail(fn, `params.r1[${h}] must be > 0, got ${r1[h]}`);
    if (r2[h] <= 0 || (kind === "power" && r2[h] > 2)) {
      fail(fn, `params.r2[${h}] must be in ${kind === "power" ? "(0, 2]" : "(0, inf)"}, got ${r2[h]}`);
    }
  }
  const q = positionsOf(fn, queryPositions);
  const k = positionsOf(fn, keyPositions);
  const out = new Float64Array(r1.length * q.length * k.length);
  let o = 0;
  for (let h = 0; h < r1.length; h++) {
    for (let i = 0; i < q.length; i++) {
      for (let j = 0; j < k.length; j++) out[o++] = kernel(kind, r1[h], r2[h], q[i] - k[j]);
    }
  }
  return out;
}
