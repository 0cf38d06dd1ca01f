/**
 * Root-mean-square normalisation over the last axis (no centering, no bias):
 *
 *   y = x / sqrt(mean(x^2) + eps) * gamma
 *
 * Initialisation gamma = 1. Llama uses eps 1e-6.
 *
 * Reference: Zhang & Sennrich (2019), https://arxiv.org/abs/1910.07467;
 * HF transformers `LlamaRMSNorm`.
 */
import { type DType, numpy as np } from "@jax-js/jax";
import { reject, shapeOf } from "../core/shapes.js";
import { full } from "./init.js";

export interface RmsNormParams {
  /** (C) */
  gamma: np.Array;
}

export function initRmsNorm(width: number, dtype: DType = np.float32): RmsNormParams {
  return { gamma: full([width], 1, dtype) };
}

/** Normalises the last axis. Borrows the parameters, consumes x. `eps` 1e-6 (Llama) when omitted. */
export function rmsNorm(p: RmsNormParams, x: np.Array, eps = 1e-6): np.Array {
  if (x.ndim < 1 || p.gamma.ndim !== 1 || p.gamma.shape[0] !== x.shape[x.ndim - 1])
    reject("rmsNorm", [x], `x (..., C) must end in the width of gamma ${shapeOf(p.gamma)}, got x ${shapeOf(x)}`);
  const meanSquare = np.mean(np.square(x.ref), -1, { keepdims: true }); // (..., 1)
  const normed = np.multiply(x, np.reciprocal(np.sqrt(np.add(meanSquare, eps)))); // (..., C)
  return np.multiply(normed, p.gamma.ref); // (..., C)
}
