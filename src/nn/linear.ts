/**
 * Linear layer: y = x W + b, with W stored (in, out) so that it applies to the
 * last axis of x directly (PyTorch stores the transpose, (out, in)).
 *
 * Initialisation as torch.nn.Linear: W and b ~ U(-1/sqrt(in), 1/sqrt(in)).
 *
 * Reference: https://pytorch.org/docs/stable/generated/torch.nn.Linear.html
 */
import { type DType, defaultDevice, numpy as np } from "@jax-js/jax";
import { cotangentBarrier } from "../core/cotangentBarrier.js";
import { shapeOf } from "../core/shapes.js";
import { fail } from "../core/validate.js";
import type { Rng } from "../pe/random.js";
import { uniform } from "./init.js";

export interface LinearParams {
  /** (in, out) */
  w: np.Array;
  /** (out), absent for a layer without bias. */
  b?: np.Array;
}

/** PyTorch's default Linear initialisation, U(-1/sqrt(in), 1/sqrt(in)) for W and b, drawn W first. */
export function initLinear(r: Rng, inDim: number, outDim: number, options: { bias?: boolean; dtype?: DType } = {}): LinearParams {
  const dtype = options.dtype ?? np.float32;
  const bound = 1 / Math.sqrt(inDim);
  const w = uniform(r, [inDim, outDim], bound, dtype);
  return options.bias === false ? { w } : { w, b: uniform(r, [outDim], bound, dtype) };
}

/**
 * y[..., o] = sum_i x[..., i] W[i, o] + b[o].
 *
 * Borrows the parameters (takes its own references), consumes x.
 */
export function linear(p: LinearParams, x: np.Array): np.Array {
  const [inDim, outDim] = p.w.shape;
  if (p.w.ndim !== 2 || (p.b && (p.b.ndim !== 1 || p.b.shape[0] !== outDim))) {
    x.dispose();
    fail("linear", `W must be (in, out) and b (out), got W ${shapeOf(p.w)}${p.b ? ` and b ${shapeOf(p.b)}` : ""}`);
  }
  if (x.ndim < 1 || x.shape[x.ndim - 1] !== inDim) {
    const s = shapeOf(x);
    x.dispose();
    fail("linear", `x must end in the input width ${inDim} of W ${shapeOf(p.w)}, got x ${s}`);
  }
  const y = np.matmul(x, p.w.ref); // (..., out)
  const out = p.b ? np.add(y, p.b.ref) : y; // (..., out)
  const device = defaultDevice();
  return device === "wasm" || device === "cpu" ? cotangentBarrier(out) : out; // see cotangentBarrier for where it pays
}
