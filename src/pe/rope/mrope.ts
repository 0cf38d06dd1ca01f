/**
 * Multimodal RoPE (M-RoPE) of Qwen2-VL, Qwen2.5-VL and Qwen3-VL: every token
 * has three positions (temporal, height, width), and each rotary frequency
 * f < R/2 takes the position of one axis a(f):
 *
 *   angle[l, f] = p_{a(f)}[l] * invFreq[f]
 *
 * - sectioned (Qwen2-VL, Qwen2.5-VL): `section` = [s_t, s_h, s_w] with
 *   s_t + s_h + s_w = R/2; the first s_t frequencies follow the temporal
 *   position, the next s_h the height, the last s_w the width
 *   (`apply_multimodal_rotary_pos_emb`, which splits cat(freqs, freqs) into
 *   sections [s_t, s_h, s_w, s_t, s_h, s_w] and takes axis i mod 3 of chunk i);
 * - interleaved (Qwen3-VL): frequency f follows the height when f mod 3 = 1
 *   and f < 3 s_h, the width when f mod 3 = 2 and f < 3 s_w, else the
 *   temporal position (`apply_interleaved_mrope`: [T H W T H W ... T T]).
 *
 * The tables then expand each frequency over its pair as `rope.tables` does
 * (pairing "halves" for the Qwen models), times the attention factor. A text
 * token has three equal positions, and M-RoPE is plain RoPE on it.
 *
 * `mropePositions` builds the three position rows of a sequence of text runs
 * and images as Qwen2-VL's `get_rope_index` does (transformers 5.x): text
 * runs on from the current offset on all three axes; an image of t x h x w
 * merged patches (the language model's grid: the vision grid divided by the
 * spatial merge size) puts its tokens, in (t, h, w) row-major order, at
 * offset + (i_t, i_h, i_w), and moves the offset on by max(h, w). A
 * Qwen2-VL video is such a grid of t frames (temporal step 1); Qwen2.5-VL's
 * spacing of frames by seconds is not built here.
 *
 * Reference: Wang et al., "Qwen2-VL" (2024), https://arxiv.org/abs/2409.12191;
 * HF transformers 5.x models/qwen2_vl (`Qwen2VLRotaryEmbedding`,
 * `get_rope_index`) and models/qwen3_vl (`apply_interleaved_mrope`).
 */
import { fail, finite, finiteArray, integer, record } from "../../core/validate.js";
import type { RopeTables } from "./apply.js";
import { checkPairing, frequencyIndex, type Pairing } from "./pairing.js";

/** Three positions per token: temporal, height and width rows of L positions each. */
export interface MropePositions {
  temporal: ArrayLike<number>;
  height: ArrayLike<number>;
  width: ArrayLike<number>;
}

export interface MropeOptions {
  /** [s_t, s_h, s_w], frequencies per axis, summing to R/2 (config.json `mrope_section`). */
  section: readonly [number, number, number] | readonly number[];
  /** Qwen3-VL's interleaved layout (config.json `mrope_interleaved`); default false: sectioned. */
  interleaved?: boolean;
  pairing: Pairing;
  /** Multiplies cos and sin; default 1. */
  attentionFactor?: number;
}

/** The axis (0 temporal, 1 height, 2 width) of each of the R/2 frequencies. */
export function mropeAxes(section: readonly number[], interleaved: boolean): Uint8Array {
  const half = section[0] + section[1] + section[2];
  return Uint8Array.from({ length: half }, (_, f) => {
    if (interleaved) return f % 3 === 1 && f < 3 * section[1] ? 1 : f % 3 === 2 && f < 3 * section[2] ? 2 : 0;
    return f < section[0] ? 0 : f < section[0] + section[1] ? 1 : 2;
  });
}

/** cos/sin tables (L, R) of tokens at three positions each; R = 2 invFreq.length. */
export function mropeTables(positions: MropePositions, invFreq: ArrayLike<number>, options: MropeOptions): RopeTables {
  const fn = "rope.mropeTables";
  const pairing = checkPairing(fn, options?.pairing);
  const factor = finite(fn, "options.attentionFactor", options.attentionFactor ?? 1);
  const inv = finiteArray(fn, "invFreq", invFreq);
  if (inv.length === 0) fail(fn, "invFreq must hold at least one frequency");
  const section = checkSection(fn, "options.section", options.section, inv.length);
  if (options.interleaved !== undefined && typeof options.interleaved !== "boolean")
    fail(fn, `options.interleaved must be true or false, got ${JSON.stringify(options.interleaved)}`);
  const p = record(fn, "positions", positions, "{ temporal, height, width }");
  const rows = (["temporal", "height", "width"] as const).map((axis) => {
    const v = p[axis] as ArrayLike<number> | undefined;
    if (typeof v !== "object" || v === null || typeof v.length !== "number") fail(fn, `positions.${axis} must be an array of positions`);
    return finiteArray(fn, `positions.${axis}`, v);
  });
  const L = rows[0].length;
  if (rows[1].length !== L || rows[2].length !== L)
    fail(fn, `positions.temporal, .height and .width must have one length, got ${rows.map((r) => r.length).join(", ")}`);
  const axes = mropeAxes(section, options.interleaved ?? false);
  const R = 2 * inv.length;
  const cos = new Float64Array(L * R);
  const sin = new Float64Array(L * R);
  for (let l = 0; l < L; l++) {
    for (let c = 0; c < R; c++) {
      const f = frequencyIndex(pairing, c, R);
      const angle = rows[axes[f]][l] * inv[f];
      cos[l * R + c] = factor * Math.cos(angle);
      sin[l * R + c] = factor * Math.sin(angle);
    }
  }
  return { cos, sin, length: L, rotaryDim: R };
}

/** Validates an M-RoPE section against R/2 frequencies. */
export function checkSection(fn: string, field: string, section: unknown, half: number): [number, number, number] {
  if (!Array.isArray(section) || section.length !== 3)
    fail(fn, `${field} must be [temporal, height, width] frequency counts, got ${JSON.stringify(section)}`);
  const s = section.map((n, i) => integer(fn, `${field}[${i}]`, n, 0)) as [number, number, number];
  if (s[0] + s[1] + s[2] !== half) fail(fn, `${field} [${s.join(", ")}] must sum to rotary dims / 2 = ${half}, got ${s[0] + s[1] + s[2]}`);
  return s;
}

/** One run of a multimodal sequence: `text` tokens, or an image (or Qwen2-VL video) of t x h x w merged patches (one token each). */
export type MropeSegment = { text: number } | { image: { t: number; h: number; w: number } };

/** The three position rows of a sequence of text runs and images, as Qwen2-VL's `get_rope_index` (file header). */
export function mropePositions(segments: readonly MropeSegment[]): { temporal: Float64Array; height: Float64Array; width: Float64Array } {
  const fn = "rope.mropePositions";
  if (!Array.isArray(segments))
    fail(fn, `segments must be an array of { text } or { image: { t, h, w } }, got ${JSON.stringify(segments)}`);
  const t: number[] = [];
  const h: number[] = [];
  const w: number[] = [];
  const token = (pt: number, ph: number, pw: number) => {
    t.push(pt);
    h.push(ph);
    w.push(pw);
  };
  let next = 0; // the current offset
  segments.forEach((seg, i) => {
    const s = record(fn, `segments[${i}]`, seg, "{ text } or { image: { t, h, w } }");
    if ("text" in s) {
      const n = integer(fn, `segments[${i}].text`, s.text, 0);
      for (let k = 0; k < n; k++) token(next + k, next + k, next + k);
      next += n;
    } else if ("image" in s) {
      const g = record(fn, `segments[${i}].image`, s.image, "{ t, h, w }");
      const [gt, gh, gw] = (["t", "h", "w"] as const).map((k) => integer(fn, `segments[${i}].image.${k}`, g[k], 1));
      for (let a = 0; a < gt; a++) for (let b = 0; b < gh; b++) for (let c = 0; c < gw; c++) token(next + a, next + b, next + c);
      next += Math.max(gh, gw); // as transformers 5.x: the grid's extent in height and width, whatever t
    } else fail(fn, `segments[${i}] must be { text } or { image: { t, h, w } }, got ${JSON.stringify(seg)}`);
  });
  return { temporal: Float64Array.from(t), height: Float64Array.from(h), width: Float64Array.from(w) };
}
