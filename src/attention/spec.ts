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
import { shapeOf } from "../core/shapes.js";
import { bool, describe, fail, finite, finiteArray, integer, oneOf, positive, record } from "../core/validate.js";
import type { RopeTables } from "../pe/rope/apply.js";
import { type HFConfig, parseHFConfig } from "../pe/rope/hfConfig.js";
import type { Pairing } from "../pe/rope/pairing.js";
import { isArray } from "./positions.js";

export interface NoPE {
  type: "none";
}

export interface RotaryPE {
  type: "rotary";
  pairing: Pairing;
  /**
   * Fixed inverse frequencies (rotaryDim / 2 of them) and attention factor, or
   * a Hugging Face config: then "dynamic" and "longrope" follow the current
   * length, max(query position) + 1, as transformers does. Or cos/sin tables
   * computed beforehand for the L queries and the S keys, e.g. M-RoPE's
   * (`rope.mropeTables`), whose tokens have three positions each.
   */
  frequencies:
    | { invFreq: ArrayLike<number>; attentionFactor?: number }
    | { hfConfig: HFConfig; layerType?: string }
    | { tables: { query: RopeTables; key: RopeTables } };
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

/** The jax-js arrays held by a positional-encoding spec (none for a malformed one: `checkPE` reports it). */
export function peArrays(pe: AttentionPE | undefined): np.Array[] {
  if (typeof pe !== "object" || pe === null) return [];
  switch (pe.type) {
    case "none":
    case "rotary":
      return [];
    case "contextual":
      return [pe.embeddings].filter(isArray);
    case "bias":
      switch (pe.kind) {
        case "alibi":
          return [];
        case "t5":
        case "table":
          return [pe.table].filter(isArray);
        case "kerple":
          return [pe.r1, pe.r2].filter(isArray);
        case "fire":
          return [pe.mlp?.w1, pe.mlp?.b1, pe.mlp?.w2, pe.mlp?.b2, pe.c, pe.threshold].filter(isArray);
        case "mlp":
          return [pe.mlp?.w1, pe.mlp?.b1, pe.mlp?.w2, pe.mlp?.b2].filter(isArray);
        default:
          return [];
      }
    default:
      return [];
  }
}

/** The heads and head dimension of the q and k a spec must fit. */
export interface PEDims {
  /** Query heads H. */
  heads: number;
  /** Key/value heads Hkv (H a multiple of it). */
  kvHeads: number;
  /** Head dimension D of q and k. */
  headDim: number;
  /** Queries L and keys S (for rotary tables computed beforehand). */
  queries?: number;
  keys?: number;
}

const BIAS_KINDS = ["alibi", "t5", "kerple", "fire", "mlp", "table"];

/**
 * Throws `fn: <field>...` naming the first part of `pe` (a spec as plain
 * data, from TypeScript or JSON) that is not a valid spec for q, k of `dims`:
 * unknown tags, missing or misspelt enum fields, numbers out of range, arrays
 * of the wrong shape. Values inside arrays are not read (that would need a
 * device readback); a Hugging Face config is checked by `rope.fromHFConfig`.
 */
export function checkPE(fn: string, pe: unknown, dims: PEDims, field = "options.pe"): void {
  if (pe === undefined) return;
  const spec = record(fn, field, pe, "a positional-encoding spec");
  const { heads: H, kvHeads: Hkv, headDim: D } = dims;
  switch (spec.type) {
    case "none":
      return;
    case "rotary": {
      oneOf(fn, `${field}.pairing`, spec.pairing, ["halves", "interleaved"]);
      const fr = record(
        fn,
        `${field}.frequencies`,
        spec.frequencies,
        "{ invFreq, attentionFactor? }, { hfConfig, layerType? } or { tables: { query, key } }",
      );
      const forms = ["invFreq", "hfConfig", "tables"].filter((k) => k in fr);
      if (forms.length !== 1)
        fail(
          fn,
          `${field}.frequencies must have exactly one of invFreq, hfConfig, tables, got ${forms.length === 0 ? "none" : forms.join(", ")}`,
        );
      if ("hfConfig" in fr) {
        record(fn, `${field}.frequencies.hfConfig`, fr.hfConfig, "a config.json object");
        try {
          parseHFConfig(fr.hfConfig as HFConfig, { layerType: fr.layerType as string | undefined });
        } catch (e) {
          fail(fn, `${field}.frequencies.hfConfig: ${(e as Error).message}`);
        }
      } else if ("tables" in fr) {
        const t = record(fn, `${field}.frequencies.tables`, fr.tables, "{ query, key } RopeTables");
        const rows = { query: dims.queries, key: dims.keys };
        for (const side of ["query", "key"] as const) {
          const f = `${field}.frequencies.tables.${side}`;
          const tab = record(fn, f, t[side], "RopeTables { cos, sin, length, rotaryDim }");
          const R = integer(fn, `${f}.rotaryDim`, tab.rotaryDim, 2);
          if (R % 2 !== 0 || R > D) fail(fn, `${f}.rotaryDim must be even and <= the head dim ${D}, got ${R}`);
          const n = integer(fn, `${f}.length`, tab.length, 0);
          if (rows[side] !== undefined && n !== rows[side]) fail(fn, `${f} must hold ${rows[side]} rows (one per ${side}), got ${n}`);
          for (const part of ["cos", "sin"] as const) {
            const a = tab[part] as ArrayLike<number> | undefined;
            if (typeof a !== "object" || a === null || a.length !== n * R)
              fail(fn, `${f}.${part} must hold length * rotaryDim = ${n * R} values, got ${a?.length}`);
          }
        }
        if ((t.query as RopeTables).rotaryDim !== (t.key as RopeTables).rotaryDim)
          fail(fn, `${field}.frequencies.tables.query and .key must have one rotaryDim`);
        if (spec.xpos !== undefined) fail(fn, `${field}.xpos cannot be combined with tables computed beforehand`);
      } else {
        const inv = fr.invFreq as ArrayLike<number> | undefined;
        if (typeof inv !== "object" || inv === null || typeof inv.length !== "number")
          fail(fn, `${field}.frequencies.invFreq must be an array of numbers, got ${describe(inv)}`);
        if (inv.length < 1 || 2 * inv.length > D)
          fail(fn, `${field}.frequencies.invFreq must hold 1..D/2 = ${Math.floor(D / 2)} frequencies for head dim ${D}, got ${inv.length}`);
        finiteArray(fn, `${field}.frequencies.invFreq`, inv);
        // >= 0 as transformers' attention_factor
        if (fr.attentionFactor !== undefined && finite(fn, `${field}.frequencies.attentionFactor`, fr.attentionFactor) < 0)
          fail(fn, `${field}.frequencies.attentionFactor must be >= 0, got ${fr.attentionFactor}`);
      }
      if (spec.xpos !== undefined) {
        const x = record(fn, `${field}.xpos`, spec.xpos, "{ scaleBase, center }");
        positive(fn, `${field}.xpos.scaleBase`, x.scaleBase);
        finite(fn, `${field}.xpos.center`, x.center);
      }
      const n = spec.heads;
      if (n !== undefined && (!Number.isInteger(n) || (n as number) < 1 || (n as number) > H || (H - (n as number)) % (H / Hkv) !== 0))
        fail(fn, `${field}.heads (${describe(n)}) must be an integer in [1, ${H}] covering whole key/value groups of ${H / Hkv} heads`);
      return;
    }
    case "bias":
      checkBias(fn, spec, H, field);
      return;
    case "contextual":
      oneOf(fn, `${field}.kind`, spec.kind, ["cope"]);
      arrayField(fn, `${field}.embeddings`, spec.embeddings, [D, null]);
      return;
    default:
      fail(fn, `${field}.type must be "none", "rotary", "bias" or "contextual", got ${describe(spec.type)}`);
  }
}

function checkBias(fn: string, spec: Record<string, unknown>, H: number, field: string): void {
  switch (oneOf(fn, `${field}.kind`, spec.kind, BIAS_KINDS)) {
    case "alibi": {
      const s = spec.slopes as ArrayLike<number> | undefined;
      if (typeof s !== "object" || s === null || s.length !== H)
        fail(fn, `${field}.slopes must hold one slope per head (${H}), got ${s?.length ?? describe(s)}`);
      finiteArray(fn, `${field}.slopes`, s);
      return;
    }
    case "t5": {
      if (typeof spec.bidirectional !== "boolean")
        fail(fn, `${field}.bidirectional must be true or false, got ${describe(spec.bidirectional)}`);
      const n = integer(fn, `${field}.numBuckets`, spec.numBuckets, 1);
      const exact = Math.floor((spec.bidirectional ? Math.floor(n / 2) : n) / 2);
      if (exact < 1) fail(fn, `${field}.numBuckets (${n}) leaves no exact bucket: at least ${spec.bidirectional ? 4 : 2} are needed`);
      integer(fn, `${field}.maxDistance`, spec.maxDistance, exact + 1);
      arrayField(fn, `${field}.table`, spec.table, [n, H]);
      return;
    }
    case "kerple":
      oneOf(fn, `${field}.variant`, spec.variant, ["log", "power"]);
      arrayField(fn, `${field}.r1`, spec.r1, [H]);
      arrayField(fn, `${field}.r2`, spec.r2, [H]);
      return;
    case "fire":
      mlpField(fn, `${field}.mlp`, spec.mlp, H);
      scalarField(fn, `${field}.c`, spec.c);
      scalarField(fn, `${field}.threshold`, spec.threshold);
      if (typeof spec.eps !== "number" || !(spec.eps >= 0) || !Number.isFinite(spec.eps))
        fail(fn, `${field}.eps must be a finite number >= 0, got ${describe(spec.eps)}`);
      return;
    case "mlp":
      mlpField(fn, `${field}.mlp`, spec.mlp, H);
      bool(fn, `${field}.logDistance`, spec.logDistance);
      return;
    case "table": {
      const R = integer(fn, `${field}.maxDistance`, spec.maxDistance, 0);
      arrayField(fn, `${field}.table`, spec.table, [H, 2 * R + 1]);
      return;
    }
  }
}

/** A jax-js array of `shape` (null: any size along that axis). */
function arrayField(fn: string, field: string, value: unknown, shape: (number | null)[]): void {
  const want = `(${shape.map((n) => n ?? "any").join(", ")})`;
  if (!isArray(value)) fail(fn, `${field} must be a jax-js array ${want}, got ${describe(value)}`);
  if (value.ndim !== shape.length || shape.some((n, i) => n !== null && value.shape[i] !== n))
    fail(fn, `${field} must be ${want}, got ${shapeOf(value)}`);
}

function scalarField(fn: string, field: string, value: unknown): void {
  if (!isArray(value) || value.size !== 1 || value.ndim > 1)
    fail(fn, `${field} must be a jax-js scalar () or (1), got ${isArray(value) ? shapeOf(value) : describe(value)}`);
}

/** Linear(1, W) -> Linear(W, H): w1 (1, W), b1 (W), w2 (W, H), b2 (H). */
function mlpField(fn: string, field: string, value: unknown, H: number): void {
  const m = record(fn, field, value, "{ w1, b1, w2, b2 }");
  arrayField(fn, `${field}.w1`, m.w1, [1, null]);
  const W = (m.w1 as np.Array).shape[1];
  arrayField(fn, `${field}.b1`, m.b1, [W]);
  arrayField(fn, `${field}.w2`, m.w2, [W, H]);
  arrayField(fn, `${field}.b2`, m.b2, [H]);
}
