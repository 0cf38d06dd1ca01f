/**
 * Softmax attention with positional encodings, as a differentiable, jit-able
 * jax-js composite: the exact reference every fused kernel must equal.
 *
 *   logits[b,h,i,j] = scale q_i . k_j + bias_h(p_i, p_j)         (rotary: q, k rotated first)
 *   logits          = mask ? logits : -inf-ish                   (causal, window, padding)
 *   logits         += CoPE(q, logits)                            (contextual)
 *   out[b,h,i]      = sum_j softmax_j(logits[b,h,i,:]) v_j
 *
 * Shapes: q (B, H, L, D), k (B, Hkv, S, D), v (B, Hkv, S, Dv) with H a
 * multiple of Hkv (grouped-query; Hkv = 1 is multi-query). Query i sits at
 * index `queryOffset + i` and key j at index j; masks compare indices,
 * positional encodings use positions (by default equal to the indices, or
 * given explicitly, e.g. randomized positions at training time).
 *
 * Sizes: the (B, H, L, S) logits must fit one storage buffer of the device
 * (`runtime().limits.maxStorageBufferBindingSize`): larger problems are split
 * by heads, then by blocks of queries, and refused with a clear error only
 * when one head and one query row do not fit.
 *
 * Masked logits take the dtype's lowest value, as transformers does, so a row
 * with no visible key averages the values instead of producing NaN.
 *
 * Consumes q, k, v, the padding mask, position arrays and the arrays of the
 * positional-encoding spec.
 *
 * Reference: Vaswani et al. (2017), https://arxiv.org/abs/1706.03762;
 * HF transformers `eager_attention_forward`.
 */
import { nn, numpy as np } from "@jax-js/jax";
import { constant } from "../core/constant.js";
import { qkvShape, reject, shapeOf } from "../core/shapes.js";
import { describe } from "../core/validate.js";
import type { RopeTables } from "../pe/rope/apply.js";
import { fromHFConfig } from "../pe/rope/hfConfig.js";
import { currentLimits } from "../runtime/init.js";
import { positionalBias } from "./biases.js";
import { copeLogits } from "./cope.js";
import { isArray, type Positions, positionArray } from "./positions.js";
import { applyRotary, rotaryTables } from "./rotary.js";
import { type AttentionPE, checkPE, peArrays, type RotaryPE } from "./spec.js";

export interface AttentionOptions {
  /** Logit scale; default 1/sqrt(D). */
  scale?: number;
  /** Key j is visible to query i only if j <= queryOffset + i. */
  causal?: boolean;
  /** Keys visible to query index t: t - left <= j <= t + right (a number w means [w - 1, 0] with causal, [w, w] without). */
  window?: number | [number, number];
  /** (B, S): nonzero / true for real keys, 0 / false for padding. */
  paddingMask?: np.Array;
  /** Positional encoding; default none. */
  pe?: AttentionPE;
  /** Index of the first query (KV-cache decoding); default S - L. */
  queryOffset?: number;
  /** Query positions for the PE (default queryOffset + i). */
  queryPositions?: Positions;
  /** Key positions for the PE (default j). */
  keyPositions?: Positions;
  /** Override of the device's storage-buffer limit in bytes (for testing the splitting). */
  maxBufferBytes?: number;
}

const FN = "attention";

export function attention(q: np.Array, k: np.Array, v: np.Array, options: AttentionOptions = {}): np.Array {
  const owned = [q, k, v, options.paddingMask, ...peArrays(options.pe)].filter((a): a is np.Array => a !== undefined);
  const positionArrays = [options.queryPositions, options.keyPositions].filter(isArray);
  const abort = (message: string): never => reject(FN, [...owned, ...positionArrays], message);
  const { B, H, L, D, Hkv, S } = qkvShape(q, k, v, true, abort);
  if (q.dtype !== k.dtype || q.dtype !== v.dtype) abort(`q, k, v dtypes differ: ${q.dtype}, ${k.dtype}, ${v.dtype}`);
  const pe = options.pe ?? { type: "none" };
  const queryOffset = options.queryOffset ?? S - L;
  if (!Number.isInteger(queryOffset) || queryOffset < 0) abort(`options.queryOffset must be an integer >= 0, got ${queryOffset}`);
  if (options.paddingMask && (options.paddingMask.ndim !== 2 || options.paddingMask.shape[0] !== B || options.paddingMask.shape[1] !== S)) {
    abort(`options.paddingMask must be (B, S) = (${B}, ${S}), got ${shapeOf(options.paddingMask)}`);
  }
  const window = resolveWindow(options.window, options.causal ?? false, abort);
  try {
    checkPE(FN, options.pe, { heads: H, kvHeads: Hkv, headDim: D, queries: L, keys: S });
  } catch (e) {
    for (const a of [...owned, ...positionArrays]) a.dispose();
    throw e;
  }
  if (pe.type === "contextual" && !options.causal) abort('CoPE (pe.kind "cope") needs causal attention');
  if (options.causal !== undefined && typeof options.causal !== "boolean")
    abort(`options.causal must be true or false, got ${describe(options.causal)}`);

  const scale = options.scale ?? 1 / Math.sqrt(D);
  if (!Number.isFinite(scale)) abort(`options.scale must be a finite number, got ${describe(options.scale)}`);
  const itemBytes = q.dtype === np.float64 ? 8 : q.dtype === np.float16 ? 2 : 4;
  const limit = options.maxBufferBytes ?? currentLimits().maxStorageBufferBindingSize;
  const [headsPerChunk, queriesPerChunk] = planChunks(B, H, L, S, itemBytes, limit, abort);

  const staticQuery = staticPositions(options.queryPositions, L, queryOffset);
  const staticKey = staticPositions(options.keyPositions, S, 0);
  // positionArray consumes (and on refusal disposes) its own argument; the rest is disposed here.
  let qpos: np.Array | undefined;
  let kpos: np.Array;
  try {
    qpos = positionArray(FN, "options.queryPositions", options.queryPositions, L, q.dtype, queryOffset);
    kpos = positionArray(FN, "options.keyPositions", options.keyPositions, S, q.dtype);
  } catch (err) {
    const keys = isArray(options.keyPositions) ? options.keyPositions : undefined;
    for (const a of [...owned, qpos ?? keys]) a?.dispose();
    throw err;
  }

  // Rotary: rotate q and k once, before any splitting.
  if (pe.type === "rotary") {
    const seqLen = staticQuery ? Math.max(...staticQuery) + 1 : queryOffset + L;
    [q, k] = rotate(pe, q, k, qpos.ref, kpos.ref, seqLen);
  }
  // Grouped-query: repeat each key/value head for its group of query heads.
  if (Hkv !== H) {
    k = np.repeat(k, H / Hkv, 1);
    v = np.repeat(v, H / Hkv, 1);
  }

  const padding = options.paddingMask ? np.notEqual(options.paddingMask, 0).reshape([B, 1, 1, S]) : null;
  const rows: np.Array[] = [];
  for (let l0 = 0; l0 < L; l0 += queriesPerChunk) {
    const l1 = Math.min(L, l0 + queriesPerChunk);
    const cols: np.Array[] = [];
    for (let h0 = 0; h0 < H; h0 += headsPerChunk) {
      const h1 = Math.min(H, h0 + headsPerChunk);
      const whole = l0 === 0 && l1 === L && h0 === 0 && h1 === H;
      const part = (x: np.Array, rowsToo: boolean) => (whole ? x.ref : x.ref.slice([], [h0, h1], rowsToo ? [l0, l1] : [], []));
      cols.push(
        block({
          q: part(q, true),
          k: part(k, false),
          v: part(v, false),
          qpos: whole ? qpos.ref : qpos.ref.slice([l0, l1]),
          kpos: kpos.ref,
          staticQuery: staticQuery?.slice(l0, l1) ?? null,
          staticKey,
          heads: [h0, h1],
          firstQuery: queryOffset + l0,
          scale,
          causal: options.causal ?? false,
          window,
          padding: padding?.ref ?? null,
          pe,
        }),
      );
    }
    rows.push(cols.length === 1 ? cols[0] : np.concatenate(cols, 1));
  }
  for (const a of [q, k, v, qpos, kpos, padding, ...peArrays(pe)]) a?.dispose();
  return rows.length === 1 ? rows[0] : np.concatenate(rows, 2);
}

interface Block {
  q: np.Array; // (B, h, l, D)
  k: np.Array; // (B, h, S, D)
  v: np.Array; // (B, h, S, Dv)
  qpos: np.Array; // (l)
  kpos: np.Array; // (S)
  staticQuery: Float64Array | null;
  staticKey: Float64Array | null;
  heads: [number, number];
  firstQuery: number;
  scale: number;
  causal: boolean;
  window: [number, number] | null;
  padding: np.Array | null; // (B, 1, 1, S) bool
  pe: AttentionPE;
}

/** Attention for a block of heads and queries; consumes its arrays. */
function block(b: Block): np.Array {
  const l = b.q.shape[2];
  const S = b.k.shape[2];
  let logits = np.multiply(np.einsum("bhld,bhsd->bhls", b.q.ref, b.k), b.scale);
  if (b.pe.type === "bias") {
    const bias = positionalBias(b.pe, {
      queryPositions: b.qpos.ref,
      keyPositions: b.kpos.ref,
      staticQuery: b.staticQuery,
      staticKey: b.staticKey,
      heads: b.heads,
    });
    logits = np.add(logits, bias.reshape([1, ...bias.shape]));
  }
  b.qpos.dispose();
  b.kpos.dispose();
  const mask = visibility(b.firstQuery, l, S, b.causal, b.window, b.padding);
  if (mask) logits = np.where(mask, logits, lowest(logits.dtype));
  if (b.pe.type === "contextual") logits = np.add(logits.ref, copeLogits(b.q.ref, logits, b.pe.embeddings.ref));
  b.q.dispose();
  return np.einsum("bhls,bhsd->bhld", nn.softmax(logits, -1), b.v);
}

/** Boolean (1 | B, 1, l, S) visibility, or null when every key is visible. */
function visibility(
  first: number,
  l: number,
  S: number,
  causal: boolean,
  window: [number, number] | null,
  padding: np.Array | null,
): np.Array | null {
  let mask: np.Array | null = null;
  if (causal || window) {
    const diff = np.subtract(np.arange(first, first + l).reshape([l, 1]), np.arange(0, S).reshape([1, S])); // (l, S) i - j
    const parts: np.Array[] = [];
    if (causal) parts.push(np.greaterEqual(diff.ref, 0));
    if (window) parts.push(np.logicalAnd(np.lessEqual(diff.ref, window[0]), np.greaterEqual(diff.ref, -window[1])));
    diff.dispose();
    mask = parts.reduce((a, b) => np.logicalAnd(a, b)).reshape([1, 1, l, S]);
  }
  if (padding) mask = mask ? np.logicalAnd(mask, padding) : padding;
  return mask;
}

function lowest(dtype: np.DType): number {
  if (dtype === np.float64) return -Number.MAX_VALUE;
  if (dtype === np.float16) return -65504;
  return -3.4028234663852886e38;
}

/** The [left, right] window of `options.window` (see AttentionOptions), or null; `abort` on a bad value. */
export function resolveWindow(w: AttentionOptions["window"], causal: boolean, abort: (m: string) => never): [number, number] | null {
  if (w === undefined) return null;
  const pair: [number, number] = typeof w === "number" ? (causal ? [w - 1, 0] : [w, w]) : w;
  if (!Array.isArray(pair) || pair.length !== 2 || !pair.every((x) => Number.isInteger(x) && x >= 0)) {
    abort(`options.window must be a positive integer or [left, right] of integers >= 0, got ${JSON.stringify(w)}`);
  }
  if (typeof w === "number" && w < 1) abort(`options.window must be >= 1, got ${w}`);
  return pair;
}

/**
 * Heads per chunk and queries per chunk such that a (B, h, l, S) logits
 * tensor fits `limit` bytes: whole heads first, then query blocks.
 */
function planChunks(
  B: number,
  H: number,
  L: number,
  S: number,
  itemBytes: number,
  limit: number,
  abort: (m: string) => never,
): [number, number] {
  const bytes = (h: number, l: number) => B * h * l * S * itemBytes;
  if (bytes(H, L) <= limit) return [H, L];
  const heads = Math.floor(limit / bytes(1, L));
  if (heads >= 1) return [heads, L];
  const queries = Math.floor(limit / bytes(1, 1));
  if (queries >= 1) return [1, queries];
  return abort(
    `one head and one query row of logits (B=${B}, S=${S}: ${bytes(1, 1)} bytes) exceed the device's storage buffer limit of ${limit} bytes`,
  );
}

/** Static positions when they are known in JS (given as numbers, or the default range). */
function staticPositions(p: Positions | undefined, n: number, offset: number): Float64Array | null {
  if (p === undefined) return Float64Array.from({ length: n }, (_, i) => offset + i);
  if (isArray(p)) return null;
  return Float64Array.from(p);
}

function rotate(pe: RotaryPE, q: np.Array, k: np.Array, qpos: np.Array, kpos: np.Array, seqLen: number): [np.Array, np.Array] {
  let tq: { cos: np.Array; sin: np.Array };
  let tk: { cos: np.Array; sin: np.Array };
  if ("tables" in pe.frequencies) {
    // computed beforehand (e.g. M-RoPE): the positions are already in the tables
    qpos.dispose();
    kpos.dispose();
    const table = (t: RopeTables) => ({
      cos: constant(t.cos, q.dtype).reshape([t.length, t.rotaryDim]),
      sin: constant(t.sin, q.dtype).reshape([t.length, t.rotaryDim]),
    });
    tq = table(pe.frequencies.tables.query);
    tk = table(pe.frequencies.tables.key);
  } else {
    const f =
      "hfConfig" in pe.frequencies
        ? fromHFConfig(pe.frequencies.hfConfig, { seqLen, layerType: pe.frequencies.layerType })
        : pe.frequencies;
    const xpos = pe.xpos;
    tq = rotaryTables(qpos, f.invFreq, { pairing: pe.pairing, attentionFactor: f.attentionFactor, xpos: xpos && { ...xpos, sign: 1 } });
    tk = rotaryTables(kpos, f.invFreq, {
      pairing: pe.pairing,
      attentionFactor: f.attentionFactor,
      xpos: xpos && { ...xpos, sign: -1 },
    });
  }
  const H = q.shape[1];
  const Hkv = k.shape[1];
  const n = pe.heads ?? H;
  if (n === H) return [applyRotary(q, tq.cos, tq.sin, pe.pairing), applyRotary(k, tk.cos, tk.sin, pe.pairing)];
  // only the last n query heads (and the key heads of their groups) are rotated
  const nk = (n / H) * Hkv;
  const split = (x: np.Array, total: number, rotated: number, t: { cos: np.Array; sin: np.Array }) =>
    np.concatenate(
      [x.ref.slice([], [0, total - rotated]), applyRotary(x.slice([], [total - rotated, total]), t.cos, t.sin, pe.pairing)],
      1,
    );
  return [split(q, H, n, tq), split(k, Hkv, nk, tk)];
}
