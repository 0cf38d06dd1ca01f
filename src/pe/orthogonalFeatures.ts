/**
 * Random projections for kernel feature maps (FAVOR+): M rows w_m in R^D,
 * stacked from ceil(M / D) independent blocks of D mutually orthogonal unit
 * rows (Gram-Schmidt on a D x D standard Gaussian block, which gives a
 * Haar-distributed orthogonal block), the last block truncated to the rows
 * still needed, then each row rescaled:
 *
 *   scaling "chi":   w_m = s_m u_m,  s_m = |g_m| for an independent g_m ~ N(0, I_D)
 *                    (s_m is chi-distributed with D degrees of freedom, so every
 *                    w_m is marginally N(0, I_D) and the positive random features
 *                    stay unbiased; Performer's `scaling=0`)
 *   scaling "sqrtD": w_m = sqrt(D) u_m (Performer's `scaling=1`, deterministic norms)
 *
 * Everything is float64 and drawn from one seeded stream (`pe/random.ts`), so
 * the same seed gives the same matrix on every engine and a new seed redraws it.
 *
 * Reference: Choromanski et al., "Rethinking Attention with Performers"
 * (ICLR 2021), https://arxiv.org/abs/2009.14794, section 2.4 (orthogonal random
 * features); google-research `performer/fast_attention` `GaussianOrthogonalRandomMatrix`.
 */

import { fail, integer } from "../core/validate.js";
import { type Rng, rng } from "./random.js";

export type ProjectionScaling = "chi" | "sqrtD";

export interface ProjectionOptions {
  /** Seed of the draw; a new seed redraws the matrix, the same seed repeats it. */
  seed: number;
  /** Row norms: `"chi"` (Performer's default, unbiased) or `"sqrtD"`. */
  scaling: ProjectionScaling;
}

/**
 * The (numFeatures, dim) projection W, row-major: orthogonal Gaussian blocks
 * with rows rescaled as `options.scaling` says.
 */
export function gaussianOrthogonalProjection(numFeatures: number, dim: number, options: ProjectionOptions): Float64Array {
  const fn = "gaussianOrthogonalProjection";
  const M = integer(fn, "numFeatures", numFeatures, 1);
  const D = integer(fn, "dim", dim, 1);
  const seed = integer(fn, "options.seed", options?.seed, 0);
  const scaling = options?.scaling;
  if (scaling !== "chi" && scaling !== "sqrtD") fail(fn, `options.scaling must be "chi" or "sqrtD", got ${JSON.stringify(scaling)}`);
  const r = rng(seed);
  const out = new Float64Array(M * D);
  for (let row0 = 0; row0 < M; row0 += D) {
    const block = orthonormalBlock(r, D);
    out.set(block.subarray(0, Math.min(D, M - row0) * D), row0 * D);
  }
  for (let m = 0; m < M; m++) {
    let s: number;
    if (scaling === "sqrtD") {
      s = Math.sqrt(D);
    } else {
      let sq = 0;
      for (let c = 0; c < D; c++) {
        const g = r.normal();
        sq += g * g;
      }
      s = Math.sqrt(sq);
    }
    for (let c = 0; c < D; c++) out[m * D + c] *= s;
  }
  return out;
}

/**
 * D x D matrix with orthonormal rows: modified Gram-Schmidt of standard
 * Gaussian rows, each projection pass done twice ("twice is enough") so the
 * rows are orthogonal to float64 precision.
 */
function orthonormalBlock(r: Rng, D: number): Float64Array {
  const q = Float64Array.from({ length: D * D }, () => r.normal());
  for (let i = 0; i < D; i++) {
    const row = q.subarray(i * D, (i + 1) * D);
    for (let pass = 0; pass < 2; pass++) {
      for (let j = 0; j < i; j++) {
        const prev = q.subarray(j * D, (j + 1) * D);
        let dot = 0;
        for (let c = 0; c < D; c++) dot += row[c] * prev[c];
        for (let c = 0; c < D; c++) row[c] -= dot * prev[c];
      }
    }
    let norm = 0;
    for (let c = 0; c < D; c++) norm += row[c] * row[c];
    norm = Math.sqrt(norm);
    // A Gaussian row in the span of the previous ones has probability zero.
    for (let c = 0; c < D; c++) row[c] /= norm;
  }
  return q;
}
