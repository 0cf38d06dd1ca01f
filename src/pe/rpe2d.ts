/**
 * RPE-2D, randomized 2-D positional encodings for diffusion transformers:
 *
 * - positions: at training, the H rows and W columns of the token grid take
 *   sorted distinct integer positions drawn independently per axis from a
 *   wider range [0, maxHeight) x [0, maxWidth) (`randomized.positions2d`),
 *   so that the model learns the order of patches rather than their
 *   distances and every position of a larger inference grid has been seen;
 *   at inference, the exact grid 0..H-1 x 0..W-1. The positions feed an
 *   axial 2-D RoPE (`axialRope` with `positions`, or `attention/rpe2d`);
 * - crop micro-conditioning: training uses a random resize-and-crop
 *   augmentation, and the model is told which crop it sees. The features are
 *   SDXL's micro-conditioning: each of (original height, original width,
 *   crop top, crop left, target height, target width) embedded with
 *   sinusoidal (Fourier) features and concatenated; the model maps them with
 *   a learned layer and adds the result to its timestep embedding.
 *
 * Per scalar value v, with K = dim / 2 frequencies omega_k = P^(-k/K)
 * (P = maxPeriod, 10000 by default):
 *
 *   e(v) = [cos(v omega_0), ..., cos(v omega_{K-1}), sin(v omega_0), ..., sin(v omega_{K-1})]
 *
 * (diffusers `get_timestep_embedding` with flip_sin_to_cos=True and
 * downscale_freq_shift=0, as SDXL's `add_time_proj`; generative-models'
 * `timestep_embedding`).
 *
 * Reference: Hou, Liu et al., "Boosting Resolution Generalization of
 * Diffusion Transformers with Randomized Positional Encodings" (2025),
 * https://arxiv.org/abs/2503.18719; Podell et al., "SDXL" (2023),
 * https://arxiv.org/abs/2307.01952, section 2.2 (micro-conditioning).
 */

import { evenDim, fail, finite, integer, positive } from "../core/validate.js";
import { type Positions2d, positions2d } from "./randomized.js";

export interface Rpe2dGrid {
  /** Token rows H. */
  height: number;
  /** Token columns W. */
  width: number;
  /** Training range of row positions [0, maxHeight). */
  maxHeight: number;
  /** Training range of column positions [0, maxWidth). */
  maxWidth: number;
}

/** Training: randomized (seeded); inference: the exact grid. */
export type Rpe2dMode = { training: true; seed: number } | { training: false };

/**
 * Row and column positions of an H x W token grid. Training draws them with
 * `positions2d` (sorted, distinct, from the wider range); inference returns
 * 0..H-1 and 0..W-1, which must lie inside the training range.
 */
export function rpe2dPositions(grid: Rpe2dGrid, mode: Rpe2dMode): Positions2d {
  const fn = "rpe2d.positions";
  if (mode?.training === true) return positions2d(grid, mode.seed);
  if (mode?.training !== false) fail(fn, `mode must be { training: true, seed } or { training: false }, got ${JSON.stringify(mode)}`);
  const H = integer(fn, "grid.height", grid?.height, 1);
  const W = integer(fn, "grid.width", grid?.width, 1);
  const maxH = integer(fn, "grid.maxHeight", grid.maxHeight, 1);
  const maxW = integer(fn, "grid.maxWidth", grid.maxWidth, 1);
  if (H > maxH || W > maxW) {
    fail(
      fn,
      `the inference grid ${H}x${W} must fit the training range ${maxH}x${maxW}: its positions would not have been seen in training`,
    );
  }
  return { rows: Float64Array.from({ length: H }, (_, i) => i), cols: Float64Array.from({ length: W }, (_, i) => i) };
}

export interface CropCondition {
  /** Image size before resize-and-crop, [height, width]. */
  originalSize: readonly [number, number];
  /** Crop offset from the top-left corner, [top, left], in the units of the sizes. */
  cropTopLeft: readonly [number, number];
  /** Size the crop is resized to, [height, width]. */
  targetSize: readonly [number, number];
}

/** Order of the six conditioning scalars. */
export const CROP_FIELDS = ["originalHeight", "originalWidth", "cropTop", "cropLeft", "targetHeight", "targetWidth"] as const;

/**
 * Crop micro-conditioning features: (B, 6 * dim), per sample the
 * concatenated e(v) of the six scalars in `CROP_FIELDS` order.
 */
export function cropConditioning(crops: readonly CropCondition[], dim: number, options: { maxPeriod?: number } = {}): Float64Array {
  const fn = "rpe2d.cropConditioning";
  if (!Array.isArray(crops)) fail(fn, `crops must be a list of { originalSize, cropTopLeft, targetSize }, got ${typeof crops}`);
  evenDim(fn, "dim", dim);
  const period = positive(fn, "options.maxPeriod", options.maxPeriod ?? 10000);
  const K = dim / 2;
  const omega = Float64Array.from({ length: K }, (_, k) => period ** (-k / K));
  const out = new Float64Array(crops.length * 6 * dim);
  crops.forEach((crop, b) => {
    const values = (["originalSize", "cropTopLeft", "targetSize"] as const).flatMap((key) => {
      const pair = crop?.[key];
      if (!Array.isArray(pair) || pair.length !== 2) fail(fn, `crops[${b}].${key} must be a pair of numbers, got ${JSON.stringify(pair)}`);
      return [finite(fn, `crops[${b}].${key}[0]`, pair[0]), finite(fn, `crops[${b}].${key}[1]`, pair[1])];
    });
    values.forEach((v, f) => {
      const at = (b * 6 + f) * dim;
      for (let k = 0; k < K; k++) {
        out[at + k] = Math.cos(v * omega[k]);
        out[at + K + k] = Math.sin(v * omega[k]);
      }
    });
  });
  return out;
}
