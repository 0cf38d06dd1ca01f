/**
 * JS numbers as a jax-js constant of a given dtype, created directly in that
 * dtype: WebGPU has no float64, so a float64 array cannot be made there and
 * cast afterwards.
 */
import { type DType, numpy as np } from "@jax-js/jax";

export function constant(values: ArrayLike<number>, dtype: DType): np.Array {
  if (dtype === np.float64) return np.array(Float64Array.from(values));
  if (dtype === np.int32) return np.array(Int32Array.from(values));
  const f32 = np.array(Float32Array.from(values));
  return dtype === np.float32 ? f32 : f32.astype(dtype);
}
