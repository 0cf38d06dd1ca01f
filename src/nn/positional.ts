/**
 * Positional encodings inside a model: a JSON-serialisable config for each
 * kind of attention PE, the learnable parameters the model owns for it (per
 * layer), and the `AttentionPE` spec built from those parameters inside
 * `apply`, so that gradients flow into them.
 *
 * | kind     | parameters per layer                  | initialisation                                              |
 * | -------- | ------------------------------------- | ----------------------------------------------------------- |
 * | none     | -                                     |                                                             |
 * | rotary   | -                                     | invFreq = base^(-2i / rotaryDim), optionally scaled          |
 * | alibi    | -                                     | slopes 2^(-8 h / H) (BLOOM)                                 |
 * | t5       | table (numBuckets, H)                 | N(0, C^-1) (T5: factor * d_model^-1/2)                      |
 * | kerple   | r1, r2 (H)                            | r1 ~ U(0, 2), r2 ~ U(0, 1) (gpt-neox), clamped >= 1e-2      |
 * | fire     | MLP 1 -> W -> H, c, threshold         | Linear init, c = 0.1, threshold = 512 (FIRE paper)          |
 * | mlp      | MLP 1 -> W -> H                       | Linear init                                                 |
 * | table    | table (H, 2 maxDistance + 1)          | N(0, 0.02^2)                                                |
 * | cope     | embeddings (D, npos)                  | zeros (x-transformers CoPE)                                 |
 *
 * KERPLE's r1, r2 must stay positive (and r2 <= 2 for "power"): as gpt-neox
 * does, the spec clamps them in the forward pass (zero gradient when clamped).
 *
 * Reference: see src/attention/spec.ts for each kind; gpt-neox
 * `ParallelKerpleLog`; x-transformers `CoPE`.
 */
import { type DType, numpy as np } from "@jax-js/jax";
import type { AttentionPE } from "../attention/spec.js";
import { constant } from "../core/constant.js";
import { bool, fail, integer, oneOf, positive, record } from "../core/validate.js";
import { slopes } from "../pe/alibi.js";
import { FIRE_INIT } from "../pe/fire.js";
import type { Rng } from "../pe/random.js";
import { inverseFrequencies } from "../pe/rope/frequencies.js";
import type { Pairing } from "../pe/rope/pairing.js";
import { ropeFrequencies } from "../pe/rope/scaling.js";
import { full, normal } from "./init.js";
import { initLinear, type LinearParams } from "./linear.js";

export type PEConfig =
  | { type: "none" }
  | {
      type: "rotary";
      pairing: Pairing;
      base: number;
      /** Rotated dimensions per head (partial rotary); default D. */
      rotaryDim?: number;
      /** Context-extension scaling applied to a trained model (e.g. at test time on longer inputs); none by default. */
      scaling?: RopeScaling;
    }
  | { type: "alibi" }
  | { type: "t5"; bidirectional: boolean; numBuckets: number; maxDistance: number }
  | { type: "kerple"; variant: "log" | "power" }
  | { type: "fire" /** MLP hidden width (FIRE paper: 32). */; hidden: number }
  | { type: "mlp"; hidden: number; logDistance: boolean }
  | { type: "table"; maxDistance: number }
  | { type: "cope"; npos: number };

/**
 * RoPE context extension by a factor s (evaluation length / training length):
 * - `linear`: position interpolation, theta_i / s (Chen et al. 2023);
 * - `ntk`: NTK-aware base change, base s^(d / (d - 2)) (bloc97 2023; the
 *   dynamic-NTK formula of transformers at a length s times the original);
 * - `yarn`: YaRN with transformers' defaults (beta_fast 32, beta_slow 1,
 *   attention factor 0.1 ln s + 1, truncated correction range).
 *
 * Reference: Chen et al., https://arxiv.org/abs/2306.15595; Peng et al.,
 * https://arxiv.org/abs/2309.00071; HF transformers `modeling_rope_utils`.
 */
export type RopeScaling =
  | { type: "linear"; factor: number }
  | { type: "ntk"; factor: number }
  | { type: "yarn"; factor: number; originalMaxPositions: number };

/** Inverse frequencies and attention factor of a rotary config with its optional scaling. */
export function rotaryFrequencies(
  config: Extract<PEConfig, { type: "rotary" }>,
  headDim: number,
): { invFreq: Float64Array; attentionFactor: number } {
  const rotaryDim = config.rotaryDim ?? headDim;
  const s = config.scaling;
  if (!s) return { invFreq: inverseFrequencies(rotaryDim, config.base), attentionFactor: 1 };
  positive("rotaryFrequencies", "config.scaling.factor", s.factor);
  switch (s.type) {
    case "linear":
      return ropeFrequencies({ type: "linear", factor: s.factor, base: config.base, rotaryDim });
    case "ntk":
      return { invFreq: inverseFrequencies(rotaryDim, config.base * s.factor ** (rotaryDim / (rotaryDim - 2))), attentionFactor: 1 };
    case "yarn":
      return ropeFrequencies({
        type: "yarn",
        factor: s.factor,
        originalMaxPositions: s.originalMaxPositions,
        base: config.base,
        rotaryDim,
        betaFast: 32,
        betaSlow: 1,
        mscale: null,
        mscaleAllDim: null,
        attentionFactor: null,
        truncate: true,
      });
    default:
      return s satisfies never;
  }
}

/** Learnable PE parameters of one layer (an empty object for fixed encodings). */
export interface PEParams {
  table?: np.Array;
  r1?: np.Array;
  r2?: np.Array;
  fc?: LinearParams;
  proj?: LinearParams;
  c?: np.Array;
  threshold?: np.Array;
  embeddings?: np.Array;
}

/** KERPLE's lower clamp for r1, r2 (gpt-neox `eps`). */
export const KERPLE_MIN = 1e-2;

/** Whether the PE has parameters the model must own. */
export function isLearnable(config: PEConfig): boolean {
  return !(config.type === "none" || config.type === "rotary" || config.type === "alibi");
}

export function initPE(
  r: Rng,
  config: PEConfig,
  dims: { width: number; heads: number; headDim: number },
  dtype: DType = np.float32,
): PEParams {
  const { width: C, heads: H, headDim: D } = dims;
  switch (config.type) {
    case "none":
    case "rotary":
    case "alibi":
      return {};
    case "t5":
      return { table: normal(r, [config.numBuckets, H], 1 / Math.sqrt(C), dtype) };
    case "kerple": {
      const r1 = constant(
        Float64Array.from({ length: H }, () => 2 * r.uniform()),
        dtype,
      );
      const r2 = constant(
        Float64Array.from({ length: H }, () => r.uniform()),
        dtype,
      );
      return { r1, r2 };
    }
    case "fire":
      return {
        fc: initLinear(r, 1, config.hidden, { dtype }),
        proj: initLinear(r, config.hidden, H, { dtype }),
        c: full([], FIRE_INIT.c, dtype),
        threshold: full([], FIRE_INIT.threshold, dtype),
      };
    case "mlp":
      return { fc: initLinear(r, 1, config.hidden, { dtype }), proj: initLinear(r, config.hidden, H, { dtype }) };
    case "table":
      return { table: normal(r, [H, 2 * config.maxDistance + 1], 0.02, dtype) };
    case "cope":
      return { embeddings: full([D, config.npos], 0, dtype) };
    default:
      return config satisfies never;
  }
}

/**
 * The attention spec for one layer, holding new references to the layer's
 * parameters (attention consumes them). Borrows `params`.
 */
export function peSpec(config: PEConfig, params: PEParams, dims: { heads: number; headDim: number }): AttentionPE {
  const need = <T>(x: T | undefined, name: string): T => x ?? fail("peSpec", `PE type "${config.type}" needs parameter ${name}`);
  switch (config.type) {
    case "none":
      return { type: "none" };
    case "rotary":
      return { type: "rotary", pairing: config.pairing, frequencies: rotaryFrequencies(config, dims.headDim) };
    case "alibi":
      return { type: "bias", kind: "alibi", slopes: slopes(dims.heads) };
    case "t5":
      return {
        type: "bias",
        kind: "t5",
        table: need(params.table, "table").ref,
        bidirectional: config.bidirectional,
        numBuckets: config.numBuckets,
        maxDistance: config.maxDistance,
      };
    case "kerple": {
      const r1 = np.maximum(need(params.r1, "r1").ref, KERPLE_MIN);
      const r2raw = np.maximum(need(params.r2, "r2").ref, KERPLE_MIN);
      const r2 = config.variant === "power" ? np.minimum(r2raw, 2) : r2raw;
      return { type: "bias", kind: "kerple", variant: config.variant, r1, r2 };
    }
    case "fire":
    case "mlp": {
      const fc = need(params.fc, "fc");
      const proj = need(params.proj, "proj");
      const m = { w1: fc.w.ref, b1: need(fc.b, "fc.b").ref, w2: proj.w.ref, b2: need(proj.b, "proj.b").ref };
      if (config.type === "mlp") return { type: "bias", kind: "mlp", mlp: m, logDistance: config.logDistance };
      return {
        type: "bias",
        kind: "fire",
        mlp: m,
        c: need(params.c, "c").ref,
        threshold: need(params.threshold, "threshold").ref,
        eps: FIRE_INIT.eps,
      };
    }
    case "table":
      return { type: "bias", kind: "table", table: need(params.table, "table").ref, maxDistance: config.maxDistance };
    case "cope":
      return { type: "contextual", kind: "cope", embeddings: need(params.embeddings, "embeddings").ref };
    default:
      return config satisfies never;
  }
}

const PE_TYPES = ["none", "rotary", "alibi", "t5", "kerple", "fire", "mlp", "table", "cope"] as const;

/** Throws `fn: <field>...` unless `config` is a PEConfig for heads of `headDim`. */
export function checkPEConfig(fn: string, field: string, config: unknown, headDim: number): PEConfig {
  const c = record(fn, field, config, "a PE config { type, ... }");
  switch (oneOf(fn, `${field}.type`, c.type, PE_TYPES)) {
    case "rotary": {
      oneOf(fn, `${field}.pairing`, c.pairing, ["halves", "interleaved"]);
      positive(fn, `${field}.base`, c.base);
      if (c.rotaryDim !== undefined) {
        const R = integer(fn, `${field}.rotaryDim`, c.rotaryDim, 2);
        if (R % 2 !== 0 || R > headDim) fail(fn, `${field}.rotaryDim must be even and <= the head dim ${headDim}, got ${R}`);
      }
      if (c.scaling !== undefined) {
        const s = record(fn, `${field}.scaling`, c.scaling, '{ type: "linear" | "ntk" | "yarn", factor, ... }');
        const type = oneOf(fn, `${field}.scaling.type`, s.type, ["linear", "ntk", "yarn"]);
        positive(fn, `${field}.scaling.factor`, s.factor);
        if (type === "yarn") integer(fn, `${field}.scaling.originalMaxPositions`, s.originalMaxPositions, 1);
      }
      break;
    }
    case "t5": {
      const n = integer(fn, `${field}.numBuckets`, c.numBuckets, 1);
      const exact = Math.floor((bool(fn, `${field}.bidirectional`, c.bidirectional) ? Math.floor(n / 2) : n) / 2);
      if (exact < 1) fail(fn, `${field}.numBuckets (${n}) leaves no exact bucket: at least ${c.bidirectional ? 4 : 2} are needed`);
      integer(fn, `${field}.maxDistance`, c.maxDistance, exact + 1);
      break;
    }
    case "kerple":
      oneOf(fn, `${field}.variant`, c.variant, ["log", "power"]);
      break;
    case "fire":
      integer(fn, `${field}.hidden`, c.hidden, 1);
      break;
    case "mlp":
      integer(fn, `${field}.hidden`, c.hidden, 1);
      bool(fn, `${field}.logDistance`, c.logDistance);
      break;
    case "table":
      integer(fn, `${field}.maxDistance`, c.maxDistance, 0);
      break;
    case "cope":
      integer(fn, `${field}.npos`, c.npos, 1);
      break;
  }
  return config as PEConfig;
}
