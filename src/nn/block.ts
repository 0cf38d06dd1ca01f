/**
 * Pre-norm transformer block (GPT-2 / Llama order):
 *
 *   x = x + Proj(Attention(Norm1(x) Wq, Norm1(x) Wk, Norm1(x) Wv; PE))
 *   x = x + MLP(Norm2(x))
 *
 * Multi-head self-attention splits C into H heads of D = C / H and runs
 * `attention` with the layer's positional-encoding spec, built from the
 * parameters the block owns (learnable PEs) at every call, or kernelized
 * attention with its relative bias (`kernelAttention.ts`) when configured.
 *
 * Reference: Radford et al. (2019) GPT-2; Karpathy, nanoGPT `model.py`
 * (`Block`, `CausalSelfAttention`), https://github.com/karpathy/nanoGPT
 */
import { type DType, numpy as np } from "@jax-js/jax";
import { attention } from "../attention/attention.js";
import { isArray, type Positions } from "../attention/positions.js";
import { shapeOf } from "../core/shapes.js";
import { fail } from "../core/validate.js";
import type { Rng } from "../pe/random.js";
import { initKernel, type KernelConfig, type KernelParams, kernelAttention } from "./kernelAttention.js";
import { initLinear, type LinearParams, linear } from "./linear.js";
import { initMlp, type MlpConfig, type MlpParams, mlp } from "./mlp.js";
import { initNorm, type NormConfig, type NormParams, norm } from "./norm.js";
import { initPE, isLearnable, type PEConfig, type PEParams, peSpec } from "./positional.js";

export interface BlockConfig {
  /** Model width C. */
  width: number;
  /** Heads H; C must be a multiple of H. */
  heads: number;
  mlp: MlpConfig;
  norm: NormConfig;
  pe: PEConfig;
  /** Causal (decoder) or bidirectional attention. */
  causal: boolean;
  /** Biases on the q, k, v and output projections (GPT-2: true, Llama: false). */
  bias: boolean;
  /** Kernelized attention (with its own relative bias) instead of softmax attention; `pe` must then be "none". */
  kernel?: KernelConfig;
}

export interface BlockParams {
  norm1: NormParams;
  /** C -> 3 C, columns [q | k | v], each head-major (H, D). */
  qkv: LinearParams;
  /** C -> C */
  proj: LinearParams;
  norm2: NormParams;
  mlp: MlpParams;
  /** Parameters of a learnable positional encoding (absent otherwise). */
  pe?: PEParams;
  /** Kernelized attention's relative bias (with `config.kernel.rpe`). */
  kernel?: KernelParams;
}

export function initBlock(r: Rng, config: BlockConfig, dtype: DType = np.float32): BlockParams {
  const { width: C, heads: H } = config;
  if (!Number.isInteger(C / H)) fail("initBlock", `config.width (${C}) must be a multiple of config.heads (${H})`);
  if (config.kernel && config.pe.type !== "none")
    fail("initBlock", `config.kernel carries its own relative bias: config.pe must be "none", got "${config.pe.type}"`);
  const params: BlockParams = {
    norm1: initNorm(config.norm, C, dtype),
    qkv: initLinear(r, C, 3 * C, { bias: config.bias, dtype }),
    proj: initLinear(r, C, C, { bias: config.bias, dtype }),
    norm2: initNorm(config.norm, C, dtype),
    mlp: initMlp(r, C, config.mlp, dtype),
  };
  if (isLearnable(config.pe)) params.pe = initPE(r, config.pe, { width: C, heads: H, headDim: C / H }, dtype);
  if (config.kernel) params.kernel = initKernel(config.kernel, H, dtype);
  return params;
}

/**
 * (B, L, C) -> (B, L, C). `positions` (default 0..L-1) feed the positional
 * encoding of queries and keys, e.g. randomized positions at training time.
 * Borrows the parameters and the positions, consumes x.
 */
export function block(p: BlockParams, x: np.Array, config: BlockConfig, positions?: Positions): np.Array {
  if (x.ndim !== 3 || x.shape[2] !== config.width) {
    const s = shapeOf(x);
    x.dispose();
    fail("block", `x must be (B, L, C) with C = ${config.width}, got ${s}`);
  }
  if (config.kernel && positions !== undefined) {
    x.dispose();
    if (isArray(positions)) positions.dispose();
    fail("block", "kernelized attention uses index offsets j - i; positions are not supported with config.kernel");
  }
  const [B, L, C] = x.shape;
  const H = config.heads;
  const D = C / H;
  const heads = (t: np.Array) => t.reshape([B, L, H, D]).transpose([0, 2, 1, 3]); // (B, H, L, D)

  const h = norm(config.norm, p.norm1, x.ref); // (B, L, C)
  const qkv = linear(p.qkv, h); // (B, L, 3C)
  const q = heads(qkv.ref.slice([], [], [0, C])); // (B, H, L, D)
  const k = heads(qkv.ref.slice([], [], [C, 2 * C])); // (B, H, L, D)
  const v = heads(qkv.slice([], [], [2 * C, 3 * C])); // (B, H, L, D)
  const y = config.kernel
    ? kernelAttention(config.kernel, p.kernel ?? {}, q, k, v, config.causal) // (B, H, L, D)
    : attention(q, k, v, {
        causal: config.causal,
        pe: peSpec(config.pe, p.pe ?? {}, { heads: H, headDim: D }),
        queryPositions: isArray(positions) ? positions.ref : positions, // borrowed: attention consumes a new reference
        keyPositions: isArray(positions) ? positions.ref : positions,
      }); // (B, H, L, D)
  const merged = y.transpose([0, 2, 1, 3]).reshape([B, L, C]); // (B, L, C)
  x = np.add(x, linear(p.proj, merged)); // (B, L, C)
  return np.add(x.ref, mlp(p.mlp, norm(config.norm, p.norm2, x), config.mlp)); // (B, L, C)
}
