/**
 * A pre-norm transformer decoder block that also attends to a source
 * sequence (WriteViT's `CrossBlock`, DETR's decoder layer in pre-norm order):
 *
 *   x = x + Proj1(SelfAttention(h1 Wq, h1 Wk, h1 Wv)),          h1 = LN1(x)
 *   x = x + Proj2(Attention(h2 Uq, src Uk, src Uv)),             h2 = LN2(x)
 *   x = x + MLP(LN3(x))                                          GELU 4x
 *
 * Shapes: B batch, L queries, S source tokens, C width, H heads, D = C / H.
 * Attention is bidirectional and position-free; the queries carry their
 * positions in their values (the generator adds a 1-D sinusoidal table).
 *
 * Reference: Vaswani et al. (2017), https://arxiv.org/abs/1706.03762;
 * Carion et al., DETR, https://arxiv.org/abs/2005.12872; Nam et al., WriteViT
 * (2025), models/Generator.py `CrossBlock`, https://github.com/hnam-1765/WriteViT
 */
import { type DType, numpy as np } from "@jax-js/jax";
import { attention } from "../attention/attention.js";
import type { Rng } from "../pe/random.js";
import { initLayerNorm, type LayerNormParams, layerNorm } from "./layerNorm.js";
import { initLinear, type LinearParams, linear } from "./linear.js";
import { initMlp, type MlpConfig, type MlpParams, mlp } from "./mlp.js";

export interface CrossBlockParams {
  norm1: LayerNormParams;
  /** C -> 3 C, [q | k | v], head-major */
  qkv: LinearParams;
  proj: LinearParams;
  norm2: LayerNormParams;
  /** C -> C */
  crossQ: LinearParams;
  /** Cs -> 2 C, [k | v] */
  crossKv: LinearParams;
  crossProj: LinearParams;
  norm3: LayerNormParams;
  mlp: MlpParams;
}

function mlpConfig(width: number): MlpConfig {
  return { kind: "gelu", hidden: 4 * width, approximate: false };
}

/** A block of width C attending to a source of width Cs. */
export function initCrossBlock(r: Rng, width: number, sourceWidth: number, dtype: DType = np.float32): CrossBlockParams {
  const C = width;
  return {
    norm1: initLayerNorm(C, dtype),
    qkv: initLinear(r, C, 3 * C, { dtype }),
    proj: initLinear(r, C, C, { dtype }),
    norm2: initLayerNorm(C, dtype),
    crossQ: initLinear(r, C, C, { dtype }),
    crossKv: initLinear(r, sourceWidth, 2 * C, { dtype }),
    crossProj: initLinear(r, C, C, { dtype }),
    norm3: initLayerNorm(C, dtype),
    mlp: initMlp(r, C, mlpConfig(C), dtype),
  };
}

/** (B, T, C) -> (B, H, T, D) */
function heads(t: np.Array, H: number): np.Array {
  const [B, T, C] = t.shape;
  return t.reshape([B, T, H, C / H]).transpose([0, 2, 1, 3]);
}

/** (B, H, T, D) -> (B, T, C) */
function merge(t: np.Array): np.Array {
  const [B, H, T, D] = t.shape;
  return t.transpose([0, 2, 1, 3]).reshape([B, T, H * D]);
}

/**
 * x (B, L, C), source (B, S, Cs) -> (B, L, C). Borrows the parameters and the
 * source, consumes x. Shapes are the caller's to check.
 */
export function crossBlock(p: CrossBlockParams, x: np.Array, source: np.Array, heads_: number): np.Array {
  const C = x.shape[2];
  const qkv = linear(p.qkv, layerNorm(p.norm1, x.ref)); // (B, L, 3C)
  const q = heads(qkv.ref.slice([], [], [0, C]), heads_); // (B, H, L, D)
  const k = heads(qkv.ref.slice([], [], [C, 2 * C]), heads_); // (B, H, L, D)
  const v = heads(qkv.slice([], [], [2 * C, 3 * C]), heads_); // (B, H, L, D)
  x = np.add(x, linear(p.proj, merge(attention(q, k, v)))); // (B, L, C)

  const cq = heads(linear(p.crossQ, layerNorm(p.norm2, x.ref)), heads_); // (B, H, L, D)
  const kv = linear(p.crossKv, source.ref); // (B, S, 2C)
  const ck = heads(kv.ref.slice([], [], [0, C]), heads_); // (B, H, S, D)
  const cv = heads(kv.slice([], [], [C, 2 * C]), heads_); // (B, H, S, D)
  x = np.add(x, linear(p.crossProj, merge(attention(cq, ck, cv)))); // (B, L, C)

  return np.add(x.ref, mlp(p.mlp, layerNorm(p.norm3, x), mlpConfig(C))); // (B, L, C)
}
