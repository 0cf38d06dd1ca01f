/**
 * FiT's training-free 2-D RoPE scalings for generating at a larger token grid
 * than a model was trained on, VisionNTK and VisionYaRN: each axis of an
 * axial 2-D RoPE (rotary dim d = D / 2 per axis, K = d / 2 bands
 * omega_k = T^(-2k/d)) is scaled as a 1-D RoPE of a sequence
 * `size` / `trainSize` times longer than in training:
 *
 * - scale s = max(size / trainSize, 1) (no change at or below the training size);
 * - "ntk" (VisionNTK): base T' = T s^(d / (d - 2)), omega_k = T'^(-2k/d);
 * - "yarn" (VisionYaRN): per band, omega_k / s (interpolated) below the
 *   correction dim of beta_slow = 1 rotation, omega_k (extrapolated) above
 *   the one of beta_fast = 32 rotations over `trainSize` positions, blended
 *   by a linear ramp between (floor and ceil of the dims, as YaRN's
 *   reference); cos and sin are multiplied by the attention factor
 *   0.1 ln s + 1, so attention logits by its square.
 *
 * These are the NTK-aware base change (transformers' "dynamic" with factor 1
 * at the scaled length) and YaRN (transformers' "yarn") of src/pe/rope, on
 * one axis's bands: the 1-D code is fixture-checked against transformers.
 * FiT scales both axes by the larger ratio unless "decoupled"; per axis (as
 * here) is its decoupled form, and the same on square grids.
 *
 * Reference: Lu et al., "FiT: Flexible Vision Transformer for Diffusion
 * Model" (2024), https://arxiv.org/abs/2402.12376, section 3.3 and
 * whlzy/FiT `fit/model/rope.py`; Peng et al., YaRN,
 * https://arxiv.org/abs/2309.00071; bloc97, NTK-aware scaling,
 * https://www.reddit.com/r/LocalLLaMA/comments/14lz7j5/
 */
import { fail, integer, positive } from "../core/validate.js";
import { ropeFrequencies } from "./rope/scaling.js";

export type VisionScaling = "ntk" | "yarn";
export const VISION_SCALINGS: readonly VisionScaling[] = ["ntk", "yarn"];

/** YaRN's ramp ends, in rotations over the training length (transformers' and FiT's defaults). */
export const VISION_YARN_BETA_FAST = 32;
export const VISION_YARN_BETA_SLOW = 1;

export interface VisionBandsOptions {
  /** Head dim D (both axes), a multiple of 4 and at least 8 (the NTK exponent d / (d - 2) needs d = D / 2 > 2). */
  headDim: number;
  /** RoPE temperature (base) T. */
  temperature: number;
  /** Cells of this axis in training. */
  trainSize: number;
  /** Cells of this axis now. */
  size: number;
}

/** One axis's bands (K = D / 4) and the factor that multiplies its cos and sin. */
export interface VisionBands {
  bands: Float64Array;
  attentionFactor: number;
  /** s = max(size / trainSize, 1). */
  scale: number;
}

/** The scaled bands of one axis (see the file header). */
export function visionBands(scaling: VisionScaling, options: VisionBandsOptions): VisionBands {
  const fn = "visionBands";
  if (!VISION_SCALINGS.includes(scaling)) fail(fn, `scaling must be "ntk" or "yarn", got ${JSON.stringify(scaling)}`);
  const D = integer(fn, "options.headDim", options?.headDim, 8);
  if (D % 4 !== 0) fail(fn, `options.headDim (${D}) must be a multiple of 4: two axes of rotated pairs`);
  const base = positive(fn, "options.temperature", options.temperature);
  const trainSize = integer(fn, "options.trainSize", options.trainSize, 1);
  const size = integer(fn, "options.size", options.size, 1);
  const rotaryDim = D / 2;
  const scale = Math.max(size / trainSize, 1);
  const f =
    scaling === "ntk"
      ? ropeFrequencies({ type: "dynamic", base, rotaryDim, factor: 1, maxPositions: trainSize }, size)
      : ropeFrequencies({
          type: "yarn",
          base,
          rotaryDim,
          factor: scale,
          originalMaxPositions: trainSize,
          betaFast: VISION_YARN_BETA_FAST,
          betaSlow: VISION_YARN_BETA_SLOW,
          mscale: null,
          mscaleAllDim: null,
          attentionFactor: null,
          truncate: true,
        });
  return { bands: f.invFreq, attentionFactor: f.attentionFactor, scale };
}
