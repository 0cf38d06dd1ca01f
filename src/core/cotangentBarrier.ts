/**
 * The identity, with its cotangent written to memory once in the backward
 * pass instead of being recomputed inside every kernel that reads it.
 *
 * jax-js's jit inlines elementwise producers into the reductions that read
 * them. A matmul's cotangent dy feeds two matmuls (dx = dy W^T and
 * dW = x^T dy), and when dy is itself an elementwise expression (a ReLU or
 * GELU derivative, or the sum of a convolution's k^2 shifted tap gradients)
 * it is re-evaluated once per step of their reductions: measured on wasm
 * (jax-js 0.1.25, WriteViT generator step, batch 8), one convolution's
 * input-gradient kernel spent 224 ms re-evaluating a 9-term sum 144 times
 * per output. The engine does write the inputs of a `pad` to memory (it
 * needs them in a clean shape), and the transpose of a slice is a pad, so
 * the forward pass pads x by one zero column and slices it off again: the
 * values are x's, and the backward pass materialises dy where it enters.
 *
 * Where it pays, measured (one run each): on wasm (2 cores) the WriteViT
 * generator step went from 2.0 s to 1.3 s (its critic step, with fewer such
 * cotangents, from 1.19 to 1.29 s) and the smallest LM training row of
 * `npm run bench -- --train` from 63 to 46 ms. On WebGPU (H200) a step of
 * these sizes is bound by the cost of each dispatch (the WriteViT critic
 * step: 2303 kernels in 0.64 s), and the extra writes did not help: the
 * WriteViT generator step 975 -> 910 ms, its critic step 543 -> 642 ms, the
 * LM rows' fused steps 40 -> 39, 35 -> 38, 68 -> 110 and 262 -> 266 ms.
 * So `linear` uses it on wasm and cpu only.
 *
 * Consumes x.
 */
import { numpy as np } from "@jax-js/jax";

export function cotangentBarrier(x: np.Array): np.Array {
  const last = x.ndim - 1;
  const widths = x.shape.map((_, i) => [0, i === last ? 1 : 0] as [number, number]);
  const n = x.shape[last];
  const bounds = x.shape.map((_, i) => (i === last ? ([0, n] as [number, number]) : ([] as [])));
  return np.pad(x, widths).slice(...bounds);
}
