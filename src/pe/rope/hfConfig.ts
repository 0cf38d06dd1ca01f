/**
 * Reading RoPE settings from a Hugging Face `config.json` object, verbatim,
 * the way transformers 5.x standardizes them:
 *
 * - the 5.x form `rope_parameters: { rope_type, rope_theta, factor, ... }`;
 * - the legacy form `rope_theta` + `rope_scaling: { type | rope_type, factor, ... }`
 *   (`type` is an alias of `rope_type`; when both `rope_scaling` and
 *   `rope_parameters` are present, `rope_scaling` wins, as in transformers);
 * - per-layer-type parameters (`rope_parameters: { full_attention: {...},
 *   sliding_attention: {...} }`, Gemma 3 style), chosen with `layerType`.
 *
 * Defaults as transformers: rope_theta 10000, partial_rotary_factor 1,
 * head_dim = config.head_dim or hidden_size / num_attention_heads,
 * original_max_position_embeddings from the config's top level, else from the
 * RoPE parameters, else max_position_embeddings. Where transformers only logs a
 * warning for an invalid value that would give wrong frequencies (missing or
 * non-positive factor, factor lists of the wrong length, NaN), this throws.
 *
 * GPT-NeoX's own names `rotary_pct` and `rotary_emb_base` are read as
 * partial_rotary_factor and rope_theta, as GPTNeoXConfig does; GPT-J's
 * `rotary_dim` is the rotated dims themselves, `n_head` and `n_embd` its
 * heads and width, and its pairing (`pairing`) is "interleaved". DeepSeek's
 * `qk_rope_head_dim` is the head dim of its rotated part (DeepseekV3Config
 * sets head_dim to it); Gemma 3's 4.x `rope_local_base_freq` makes the config
 * per layer type: "sliding_attention" default RoPE at that base,
 * "full_attention" the top-level RoPE.
 *
 * Note: transformers' Llama "default" RoPE ignores partial_rotary_factor
 * while GPT-NeoX, Phi and every scaled type apply it; posenc applies it always.
 *
 * Reference: https://github.com/huggingface/transformers/blob/main/src/transformers/modeling_rope_utils.py
 */
import { fail, describe as show } from "../../core/validate.js";
import { checkSection } from "./mrope.js";
import type { Pairing } from "./pairing.js";
import { ROPE_TYPES, type RopeFrequencies, type RopeParameters, type RopeType, ropeFrequencies } from "./scaling.js";

/** A parsed `config.json`: only the fields RoPE reads are typed. */
export interface HFConfig {
  rope_parameters?: Record<string, unknown> | null;
  rope_scaling?: Record<string, unknown> | null;
  rope_theta?: number;
  partial_rotary_factor?: number;
  rotary_pct?: number;
  rotary_emb_base?: number;
  head_dim?: number | null;
  hidden_size?: number;
  num_attention_heads?: number;
  max_position_embeddings?: number;
  original_max_position_embeddings?: number;
  layer_types?: string[];
  /** GPT-J, CodeGen: rotated dims per head (absolute, not a fraction). */
  rotary_dim?: number;
  /** DeepSeek-V3: whether q and k are de-interleaved before the rotation (default true). */
  rope_interleave?: boolean;
  /** GPT-J: heads and width under their GPT-2-style names. */
  n_head?: number;
  n_embd?: number;
  model_type?: string;
  /** DeepSeek-V2/V3: the rotated part of each head. */
  qk_rope_head_dim?: number;
  /** Gemma 3 (transformers 4.x form): rope_theta of the sliding-window layers. */
  rope_local_base_freq?: number;
  [key: string]: unknown;
}

export interface FromHFConfigOptions {
  /** Current sequence length: "dynamic" rescales beyond max_position_embeddings, "longrope" switches to long factors. */
  seqLen?: number;
  /** For per-layer-type parameters: which layer type to read (e.g. "full_attention"). */
  layerType?: string;
}

/** What `fromHFConfig` returns: the frequencies plus the resolved parameters they came from. */
export interface HFRope extends RopeFrequencies {
  /** Head dimension the rotary dims are taken from. */
  headDim: number;
  parameters: RopeParameters;
  /**
   * What the family multiplies its softmax scale by, 1 where it does not: DeepSeek-V2/V3 (`qk_rope_head_dim`)
   * with a scaled RoPE and `mscale_all_dim` use mscale(factor, mscale_all_dim)^2, mscale(s, m) = 0.1 m ln s + 1
   * (s > 1), on top of 1 / sqrt(qk_nope_head_dim + qk_rope_head_dim).
   */
  softmaxScale: number;
  /** M-RoPE (Qwen2-VL, Qwen3-VL): frequencies per axis [temporal, height, width], from `mrope_section`. */
  mropeSection?: [number, number, number];
  /** M-RoPE layout: Qwen3-VL's interleaved one (`mrope_interleaved`), else sectioned. */
  mropeInterleaved?: boolean;
  /** How the family pairs rotated coordinates: "interleaved" for GPT-J, CodeGen and DeepSeek-V2/V3, else "halves". */
  pairing: Pairing;
}

const FN = "rope.fromHFConfig";

/**
 * Inverse frequencies, attention factor and rotary dims for a Hugging Face
 * config, matching transformers' RoPE init functions to float32 precision.
 */
export function fromHFConfig(config: HFConfig, options: FromHFConfigOptions = {}): HFRope {
  const parameters = parseHFConfig(config, options);
  let seqLen: number | undefined;
  if (options.seqLen !== undefined) {
    if (!Number.isInteger(options.seqLen) || options.seqLen < 1) {
      fail(FN, `options.seqLen must be an integer >= 1, got ${show(options.seqLen)}`);
    }
    seqLen = options.seqLen;
  }
  const rope: HFRope = {
    ...ropeFrequencies(parameters, seqLen),
    headDim: headDimOf(config),
    parameters,
    softmaxScale: softmaxScaleOf(config, parameters),
    pairing: pairingOf(config),
  };
  const rp = selectLayer(rawParameters(config), config, options.layerType);
  if (rp.mrope_section !== undefined && rp.mrope_section !== null) {
    rope.mropeSection = checkSection(FN, "rope_parameters.mrope_section", rp.mrope_section, rope.invFreq.length);
    const interleaved = rp.mrope_interleaved ?? false;
    if (typeof interleaved !== "boolean") fail(FN, `rope_parameters.mrope_interleaved must be true or false, got ${show(interleaved)}`);
    rope.mropeInterleaved = interleaved;
  } else if (rp.mrope_interleaved !== undefined)
    fail(FN, "rope_parameters.mrope_interleaved is given without rope_parameters.mrope_section");
  return rope;
}

/**
 * How the family's attention pairs rotated coordinates (its weights are laid out for it): GPT-J and CodeGen
 * rotate every two; DeepSeek-V2 rotates complex pairs; DeepSeek-V3 de-interleaves its pairs first unless
 * `rope_interleave` is false (the order of coordinates changes, the attention scores do not); the rest halves.
 */
function pairingOf(config: HFConfig): Pairing {
  const t = config.model_type;
  if (t === "gptj" || t === "codegen" || t === "deepseek_v2") return "interleaved";
  if (t === "deepseek_v3") return config.rope_interleave === false ? "halves" : "interleaved";
  return "halves";
}

/** DeepSeek's softmax-scale multiplier (transformers `DeepseekV3Attention`); 1 for every other family. */
function softmaxScaleOf(config: HFConfig, p: RopeParameters): number {
  if (config.qk_rope_head_dim === undefined || p.type === "default" || !("factor" in p)) return 1;
  const rp = rawParameters(config);
  const m = rp.mscale_all_dim;
  if (m === undefined || m === null || m === 0) return 1;
  const mscale = p.factor <= 1 ? 1 : 0.1 * finiteNumber("rope_parameters.mscale_all_dim", m) * Math.log(p.factor) + 1;
  return mscale * mscale;
}

/** Resolves and validates the RoPE parameters of a Hugging Face config without computing frequencies. */
export function parseHFConfig(config: HFConfig, options: Pick<FromHFConfigOptions, "layerType"> = {}): RopeParameters {
  if (config === null || typeof config !== "object" || Array.isArray(config)) {
    fail(FN, `config must be a JSON object, got ${show(config)}`);
  }
  const rp = selectLayer(rawParameters(config), config, options.layerType);
  // legacy names, read as transformers reads them: Qwen2-VL's "mrope" is default RoPE with M-RoPE
  // sections, and Phi3Config reads "su" as LongRoPE
  const given = rp.rope_type ?? rp.type ?? "default";
  const rawType = given === "mrope" ? "default" : given === "su" && config.model_type === "phi3" ? "longrope" : given;
  if (typeof rawType !== "string" || !(ROPE_TYPES as readonly string[]).includes(rawType)) {
    fail(FN, `unknown rope_type ${show(rawType)}; supported: ${ROPE_TYPES.join(", ")}`);
  }
  const type = rawType as RopeType;
  checkKeys(rp);
  const field = (name: string) => `rope_parameters.${name}`;
  const base = positiveNumber(field("rope_theta"), rp.rope_theta ?? config.rope_theta ?? config.rotary_emb_base ?? 10000);
  const partial = positiveNumber(
    field("partial_rotary_factor"),
    rp.partial_rotary_factor ?? config.partial_rotary_factor ?? config.rotary_pct ?? 1,
  );
  if (partial > 1) fail(FN, `${field("partial_rotary_factor")} must be in (0, 1], got ${partial}`);
  const headDim = headDimOf(config);
  // GPT-J and CodeGen give the rotated dims themselves (`rotary_dim`)
  const rotaryDim =
    config.rotary_dim !== undefined && config.rotary_dim !== null
      ? positiveInt("rotary_dim", config.rotary_dim)
      : Math.trunc(headDim * partial);
  if (rotaryDim > headDim) fail(FN, `rotary_dim (${rotaryDim}) must be <= head_dim (${headDim})`);
  if (type !== "proportional" && (rotaryDim < 2 || rotaryDim % 2 !== 0)) {
    fail(
      FN,
      config.rotary_dim !== undefined && config.rotary_dim !== null
        ? `rotary_dim (${rotaryDim}) must be even and >= 2`
        : `rotary dims int(head_dim * partial_rotary_factor) = int(${headDim} * ${partial}) = ${rotaryDim} must be even and >= 2`,
    );
  }
  const factor = (required: boolean): number | undefined => {
    const v = rp.factor;
    if (v === undefined || v === null) {
      if (required) fail(FN, `rope_type "${type}" needs ${field("factor")} (a number > 0), but it is missing`);
      return undefined;
    }
    return positiveNumber(field("factor"), v);
  };
  const maxPositions = (): number => positiveInt("max_position_embeddings", config.max_position_embeddings);
  const originalMax = (): number => {
    const v = config.original_max_position_embeddings ?? rp.original_max_position_embeddings ?? config.max_position_embeddings;
    if (v === undefined || v === null) {
      fail(
        FN,
        `rope_type "${type}" needs the original context length: set ${field("original_max_position_embeddings")} (or max_position_embeddings)`,
      );
    }
    return positiveInt(field("original_max_position_embeddings"), v);
  };
  // without a factor, transformers takes max_position_embeddings / original_max_position_embeddings; with no
  // original length given either, that ratio is 1 and the scaling does nothing: refused as the mistake it is
  const derivedFactor = (original: number): number => {
    if ((config.original_max_position_embeddings ?? rp.original_max_position_embeddings) === undefined)
      fail(
        FN,
        `rope_type "${type}" needs ${field("factor")}, or ${field("original_max_position_embeddings")} to derive it from max_position_embeddings`,
      );
    return positiveNumber("max_position_embeddings / original_max_position_embeddings", maxPositions() / original);
  };
  const optionalNumber = (name: string): number | null => {
    const v = rp[name];
    return v === undefined || v === null ? null : finiteNumber(field(name), v);
  };

  switch (type) {
    case "default":
      return { type, base, rotaryDim };
    case "linear":
      return { type, base, rotaryDim, factor: factor(true)! };
    case "dynamic":
      return { type, base, rotaryDim, factor: factor(true)!, maxPositions: maxPositions() };
    case "yarn": {
      const original = originalMax();
      const f = factor(false) ?? derivedFactor(original);
      const attentionFactor = optionalNumber("attention_factor");
      if (attentionFactor !== null && attentionFactor < 0) fail(FN, `${field("attention_factor")} must be >= 0, got ${attentionFactor}`);
      // transformers: `beta_fast or 32`, `beta_slow or 1` (0 and null take the default)
      const betaFast = optionalNumber("beta_fast") || 32;
      const betaSlow = optionalNumber("beta_slow") || 1;
      if (betaFast <= 0 || betaSlow <= 0)
        fail(FN, `${field("beta_fast")} and ${field("beta_slow")} must be > 0, got ${betaFast} and ${betaSlow}`);
      const truncate = rp.truncate ?? true;
      if (typeof truncate !== "boolean") fail(FN, `${field("truncate")} must be true or false, got ${show(truncate)}`);
      return {
        type,
        base,
        rotaryDim,
        factor: f,
        originalMaxPositions: original,
        betaFast,
        betaSlow,
        mscale: optionalNumber("mscale"),
        mscaleAllDim: optionalNumber("mscale_all_dim"),
        attentionFactor,
        truncate,
      };
    }
    case "longrope": {
      const original = originalMax();
      const f = factor(false) ?? derivedFactor(original);
      const attentionFactor = optionalNumber("attention_factor");
      if (attentionFactor !== null && attentionFactor < 0) fail(FN, `${field("attention_factor")} must be >= 0, got ${attentionFactor}`);
      return {
        type,
        base,
        rotaryDim,
        factor: f,
        originalMaxPositions: original,
        attentionFactor,
        shortFactor: factorList(field("short_factor"), rp.short_factor, rotaryDim / 2),
        longFactor: factorList(field("long_factor"), rp.long_factor, rotaryDim / 2),
      };
    }
    case "llama3": {
      const lowFreqFactor = positiveNumber(field("low_freq_factor"), requiredField(type, rp, "low_freq_factor"));
      const highFreqFactor = positiveNumber(field("high_freq_factor"), requiredField(type, rp, "high_freq_factor"));
      if (highFreqFactor <= lowFreqFactor) {
        fail(FN, `${field("high_freq_factor")} (${highFreqFactor}) must be > ${field("low_freq_factor")} (${lowFreqFactor})`);
      }
      return { type, base, rotaryDim, factor: factor(true)!, originalMaxPositions: originalMax(), lowFreqFactor, highFreqFactor };
    }
    case "proportional": {
      if (headDim % 2 !== 0) fail(FN, `head_dim must be even for rope_type "proportional", got ${headDim}`);
      const rotatedPairs = Math.trunc(Math.floor((partial * headDim) / 2));
      return { type, base, rotaryDim: headDim, factor: factor(false) ?? 1, headDim, rotatedPairs };
    }
    default:
      return type satisfies never;
  }
}

/** head_dim, else DeepSeek's qk_rope_head_dim (the rotated part of its heads), else hidden_size / num_attention_heads (integer division). */
function headDimOf(config: HFConfig): number {
  if (config.head_dim !== undefined && config.head_dim !== null) return positiveInt("head_dim", config.head_dim);
  if (config.qk_rope_head_dim !== undefined && config.qk_rope_head_dim !== null)
    return positiveInt("qk_rope_head_dim", config.qk_rope_head_dim);
  // GPT-J's and GPT-2-style names n_head and n_embd, as their config classes map them
  const heads = positiveInt(
    config.num_attention_heads === undefined && config.n_head !== undefined ? "n_head" : "num_attention_heads",
    config.num_attention_heads ?? config.n_head,
  );
  const hidden = positiveInt(
    config.hidden_size === undefined && config.n_embd !== undefined ? "n_embd" : "hidden_size",
    config.hidden_size ?? config.n_embd,
  );
  return Math.floor(hidden / heads);
}

/** rope_scaling wins over rope_parameters; neither means default RoPE with the top-level rope_theta. */
function rawParameters(config: HFConfig): Record<string, unknown> {
  for (const key of ["rope_scaling", "rope_parameters"] as const) {
    const v = config[key];
    if (v === undefined || v === null) continue;
    if (typeof v !== "object" || Array.isArray(v)) fail(FN, `${key} must be an object, got ${show(v)}`);
    return v as Record<string, unknown>;
  }
  return {};
}

/**
 * The layer types a config gives RoPE parameters of their own (Gemma 3:
 * full_attention, sliding_attention), one of which `layerType` must name; []
 * when RoPE is the same in every layer.
 */
export function layerTypes(config: HFConfig): string[] {
  if (typeof config !== "object" || config === null) fail("rope.layerTypes", `config must be an object, got ${show(config)}`);
  return perLayer(rawParameters(config), config).keys;
}

function perLayer(raw: Record<string, unknown>, config: HFConfig): { rp: Record<string, unknown>; keys: string[]; nested: boolean } {
  // Gemma 3 in the transformers 4.x form: sliding layers take default RoPE at rope_local_base_freq
  const nested = Object.values(raw).some((v) => typeof v === "object" && v !== null && !Array.isArray(v));
  const rp =
    config.rope_local_base_freq === undefined || nested
      ? raw
      : {
          full_attention: raw,
          sliding_attention: { rope_type: "default", rope_theta: positiveNumber("rope_local_base_freq", config.rope_local_base_freq) },
        };
  const declared = Array.isArray(config.layer_types) ? config.layer_types : [];
  const keys = Object.keys(rp).filter(
    (k) => declared.includes(k) || (typeof rp[k] === "object" && rp[k] !== null && !Array.isArray(rp[k])),
  );
  return { rp, keys, nested };
}

function selectLayer(raw: Record<string, unknown>, config: HFConfig, layerType: string | undefined): Record<string, unknown> {
  const { rp, keys: nestedKeys, nested } = perLayer(raw, config);
  if (nestedKeys.length === 0) {
    if (layerType !== undefined) fail(FN, `options.layerType "${layerType}" given, but rope_parameters is not per layer type`);
    return rp;
  }
  if (layerType === undefined) {
    fail(
      FN,
      `${config.rope_local_base_freq === undefined || nested ? "rope_parameters is" : "with rope_local_base_freq (Gemma 3), RoPE is"} per layer type (${nestedKeys.join(", ")}): pass options.layerType (posenc rope --layer-type)`,
    );
  }
  const inner = rp[layerType];
  if (inner === undefined || inner === null || typeof inner !== "object" || Array.isArray(inner)) {
    fail(FN, `options.layerType "${layerType}" has no RoPE parameters; available: ${nestedKeys.join(", ")}`);
  }
  return inner as Record<string, unknown>;
}

function requiredField(type: RopeType, rp: Record<string, unknown>, name: string): unknown {
  if (rp[name] === undefined || rp[name] === null) fail(FN, `rope_type "${type}" needs rope_parameters.${name}, but it is missing`);
  return rp[name];
}

function finiteNumber(name: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isFinite(v)) fail(FN, `${name} must be a finite number, got ${show(v)}`);
  return v;
}

function positiveNumber(name: string, v: unknown): number {
  const x = finiteNumber(name, v);
  if (x <= 0) fail(FN, `${name} must be > 0, got ${x}`);
  return x;
}

function positiveInt(name: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1) fail(FN, `${name} must be an integer >= 1, got ${show(v)}`);
  return v;
}

function factorList(name: string, v: unknown, expected: number): Float64Array {
  if (!Array.isArray(v)) fail(FN, `${name} must be a list of ${expected} numbers (rotary dims / 2), got ${show(v)}`);
  if (v.length !== expected) fail(FN, `${name} must have rotary dims / 2 = ${expected} entries, got ${v.length}`);
  return Float64Array.from(v, (x, i) => positiveNumber(`${name}[${i}]`, x));
}

/** Every key of RoPE parameters that transformers or posenc reads (5.x and legacy forms, all types, M-RoPE). */
const KNOWN_KEYS = [
  "rope_type",
  "type",
  "rope_theta",
  "partial_rotary_factor",
  "factor",
  "original_max_position_embeddings",
  "attention_factor",
  "beta_fast",
  "beta_slow",
  "mscale",
  "mscale_all_dim",
  "truncate",
  "short_factor",
  "long_factor",
  "low_freq_factor",
  "high_freq_factor",
  "mrope_section",
  "mrope_interleaved",
];

/**
 * Refuses a key that is not one RoPE reads but is within two edits of one
 * (`fator`, `rope_tyep`): a typo that would otherwise fall back to a default
 * without a word. Other unknown keys pass, as in transformers, which only warns.
 */
function checkKeys(rp: Record<string, unknown>): void {
  for (const key of Object.keys(rp)) {
    if (KNOWN_KEYS.includes(key)) continue;
    const near = KNOWN_KEYS.find((k) => editDistance(key, k) <= 2);
    if (near) fail(FN, `unknown RoPE parameter ${show(key)}: did you mean ${show(near)}?`);
  }
}

/** Levenshtein distance (insertions, deletions, substitutions). */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row.push(Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1)));
    prev = row;
  }
  return prev[b.length];
}
