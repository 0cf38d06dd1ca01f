/**
 * Shape checks at the public boundary of the attention composites. jax-js
 * functions consume their array arguments, so a function that refuses its
 * input disposes every array it was given before it throws.
 */
import type { numpy as np } from "@jax-js/jax";
import { describe, fail } from "./validate.js";

/** "(2, 36, 16)" */
export function shapeOf(x: np.Array): string {
  return `(${x.shape.join(", ")})`;
}

/** Disposes `arrays` (all the arguments a function consumes), then throws `fn: message`. */
export function reject(fn: string, arrays: (np.Array | undefined)[], message: string): never {
  for (const a of arrays) a?.dispose();
  return fail(fn, message);
}

/** An integer >= min, or `reject` (disposing `arrays`). */
export function integerArg(fn: string, arrays: (np.Array | undefined)[], field: string, value: unknown, min: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min) {
    reject(fn, arrays, `${field} must be an integer >= ${min}, got ${describe(value)}`);
  }
  return value;
}

/** The sizes of q (B, H, L, D), k (B, Hkv, S, D), v (B, Hkv, S, Dv). */
export interface QkvShape {
  B: number;
  H: number;
  L: number;
  D: number;
  Hkv: number;
  S: number;
  Dv: number;
}

/**
 * The one q, k, v shape check of the attention composite and the fused
 * kernels: `grouped` allows Hkv key/value heads with H a multiple of Hkv and
 * S keys (softmax attention); otherwise k must have q's shape and v (B, H, L,
 * Dv) (kernelized attention). Calls `abort` (which disposes what the caller
 * owns and throws) with a message naming the shapes.
 */
export function qkvShape(q: np.Array, k: np.Array, v: np.Array, grouped: boolean, abort: (message: string) => never): QkvShape {
  const shapes = `q=${shapeOf(q)}, k=${shapeOf(k)}, v=${shapeOf(v)}`;
  if (q.ndim !== 4 || k.ndim !== 4 || v.ndim !== 4) {
    abort(`q, k, v must be (B, H, L, D)${grouped ? "" : ", (B, H, L, D), (B, H, L, Dv)"}, got ${shapes}`);
  }
  const [B, H, L, D] = q.shape;
  const [Bk, Hkv, S, Dk] = k.shape;
  const [Bv, Hv, Sv, Dv] = v.shape;
  const matched = Bk === B && Bv === B && Dk === D && Hv === Hkv && Sv === S && (grouped || (Hkv === H && S === L));
  if (!matched) {
    abort(
      `q, k, v shapes mismatch: ${shapes} (need ${grouped ? "k (B, Hkv, S, D) and v (B, Hkv, S, Dv)" : "q, k (B, H, L, D) and v (B, H, L, Dv)"})`,
    );
  }
  if (H % Hkv !== 0) abort(`query heads (${H}) must be a multiple of key/value heads (${Hkv}), got ${shapes}`);
  return { B, H, L, D, Hkv, S, Dv };
}
