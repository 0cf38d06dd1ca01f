/**
 * Positional-encoding specs for attention: a discriminated union keyed by
 * `type`, grouped by where the encoding hooks in. Every ambiguous convention
 * (RoPE pairing, T5 direction) is a required field.
 *
 * - `none`: NoPE, no positional information in attention.
 * - `rotary`: q and k rotated by position (RoPE, every HF scaling, xPos).
 * - `bias`: a term added to the logits, a function of (query position, key
 *   position, head): ALiBi, T5 buckets, KERPLE, FIRE, a dynamic MLP bias, a
 *   learned table b[j - i].
 * - `contextual`: CoPE, positions counted by gates computed from q and k.
 *
 * Absolute encodings are added to the token embeddings (see absolute.ts),
 * kernelized attention takes its relative term directly, and the 2-D
 * convolutional encodings act on the token grid.
 */
import type { numpy as np } from "@jax-js/jax";
import type { HFConfig } from "../pe/rope/hfConfig.js";
import type { Pairing } from "../pe/rope/pairing.js";

export interface NoPE {
  type: "none";
}

export interface RotaryPE {
  type: "rotary";
  pairing: Pairing;
  /**
   * Fixed inverse frequencies (rotaryDim / 2 of them) and attention factor, or
   * a Hugging Face config: then "dynamic" and "longrope" follow the current
   * length, max(query position) + 1, as transformers does.
   */
  frequencies: { invFreq: ArrayLike<number>; attentionFactor?: number } | { hfConfig: HFConfig; layerType?: string };
  /** xPos decay: queries scaled by zeta^((p - center)/scaleBase), keys by its inverse. */
  xpos?: { scaleBase: number; center: number };
  /** Rotate only the last `heads` query heads (and the matching key heads); default all. */
  heads?: number;
}

/** A two-layer MLP, Linear(in, W) -> activation -> Linear(W, out), weights (in, W) and (W, out). */
export interface Mlp {
  w1: np.Array;
  b1: np.Array;
  w2: np.Array;
  b2: np.Array;
}

export type BiasPE = { type: "bias" } & (
  | {
      kind: "alibi";
      /** One slope per head (0 for heads without ALiBi), e.g. from `alibi.slopes` / `alibi.partialSlopes`. */
      slopes: ArrayLike<number>;
    }
  | {
      kind: "t5";
      /** (numBuckets, H) learned bias per bucket and head. */
      table: np.Array;
      bidirectional: boolean;
      numBuckets: number;
      maxDistance: number;
    }
  | {
      kind: "kerple";
      variant: "log" | "power";
      /** (H) learnable, > 0. */
      r1: np.Array;
      /** (H) learnable, > 0 (<= 2 for "power"). */
      r2: np.Array;
    }
  | {
      kind: "fire";
      /** Linear(1, W) -> ReLU -> Linear(W, H). */
      mlp: Mlp;
      /** Scalar c > 0 inside psi(x) = log(|c x| + 1). */
      c: np.Array;
      /** Scalar threshold L of the normaliser psi(max(i, L)). */
      threshold: np.Array;
      /** Added to the normaliser (reference 1e-6). */
      eps: number;
    }
  | {
      kind: "mlp";
      /** Linear(1, W) -> SiLU -> Linear(W, H) on the relative distance j - i. */
      mlp: Mlp;
      /** Feed sign(d) log(|d| + 1) instead of d (x-transformers' log_distance). */
      logDistance: boolean;
    }
  | {
      kind: "table";
      /** (H, 2 maxDistance + 1): b[h, clip(j - i, -maxDistance, maxDistance) + maxDistance]. */
      table: np.Array;
      maxDistance: number;
    }
);

export interface ContextualPE {
  type: "contextual";
  kind: "cope";
  /** (D, npos) position embeddings; positions are clamped to npos - 1. Causal attention only. */
  embeddings: np.Array;
}

export type AttentionPE = NoPE | RotaryPE | BiasPE | ContextualPE;

/** The jax-js arrays held by a positional-encoding spec. */
export function peArrays(pe: AttentionPE | undefined): np.Array[] {
  if (!pe) return [];
  switch (pe.type) {
    case "none":
    case "rotary":
      return [];
    case "contextual":
      return [pe.embeddings];
    case "bias":
      switch (pe.kind) {
        case "alibi":
          return [];
        case "t5":
        case "table":
          return [pe.table];
        case "kerple":
          return [pe.r1, pe.r2];
        case "fire":
          return [pe.mlp.w1, pe.mlp.b1, pe.mlp.w2, pe.mlp.b2, pe.c, pe.threshold];
        case "mlp":
          return [pe.mlp.w1, pe.mlp.b1, pe.mlp.w2, pe.mlp.b2];
        default:
          return pe satisfies never;
      }
    default:
      return pe satisfies never;
  }
}
