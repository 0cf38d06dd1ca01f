/**
 * RoPE context-extension scalings, as Hugging Face transformers defines them
 * (`modeling_rope_utils.py`). Each maps a resolved parameter set to the
 * inverse frequencies and the attention factor that multiplies cos and sin.
 *
 * - default:  theta_i = base^(-2i/d)
 * - linear (position interpolation): theta_i / factor
 * - dynamic (NTK-aware, by current length s): base' = base * (factor s / Lmax - (factor - 1))^(d/(d-2)),
 *   s = max(current length, Lmax) with Lmax the model's max_position_embeddings
 * - yarn: per-band blend of theta_i (extrapolation) and theta_i / factor (interpolation) with a linear
 *   ramp between the correction dims of beta_fast and beta_slow rotations; attention factor
 *   0.1 ln(factor) + 1 (or the mscale / mscale_all_dim ratio)
 * - longrope: theta_i / ext_i with per-band factors (short below L0, long above);
 *   attention factor sqrt(1 + ln(factor) / ln(L0))
 * - llama3: theta_i / factor for wavelengths above L0/low_freq_factor, unchanged below
 *   L0/high_freq_factor, smoothly blended between
 * - proportional (Gemma 4): theta_k = base^(-2k/headDim) for the first
 *   floor(partial * headDim / 2) pairs, 0 (no rotation) for the rest, divided by factor
 *
 * Everything is computed in float64; transformers computes in float32, so the
 * two agree to float32 precision.
 *
 * References: Chen et al. 2023 (PI), https://arxiv.org/abs/2306.15595;
 * bloc97 (NTK-aware), https://www.reddit.com/r/LocalLLaMA/comments/14lz7j5/;
 * Peng et al. (YaRN), https://arxiv.org/abs/2309.00071;
 * Ding et al. (LongRoPE), https://arxiv.org/abs/2402.13753;
 * Meta Llama 3.1 (llama3), https://github.com/meta-llama/llama-models;
 * https://github.com/huggingface/transformers/blob/main/src/transformers/modeling_rope_utils.py
 */
import { inverseFrequencies } from "./frequencies.js";

export type RopeType = "default" | "linear" | "dynamic" | "yarn" | "longrope" | "llama3" | "proportional";

export const ROPE_TYPES: readonly RopeType[] = ["default", "linear", "dynamic", "yarn", "longrope", "llama3", "proportional"];

interface Common {
  /** RoPE base theta. */
  base: number;
  /** Rotated dims per head: floor(headDim * partialRotaryFactor), even. */
  rotaryDim: number;
}

/** A fully resolved RoPE parameter set: everything `ropeFrequencies` needs, validated. */
export type RopeParameters = Common &
  (
    | { type: "default" }
    | { type: "linear"; factor: number }
    | { type: "dynamic"; factor: number; maxPositions: number }
    | {
        type: "yarn";
        factor: number;
        originalMaxPositions: number;
        betaFast: number;
        betaSlow: number;
        mscale: number | null;
        mscaleAllDim: number | null;
        attentionFactor: number | null;
        truncate: boolean;
      }
    | {
        type: "longrope";
        factor: number;
        originalMaxPositions: number;
        shortFactor: Float64Array;
        longFactor: Float64Array;
        attentionFactor: number | null;
      }
    | { type: "llama3"; factor: number; originalMaxPositions: number; lowFreqFactor: number; highFreqFactor: number }
    | { type: "proportional"; factor: number; headDim: number; rotatedPairs: number }
  );

export interface RopeFrequencies {
  type: RopeType;
  /** theta_i, length rotaryDim / 2. */
  invFreq: Float64Array;
  /** Multiplies cos and sin. */
  attentionFactor: number;
  rotaryDim: number;
}

/**
 * Inverse frequencies and attention factor for a resolved parameter set.
 * `seqLen` is the current sequence length, used by "dynamic" (frequencies
 * change beyond the original length) and "longrope" (long factors beyond it).
 */
export function ropeFrequencies(p: RopeParameters, seqLen?: number): RopeFrequencies {
  const d = p.rotaryDim;
  const result = (invFreq: Float64Array, attentionFactor = 1): RopeFrequencies => ({
    type: p.type,
    invFreq,
    attentionFactor,
    rotaryDim: d,
  });
  switch (p.type) {
    case "default":
      return result(inverseFrequencies(d, p.base));
    case "linear":
      return result(inverseFrequencies(d, p.base).map((f) => f / p.factor));
    case "dynamic": {
      const s = Math.max(seqLen ?? p.maxPositions, p.maxPositions);
      const base = p.base * ((p.factor * s) / p.maxPositions - (p.factor - 1)) ** (d / (d - 2));
      return result(inverseFrequencies(d, base));
    }
    case "yarn":
      return result(yarnInvFreq(p), yarnAttentionFactor(p));
    case "longrope": {
      const ext = seqLen !== undefined && seqLen > p.originalMaxPositions ? p.longFactor : p.shortFactor;
      const attention = p.attentionFactor ?? (p.factor <= 1 ? 1 : Math.sqrt(1 + Math.log(p.factor) / Math.log(p.originalMaxPositions)));
      return result(
        inverseFrequencies(d, p.base).map((f, i) => f / ext[i]),
        attention,
      );
    }
    case "llama3":
      return result(llama3InvFreq(p));
    case "proportional": {
      const inv = new Float64Array(p.headDim / 2);
      for (let k = 0; k < p.rotatedPairs; k++) inv[k] = p.base ** (-(2 * k) / p.headDim) / p.factor;
      return result(inv);
    }
    default:
      return p satisfies never;
  }
}

type Yarn = Extract<RopeParameters, { type: "yarn" }>;

/** YaRN's attention temperature: 0.1 * mscale * ln(scale) + 1 for scale > 1. */
export function yarnMscale(scale: number, mscale = 1): number {
  return scale <= 1 ? 1 : 0.1 * mscale * Math.log(scale) + 1;
}

function yarnAttentionFactor(p: Yarn): number {
  if (p.attentionFactor !== null) return p.attentionFactor;
  if (p.mscale && p.mscaleAllDim) return yarnMscale(p.factor, p.mscale) / yarnMscale(p.factor, p.mscaleAllDim);
  return yarnMscale(p.factor);
}

/** Dimension index (fractional) at which a frequency completes `rotations` turns over `maxPositions`. */
export function yarnCorrectionDim(rotations: number, dim: number, base: number, maxPositions: number): number {
  return (dim * Math.log(maxPositions / (rotations * 2 * Math.PI))) / (2 * Math.log(base));
}

/** The [low, high] dimension range over which YaRN ramps from extrapolation to interpolation. */
export function yarnCorrectionRange(p: Yarn): [number, number] {
  let low = yarnCorrectionDim(p.betaFast, p.rotaryDim, p.base, p.originalMaxPositions);
  let high = yarnCorrectionDim(p.betaSlow, p.rotaryDim, p.base, p.originalMaxPositions);
  if (p.truncate) {
    low = Math.floor(low);
    high = Math.ceil(high);
  }
  return [Math.max(low, 0), Math.min(high, p.rotaryDim - 1)];
}

function yarnInvFreq(p: Yarn): Float64Array {
  const [low, rawHigh] = yarnCorrectionRange(p);
  const high = low === rawHigh ? rawHigh + 0.001 : rawHigh;
  const extrapolation = inverseFrequencies(p.rotaryDim, p.base);
  return extrapolation.map((f, i) => {
    const ramp = Math.min(1, Math.max(0, (i - low) / (high - low)));
    const keep = 1 - ramp; // weight of the extrapolated (unchanged) frequency
    return (f / p.factor) * (1 - keep) + f * keep;
  });
}

function llama3InvFreq(p: Extract<RopeParameters, { type: "llama3" }>): Float64Array {
  const lowFreqWavelen = p.originalMaxPositions / p.lowFreqFactor;
  const highFreqWavelen = p.originalMaxPositions / p.highFreqFactor;
  return inverseFrequencies(p.rotaryDim, p.base).map((f) => {
    const wavelen = (2 * Math.PI) / f;
    if (wavelen < highFreqWavelen) return f;
    if (wavelen > lowFreqWavelen) return f / p.factor;
    const smooth = (p.originalMaxPositions / wavelen - p.lowFreqFactor) / (p.highFreqFactor - p.lowFreqFactor);
    return (1 - smooth) * (f / p.factor) + smooth * f;
  });
}
