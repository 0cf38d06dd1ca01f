/**
 * Kernelized attention as a model's attention layer: linear attention with
 * random features and, optionally, a learned relative positional bias
 * b_{j-i} (Luo et al.), in place of softmax attention:
 *
 *   z_i = sum_j exp(b_{j-i}) phi(q_i).phi(k_j) v_j / (sum_j exp(b_{j-i}) phi(q_i).phi(k_j) + eps)
 *
 * computed by FFT Toeplitz products in O(L log L), or, for short contexts
 * where that holds fewer floats, with the (L, L) matrix (`evaluation`,
 * `attention/kernelized.ts`).
 * The layer owns b as a table (H, 2R + 1) over the offsets -R..R, clipped
 * beyond (as the learned relative table of softmax attention), initialised to
 * zero, so that training starts from plain linear attention (c = exp(0) = 1).
 * The random projection (M, D) is drawn from `seed` with orthogonal rows and
 * chi-distributed norms and stays fixed (not a parameter; no redraws).
 *
 * Reference: Luo et al., "Stable, Fast and Accurate: Kernelized Attention
 * with Relative Positional Encoding" (NeurIPS 2021), https://arxiv.org/abs/2106.12566;
 * Choromanski et al. (ICLR 2021), https://arxiv.org/abs/2009.14794;
 * Katharopoulos et al. (ICML 2020), https://arxiv.org/abs/2006.16236 (elu + 1)
 */
import { type DType, numpy as np } from "@jax-js/jax";
import { projection } from "../attention/featureMaps.js";
import { type FeatureSpec, kernelizedRpeAttention } from "../attention/kernelized.js";
import { constant } from "../core/constant.js";
import { fail, integer, oneOf, record } from "../core/validate.js";

export interface KernelizedLayerConfig {
  /** Random features M (prf, relu; elu + 1 maps each query and key to D features and draws no projection). */
  features: number;
  /** Positive random features (softmax kernel), ReLU random features, or elu(x) + 1 (Katharopoulos et al. 2020, linear attention). */
  featureMap: "prf" | "relu" | "eluPlusOne";
  /** Learned relative bias over offsets -maxDistance..maxDistance (clipped beyond); null: no RPE. */
  rpe: { maxDistance: number } | null;
  /** Luo et al.'s stabilisation: unit-length queries and keys before the feature map. */
  qkNorm: "l2" | "none";
  /** Seed of the fixed random projection. */
  seed: number;
  /** How the attention is evaluated (`KernelizedOptions.evaluation`); default "auto": dense for short contexts, FFT for long ones. */
  evaluation?: "auto" | "fft" | "dense";
}

export interface KernelizedLayerParams {
  /** (H, 2 maxDistance + 1) relative bias b. */
  rpe?: np.Array;
}

/**
 * Guard added to the denominator: ReLU features of a row can all be zero,
 * and positive features can underflow in float32; 0/0 would poison training.
 */
export const KERNELIZED_EPS = 1e-6;

export function initKernelizedLayer(config: KernelizedLayerConfig, heads: number, dtype: DType = np.float32): KernelizedLayerParams {
  checkKernelizedLayer("initKernelizedLayer", "config", config);
  if (!config.rpe) return {};
  return { rpe: np.zeros([heads, 2 * config.rpe.maxDistance + 1], { dtype }) };
}

/** Throws `fn: <field>...` unless `config` is a KernelizedLayerConfig. */
export function checkKernelizedLayer(fn: string, field: string, config: unknown): KernelizedLayerConfig {
  const c = record(fn, field, config, "{ features, featureMap, rpe, qkNorm, seed, evaluation? }");
  integer(fn, `${field}.features`, c.features, 1);
  integer(fn, `${field}.seed`, c.seed, 0);
  oneOf(fn, `${field}.featureMap`, c.featureMap, ["prf", "relu", "eluPlusOne"]);
  oneOf(fn, `${field}.qkNorm`, c.qkNorm, ["l2", "none"]);
  if (c.evaluation !== undefined) oneOf(fn, `${field}.evaluation`, c.evaluation, ["auto", "fft", "dense"]);
  if (c.rpe !== null) integer(fn, `${field}.rpe.maxDistance`, record(fn, `${field}.rpe`, c.rpe, "{ maxDistance } or null").maxDistance, 0);
  return config as KernelizedLayerConfig;
}

/**
 * q, k: (B, H, L, D), v: (B, H, L, Dv) -> (B, H, L, Dv). Borrows the
 * parameters, consumes q, k, v.
 */
export function kernelizedLayer(
  config: KernelizedLayerConfig,
  params: KernelizedLayerParams,
  q: np.Array,
  k: np.Array,
  v: np.Array,
  causal: boolean,
): np.Array {
  const [, , L, D] = q.shape;
  const W = () => projection(config.features, D, { seed: config.seed, scaling: "chi", dtype: q.dtype }); // (M, D)
  const features: FeatureSpec =
    config.featureMap === "prf"
      ? { kind: "prf", projection: W(), inputScale: "softmax" }
      : config.featureMap === "relu"
        ? { kind: "relu", projection: W() }
        : { kind: "eluPlusOne" };
  let rpe: np.Array | undefined;
  if (config.rpe) {
    if (!params.rpe) {
      for (const a of [q, k, v, "projection" in features ? features.projection : undefined]) a?.dispose();
      fail("kernelizedLayer", "config.rpe needs params.rpe (H, 2 maxDistance + 1)");
    }
    const R = config.rpe.maxDistance;
    const select = new Float64Array((2 * R + 1) * (2 * L - 1)); // (2R+1, 2L-1): offset o -> column clip(o, -R, R) + R
    for (let o = -(L - 1); o <= L - 1; o++) select[(Math.min(Math.max(o, -R), R) + R) * (2 * L - 1) + o + L - 1] = 1;
    rpe = np.matmul(params.rpe.ref, constant(select, q.dtype).reshape([2 * R + 1, 2 * L - 1])); // (H, 2L-1)
  }
  return kernelizedRpeAttention(q, k, v, {
    features,
    qkNorm: config.qkNorm,
    causal,
    rpe,
    eps: KERNELIZED_EPS,
    evaluation: config.evaluation ?? "auto",
  }); // (B, H, L, Dv)
}
