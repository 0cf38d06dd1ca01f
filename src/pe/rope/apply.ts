/**
 * Applying rotary position embeddings to a (L, D) block of query or key rows.
 *
 *   cos[p, c] = attentionFactor * cos(pos_p * theta_{f(c)}),   sin likewise,
 *   out[p, c] = x[p, c] * cos[p, c] + rot(x)[p, c] * sin[p, c]     for c < rotaryDim,
 *   out[p, c] = x[p, c]                                             for c >= rotaryDim (partial rotary),
 *
 * where f and rot follow the pairing (see pairing.ts). With pairing "halves"
 * the tables equal HF's `emb = cat(freqs, freqs)`; with "interleaved" they are
 * `repeat_interleave(freqs, 2)` as GPT-J.
 *
 * Reference: HF transformers `apply_rotary_pos_emb` (models/llama) and
 * `apply_rotary_pos_emb` (models/gptj).
 */
import { fail, finite, finiteArray, integer, positionsOf } from "../../core/validate.js";
import { checkPairing, frequencyIndex, type Pairing, partner } from "./pairing.js";

export interface RopeTables {
  /** (L, rotaryDim) row-major. */
  cos: Float64Array;
  /** (L, rotaryDim) row-major. */
  sin: Float64Array;
  length: number;
  rotaryDim: number;
}

export interface TableOptions {
  pairing: Pairing;
  /** Multiplies cos and sin (YaRN / LongRoPE attention factor). Default 1. */
  attentionFactor?: number;
}

/** cos/sin tables for the given positions (a count L means 0..L-1, or explicit values, e.g. with a KV-cache offset). */
export function tables(positions: number | ArrayLike<number>, invFreq: ArrayLike<number>, options: TableOptions): RopeTables {
  const fn = "rope.tables";
  const pairing = checkPairing(fn, options?.pairing);
  const factor = finite(fn, "options.attentionFactor", options.attentionFactor ?? 1);
  const pos = positionsOf(fn, positions);
  const inv = finiteArray(fn, "invFreq", invFreq);
  if (inv.length === 0) fail(fn, "invFreq must hold at least one frequency");
  const rotaryDim = 2 * inv.length;
  const cos = new Float64Array(pos.length * rotaryDim);
  const sin = new Float64Array(pos.length * rotaryDim);
  for (let p = 0; p < pos.length; p++) {
    for (let c = 0; c < rotaryDim; c++) {
      const angle = pos[p] * inv[frequencyIndex(pairing, c, rotaryDim)];
      cos[p * rotaryDim + c] = factor * Math.cos(angle);
      sin[p * rotaryDim + c] = factor * Math.sin(angle);
    }
  }
  return { cos, sin, length: pos.length, rotaryDim };
}

export interface ApplyOptions {
  pairing: Pairing;
  /** Head dimension D of each row of x; x holds L * D values. */
  headDim: number;
}

/** Rotates the first `t.rotaryDim` coordinates of each of the L rows of x (L, headDim). */
export function applyRope(x: ArrayLike<number>, t: RopeTables, options: ApplyOptions): Float64Array {
  const fn = "rope.applyRope";
  const pairing = checkPairing(fn, options?.pairing);
  const D = integer(fn, "options.headDim", options.headDim, 2);
  if (t.rotaryDim > D) fail(fn, `tables rotaryDim (${t.rotaryDim}) exceeds options.headDim (${D})`);
  if (x.length !== t.length * D) {
    fail(fn, `x must hold L * headDim = ${t.length} * ${D} = ${t.length * D} values, got ${x.length}`);
  }
  const r = t.rotaryDim;
  const out = Float64Array.from(x);
  for (let p = 0; p < t.length; p++) {
    for (let c = 0; c < r; c++) {
      const { index, sign } = partner(pairing, c, r);
      out[p * D + c] = x[p * D + c] * t.cos[p * r + c] + sign * x[p * D + index] * t.sin[p * r + c];
    }
  }
  return out;
}
