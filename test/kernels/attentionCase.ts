/** The sizes of an attention test case and the float32 copy of its inputs, shared by the fused-kernel tests. */
import { numpy as np } from "@jax-js/jax";
import type { Input } from "../gradcheck.js";

/** q (B, H, L, D), k (B, Hkv, S, D), v (B, Hkv, S, Dv); B default 1, Dv default D. */
export interface Case {
  B?: number;
  H: number;
  Hkv: number;
  L: number;
  S: number;
  D: number;
  Dv?: number;
  seed?: number;
}

/** A float32 jax-js array of a float64 test input. */
export const f32 = (x: Input) => np.array(Float32Array.from(x.data)).reshape(x.shape);
