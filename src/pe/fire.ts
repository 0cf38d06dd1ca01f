/**
 * FIRE: functional interpolation for relative positions. The bias of query i
 * and key j is f(psi(i - j) / psi(max(i, L))) where f is a small learned MLP,
 * psi(x) = log(|c x| + 1) with learnable c > 0, and L a learnable threshold
 * that keeps short contexts from being over-normalised. As in the reference
 * pseudocode a small eps is added to the normaliser. This file computes the
 * normalised input to the MLP; the MLP lives with attention.
 *
 * Reference: Li et al., "Functional Interpolation for Relative Positions
 * Improves Long Context Transformers" (ICLR 2024), https://arxiv.org/abs/2310.04418
 */
import { fail, finite, positionsOf, positive } from "../core/validate.js";

export interface FireParams {
  /** Scale c inside the log (paper init 0.1). */
  c: number;
  /** Threshold L of the normaliser max(i, L) (paper init 512). */
  threshold: number;
  /** Added to the normaliser psi(max(i, L)) (reference 1e-6). */
  eps: number;
}

/** Initial values used by the FIRE paper. */
export const FIRE_INIT: Readonly<FireParams> = { c: 0.1, threshold: 512, eps: 1e-6 };

const psi = (c: number, x: number) => Math.log(Math.abs(c * x) + 1);

/**
 * The (L, S) matrix psi(i - j) / (psi(max(i, threshold)) + eps) for query positions
 * (count or values) and key positions, row-major.
 */
export function transform(
  params: FireParams,
  queryPositions: number | ArrayLike<number>,
  keyPositions: number | ArrayLike<number>,
): Float64Array {
  const fn = "fire.transform";
  const c = finite(fn, "params.c", params.c);
  if (c === 0) fail(fn, "params.c must be non-zero");
  const threshold = positive(fn, "params.threshold", params.threshold);
  const eps = finite(fn, "params.eps", params.eps);
  if (eps < 0) fail(fn, `params.eps must be >= 0, got ${eps}`);
  const q = positionsOf(fn, queryPositions);
  const k = positionsOf(fn, keyPositions);
  const out = new Float64Array(q.length * k.length);
  for (let i = 0; i < q.length; i++) {
    const norm = psi(c, Math.max(q[i], threshold)) + eps;
    for (let j = 0; j < k.length; j++) out[i * k.length + j] = psi(c, q[i] - k[j]) / norm;
  }
  return out;
}
