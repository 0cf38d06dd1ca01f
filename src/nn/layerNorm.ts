/**
 * Layer normalisation over the last axis:
 *
 *   y = (x - mean(x)) / sqrt(var(x) + eps) * gamma + beta,   var biased (divides by C)
 *
 * Initialisation gamma = 1, beta = 0, as torch.nn.LayerNorm.
 *
 * Reference: Ba et al. (2016), https://arxiv.org/abs/1607.06450;
 * https://pytorch.org/docs/stable/generated/torch.nn.LayerNorm.html
 */
import { type DType, numpy as np } from "@jax-js/jax";
import { reject, shapeOf } from "../core/shapes.js";
import { full } from "./init.js";

export interface LayerNormParams {
  /** (C) */
  gamma: np.Array;
  /** (C) */
  beta: np.Array;
}

export function initLayerNorm(width: number, dtype: DType = np.float32): LayerNormParams {
  return { gamma: full([width], 1, dtype), beta: full([width], 0, dtype) };
}

/** Normalises the last axis. Borrows the parameters, consumes x. `eps` as torch's default 1e-5 when omitted. */
export function layerNorm(p: LayerNormParams, x: np.Array, eps = 1e-5): np.Array {
  const C = x.shape[x.ndim - 1];
  if (x.ndim < 1 || p.gamma.ndim !== 1 || p.gamma.shape[0] !== C || p.beta.ndim !== 1 || p.beta.shape[0] !== C)
    reject(
      "layerNorm",
      [x],
      `x (..., C) must end in the width of gamma ${shapeOf(p.gamma)} and beta ${shapeOf(p.beta)}, got x ${shapeOf(x)}`,
    );
  return np.add(np.multiply(normalize(x, eps), p.gamma.ref), p.beta.ref); // (..., C)
}

/**
 * LayerNorm without affine parameters (torch's `elementwise_affine=False`, as in DiT's blocks):
 * (x - mean) / sqrt(var + eps) over the last axis. Consumes x.
 */
export function normalize(x: np.Array, eps: number): np.Array {
  const centered = np.subtract(x.ref, np.mean(x, -1, { keepdims: true })); // (..., C)
  const variance = np.mean(np.square(centered.ref), -1, { keepdims: true }); // (..., 1)
  return np.multiply(centered, np.reciprocal(np.sqrt(np.add(variance, eps)))); // (..., C)
}
