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
