/**
 * Seeded parameter initialisers for the `nn/` modules: plain JS numbers from
 * the project's xoshiro128** generator (src/pe/random.ts), turned into a
 * jax-js array of the requested dtype, so that a seed gives the same model on
 * every device.
 *
 * Reference: https://pytorch.org/docs/stable/nn.init.html
 */
import type { DType, numpy as np } from "@jax-js/jax";
import { constant } from "../core/constant.js";
import type { Rng } from "../pe/random.js";

const count = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** U(-bound, bound) entries of the given shape. */
export function uniform(r: Rng, shape: number[], bound: number, dtype: DType): np.Array {
  return constant(
    Float64Array.from({ length: count(shape) }, () => (2 * r.uniform() - 1) * bound),
    dtype,
  ).reshape(shape);
}

/** N(0, std^2) entries of the given shape. */
export function normal(r: Rng, shape: number[], std: number, dtype: DType): np.Array {
  return constant(
    Float64Array.from({ length: count(shape) }, () => std * r.normal()),
    dtype,
  ).reshape(shape);
}

/** An array filled with `value`. */
export function full(shape: number[], value: number, dtype: DType): np.Array {
  return constant(new Float64Array(count(shape)).fill(value), dtype).reshape(shape);
}
