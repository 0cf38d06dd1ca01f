/**
 * The normalisation a model uses, chosen by config: LayerNorm (GPT-2) or
 * RMSNorm (Llama), with its eps an explicit field.
 *
 * Reference: see layerNorm.ts and rmsNorm.ts.
 */
import { type DType, numpy as np } from "@jax-js/jax";
import { oneOf, positive, record } from "../core/validate.js";
import { initLayerNorm, type LayerNormParams, layerNorm } from "./layerNorm.js";
import { initRmsNorm, type RmsNormParams, rmsNorm } from "./rmsNorm.js";

export interface NormConfig {
  type: "layer" | "rms";
  /** torch LayerNorm: 1e-5; Llama RMSNorm: 1e-6. */
  eps: number;
}

export type NormParams = LayerNormParams | RmsNormParams;

export function initNorm(config: NormConfig, width: number, dtype: DType = np.float32): NormParams {
  return config.type === "layer" ? initLayerNorm(width, dtype) : initRmsNorm(width, dtype);
}

/** (..., C) -> (..., C). Borrows the parameters, consumes x. */
export function norm(config: NormConfig, p: NormParams, x: np.Array): np.Array {
  if (config.type === "layer") {
    if (!("beta" in p)) throw new Error('norm: a "layer" norm needs parameters { gamma, beta }');
    return layerNorm(p, x, config.eps);
  }
  return rmsNorm(p, x, config.eps);
}

/** Throws `fn: <field>...` unless `config` is a NormConfig. */
export function checkNorm(fn: string, field: string, config: unknown): NormConfig {
  const c = record(fn, field, config, '{ type: "layer" | "rms", eps }');
  oneOf(fn, `${field}.type`, c.type, ["layer", "rms"]);
  positive(fn, `${field}.eps`, c.eps);
  return config as NormConfig;
}
