/**
 * Rotary position embeddings on jax-js arrays, differentiable and jit-able:
 * the same math as `pe/rope` (which is its float64 reference), with the
 * angles p * theta computed in the graph from position arrays.
 *
 *   out[..., c] = x[..., c] cos(p theta_f(c)) a + rot(x)[..., c] sin(p theta_f(c)) a    (c < rotaryDim)
 *   out[..., c] = x[..., c]                                                           (c >= rotaryDim)
 *
 * with a the attention factor, f and rot given by the pairing ("halves":
 * HF/Llama rotate_half, "interleaved": GPT-J rotate_every_two), and the first
 * rotaryDim coordinates rotated (partial rotary). xPos multiplies queries by
 * zeta^((p - center)/scaleBase) and keys by its inverse.
 *
 * Reference: Su et al., https://arxiv.org/abs/2104.09864; HF transformers
 * `apply_rotary_pos_emb`; Sun et al. (xPos), https://arxiv.org/abs/2212.10554
 */
import { numpy as np } from "@jax-js/jax";
import { constant } from "../core/constant.js";
import { fail } from "../core/validate.js";
import type { Pairing } from "../pe/rope/pairing.js";
import { bases as xposBases } from "../pe/rope/xpos.js";

export interface RotaryTables {
  /** (L, rotaryDim) */
  cos: np.Array;
  /** (L, rotaryDim) */
  sin: np.Array;
}

/**
 * cos/sin tables (L, rotaryDim) for positions (L) and inverse frequencies;
 * consumes `positions`. `xposScale` (query: +1, key: -1) folds xPos scaling in.
 */
export function rotaryTables(
  positions: np.Array,
  invFreq: ArrayLike<number>,
  opts: { pairing: Pairing; attentionFactor?: number; xpos?: { scaleBase: number; center: number; sign: 1 | -1 } },
): RotaryTables {
  const half = invFreq.length;
  const R = 2 * half;
  const dtype = positions.dtype;
  // column c uses frequency f(c): halves -> c mod R/2, interleaved -> floor(c/2)
  const perColumn = Float64Array.from({ length: R }, (_, c) => invFreq[opts.pairing === "halves" ? c % half : c >> 1]);
  const angles = np.multiply(positions.ref.reshape([-1, 1]), constant(perColumn, dtype).reshape([1, R]));
  let scale: np.Array | number = opts.attentionFactor ?? 1;
  if (opts.xpos) {
    const zeta = xposBases(R);
    const logZeta = Float64Array.from({ length: R }, (_, c) => Math.log(zeta[opts.pairing === "halves" ? c % half : c >> 1]));
    const { scaleBase, center, sign } = opts.xpos;
    const power = np.multiply(np.subtract(positions.reshape([-1, 1]), center), sign / scaleBase);
    scale = np.multiply(np.exp(np.multiply(power, constant(logZeta, dtype).reshape([1, R]))), scale);
  } else {
    positions.dispose();
  }
  const cos = np.multiply(np.cos(angles.ref), typeof scale === "number" ? scale : scale.ref);
  const sin = np.multiply(np.sin(angles), scale);
  return { cos, sin };
}

/**
 * Rotates x (..., L, D) with tables (L, R) broadcast over the leading axes.
 * Consumes x, cos and sin.
 */
export function applyRotary(x: np.Array, cos: np.Array, sin: np.Array, pairing: Pairing): np.Array {
  const fn = "applyRotary";
  const D = x.shape[x.ndim - 1];
  const R = cos.shape[cos.ndim - 1];
  const sameTables = sin.ndim === cos.ndim && sin.shape.every((n, i) => n === cos.shape[i]);
  if (!sameTables || cos.ndim < 2 || R > D || R % 2 !== 0 || x.shape[x.ndim - 2] !== cos.shape[cos.ndim - 2]) {
    const msg = `tables cos (${cos.shape.join(", ")}) and sin (${sin.shape.join(", ")}) do not fit x (${x.shape.join(", ")}): need both (L, R) with R even and R <= D`;
    x.dispose();
    cos.dispose();
    sin.dispose();
    fail(fn, msg);
  }
  const lead = x.shape.slice(0, -1).map(() => [] as []);
  const xr = R === D ? x.ref : x.ref.slice(...lead, [0, R]);
  let rotated: np.Array;
  if (pairing === "halves") {
    const x1 = xr.ref.slice(...lead, [0, R / 2]);
    const x2 = xr.ref.slice(...lead, [R / 2, R]);
    rotated = np.concatenate([np.negative(x2), x1], -1);
  } else {
    const pairs = xr.ref.reshape([...x.shape.slice(0, -1), R / 2, 2]);
    const even = pairs.ref.slice(...lead, [], [0, 1]);
    const odd = pairs.slice(...lead, [], [1, 2]);
    rotated = np.concatenate([np.negative(odd), even], -1).reshape([...x.shape.slice(0, -1), R]);
  }
  const out = np.add(np.multiply(xr, cos), np.multiply(rotated, sin));
  if (R === D) {
    x.dispose();
    return out;
  }
  return np.concatenate([out, x.slice(...lead, [R, D])], -1);
}
