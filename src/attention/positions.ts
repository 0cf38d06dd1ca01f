/**
 * Token positions inside differentiable attention: given as a count (0..n-1,
 * shifted by an offset for KV caches), as JS numbers, or as a jax-js array
 * (so that a jitted training step can take new randomized positions every
 * call without retracing).
 */
import { type DType, numpy as np } from "@jax-js/jax";
import { constant } from "../core/constant.js";
import { fail } from "../core/validate.js";

export type Positions = number[] | Float64Array | Float32Array | np.Array;

/**
 * Whether a value is a jax-js array, including the tracers that stand for
 * arrays inside `jit`, `grad` and `vjp` (which are not `np.Array` instances).
 */
export function isArray(x: unknown): x is np.Array {
  return typeof x === "object" && x !== null && "dtype" in x && "shape" in x && "ref" in x;
}

/** A float array of `n` positions; `offset` shifts the default 0..n-1. Consumes an array argument. */
export function positionArray(fn: string, field: string, positions: Positions | undefined, n: number, dtype: DType, offset = 0): np.Array {
  if (positions === undefined) return np.arange(offset, offset + n).astype(dtype);
  if (isArray(positions)) {
    if (positions.ndim !== 1 || positions.shape[0] !== n) {
      const shape = positions.shape;
      positions.dispose();
      fail(fn, `${field} must be a 1-D array of ${n} positions, got shape (${shape.join(", ")})`);
    }
    return positions.astype(dtype);
  }
  if (positions.length !== n) fail(fn, `${field} must hold ${n} positions, got ${positions.length}`);
  for (let i = 0; i < positions.length; i++) {
    if (!Number.isFinite(positions[i])) fail(fn, `${field}[${i}] must be finite, got ${positions[i]}`);
  }
  return constant(positions, dtype);
}
