/**
 * The pre-norm transformer block (GPT-2 / Llama order), the one block of the
 * LM, the ViT and the DiT:
 *
 *   x = x + g1 Proj(Attention(Rot(h1 Wq), Rot(h1 Wk), h1 Wv; PE)),   h1 = Mod1(Norm1(x))
 *   x = x + g2 MLP(Mod2(Norm2(x)))
 *
 * Multi-head self-attention splits C into H heads of D = C / H and runs
 * `attention` with the layer's positional-encoding spec, built from the
 * parameters the block owns (learnable PEs) at every call, or kernelized
 * attention with its relative bias (`kernelizedLayer.ts`) when configured.
 *
 * Hooks (`BlockHooks`), each the identity when absent:
 * - Rot: q and k rotated by given tables before attention (the 2-D RoPE of
 *   the ViT and the DiT, whose positions are a grid rather than a sequence);
 * - Mod and g: adaLN-Zero conditioning (DiT), Mod(h) = h (1 + scale) + shift
 *   and gates g, all six from Linear(SiLU(c)).
 * `sublayers()` is the structure itself, with the norms and the attention
 * as parts, for a model whose norms are not a `NormConfig` (the DiT's
 * LayerNorm has no affine parameters).
 *
 * Reference: Radford et al. (2019) GPT-2; Karpathy, nanoGPT `model.py`
 * (`Block`, `CausalSelfAttention`), https://github.com/karpathy/nanoGPT;
 * Peebles & Xie (2023), DiT `DiTBlock` (adaLN-Zero), https://arxiv.org/abs/2212.09748
 */
import { type DType, nn, numpy as np } from "@jax-js/jax";
import { attention } from "../attention/attention.js";
import { isArray, type Positions } from "../attention/positions.js";
import { applyRotary, type RotaryTables } from "../attention/rotary.js";
import { shapeOf } from "../core/shapes.js";
import { bool, fail, integer, record } from "../core/validate.js";
import type { Rng } from "../pe/random.js";
import {
  checkKernelizedLayer,
  initKernelizedLayer,
  type KernelizedLayerConfig,
  type KernelizedLayerParams,
  kernelizedLayer,
} from "./kernelizedLayer.js";
import { initLinear, type LinearParams, linear } from "./linear.js";
import { checkMlp, initMlp, type MlpConfig, type MlpParams, mlp } from "./mlp.js";
import { checkNorm, initNorm, type NormConfig, type NormParams, norm } from "./norm.js";
import { checkPEConfig, initPE, isLearnable, type PEConfig, type PEParams, peSpec } from "./positional.js";

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
  kernel?: KernelizedLayerConfig;
}

export interface BlockParams extends SublayerParams {
  norm1: NormParams;
  norm2: NormParams;
  /** Parameters of a learnable positional encoding (absent otherwise). */
  pe?: PEParams;
  /** Kernelized attention's relative bias (with `config.kernel.rpe`). */
  kernel?: KernelizedLayerParams;
}

export function initBlock(r: Rng, config: BlockConfig, dtype: DType = np.float32): BlockParams {
  checkBlockConfig("initBlock", "config", config);
  const { width: C, heads: H } = config;
  const params: BlockParams = {
    norm1: initNorm(config.norm, C, dtype),
    qkv: initLinear(r, C, 3 * C, { bias: config.bias, dtype }),
    proj: initLinear(r, C, C, { bias: config.bias, dtype }),
    norm2: initNorm(config.norm, C, dtype),
    mlp: initMlp(r, C, config.mlp, dtype),
  };
  if (isLearnable(config.pe)) params.pe = initPE(r, config.pe, { width: C, heads: H, headDim: C / H }, dtype);
  if (config.kernel) params.kernel = initKernelizedLayer(config.kernel, H, dtype);
  return params;
}

/**
 * What a model changes in the shared block; the LM uses none, the ViT `rotary`,
 * the DiT `rotary` and `adaLN`.
 */
export interface BlockHooks {
  /** Rotates q and k before attention, interleaved pairs (2-D RoPE): cos/sin broadcastable to (B, H, T, D). Borrowed. */
  rotary?: RotaryTables;
  /**
   * adaLN-Zero conditioning (DiT): shift, scale and gate of each sublayer, (B, 1, C) each, from Linear(SiLU(c)):
   * the pre-norm output becomes h (1 + scale) + shift and the sublayer's output is multiplied by gate.
   */
  adaLN?: { modulation: LinearParams; c: np.Array };
}

/** The parameters every block has, whatever its norms and attention. */
export interface SublayerParams {
  /** C -> 3 C, columns [q | k | v], each head-major (H, D). */
  qkv: LinearParams;
  /** C -> C */
  proj: LinearParams;
  mlp: MlpParams;
}

/** How a block normalises and attends: pre-norm of sublayer 1 (attention) or 2 (MLP), and the attention of its heads. */
export interface BlockParts {
  heads: number;
  mlp: MlpConfig;
  /** (B, T, C) -> (B, T, C). Consumes x. */
  preNorm: (sublayer: 1 | 2, x: np.Array) => np.Array;
  /** q, k, v (B, H, T, D) -> (B, H, T, D). Consumes them. */
  attend: (q: np.Array, k: np.Array, v: np.Array) => np.Array;
}

/**
 * (B, L, C) -> (B, L, C). `positions` (default 0..L-1) feed the positional
 * encoding of queries and keys, e.g. randomized positions at training time.
 * Borrows the parameters, the positions and the hooks' tables, consumes x
 * (and the adaLN conditioning).
 */
export function block(p: BlockParams, x: np.Array, config: BlockConfig, positions?: Positions, hooks: BlockHooks = {}): np.Array {
  try {
    checkBlockConfig("block", "config", config);
  } catch (e) {
    x.dispose();
    hooks.adaLN?.c.dispose();
    throw e;
  }
  if (x.ndim !== 3 || x.shape[2] !== config.width) {
    const s = shapeOf(x);
    x.dispose();
    hooks.adaLN?.c.dispose();
    fail("block", `x must be (B, L, C) with C = ${config.width}, got ${s}`);
  }
  if (config.kernel && positions !== undefined) {
    x.dispose();
    hooks.adaLN?.c.dispose();
    if (isArray(positions)) positions.dispose();
    fail("block", "kernelized attention uses index offsets j - i; positions are not supported with config.kernel");
  }
  const H = config.heads;
  const D = config.width / H;
  const attend = (q: np.Array, k: np.Array, v: np.Array): np.Array =>
    config.kernel
      ? kernelizedLayer(config.kernel, p.kernel ?? {}, q, k, v, config.causal) // (B, H, L, D)
      : attention(q, k, v, {
          causal: config.causal,
          pe: peSpec(config.pe, p.pe ?? {}, { heads: H, headDim: D }),
          queryPositions: isArray(positions) ? positions.ref : positions, // borrowed: attention consumes a new reference
          keyPositions: isArray(positions) ? positions.ref : positions,
        }); // (B, H, L, D)
  const preNorm = (sublayer: 1 | 2, h: np.Array) => norm(config.norm, sublayer === 1 ? p.norm1 : p.norm2, h);
  return sublayers(p, x, { heads: H, mlp: config.mlp, preNorm, attend }, hooks);
}

/**
 * The pre-norm residual structure of every posenc transformer block, with its hooks (see the file header):
 * (B, T, C) -> (B, T, C). Borrows the parameters and the rotary tables, consumes x and the adaLN conditioning.
 */
export function sublayers(p: SublayerParams, x: np.Array, parts: BlockParts, hooks: BlockHooks = {}): np.Array {
  const mod = hooks.adaLN ? linear(hooks.adaLN.modulation, nn.silu(hooks.adaLN.c)) : null; // (B, 6C)
  const { q, k, v } = attentionInputs(p, x.ref, parts, hooks, mod?.ref ?? null);
  return attentionOutput(p, x, parts.attend(q, k, v), parts, mod);
}

/**
 * The first half of `sublayers`, up to attention: q, k, v (B, H, T, D) of x (B, T, C), rotated by the
 * hooks' tables, with adaLN's modulation `mod` (B, 6C) or null. Borrows the parameters and tables, consumes
 * x and mod. `attentionOutput` is the rest; a training step that runs attention as a fused kernel calls the two
 * halves around it (nn/lmChain.ts).
 */
export function attentionInputs(
  p: Pick<SublayerParams, "qkv">,
  x: np.Array,
  parts: Pick<BlockParts, "heads" | "preNorm">,
  hooks: BlockHooks,
  mod: np.Array | null,
): { q: np.Array; k: np.Array; v: np.Array } {
  const [B, T, C] = x.shape;
  const H = parts.heads;
  const D = C / H;
  const heads = (t: np.Array) => t.reshape([B, T, H, D]).transpose([0, 2, 1, 3]); // (B, H, T, D)
  const rotate = (t: np.Array) => {
    const r = hooks.rotary;
    return r ? applyRotary(t, r.cos.ref, r.sin.ref, "interleaved") : t; // (B, H, T, D)
  };
  const h = mod ? modulate(parts.preNorm(1, x), adaChunk(mod.ref, 0, C), adaChunk(mod, 1, C)) : parts.preNorm(1, x); // (B, T, C)
  const qkv = linear(p.qkv, h); // (B, T, 3C)
  const q = rotate(heads(qkv.ref.slice([], [], [0, C]))); // (B, H, T, D)
  const k = rotate(heads(qkv.ref.slice([], [], [C, 2 * C]))); // (B, H, T, D)
  const v = heads(qkv.slice([], [], [2 * C, 3 * C])); // (B, H, T, D)
  return { q, k, v };
}

/**
 * The second half of `sublayers`: the block's output (B, T, C) from its input x (B, T, C) and attention's
 * output o (B, H, T, D), with adaLN's modulation `mod` (B, 6C) or null. Borrows the parameters, consumes x, o and mod.
 */
export function attentionOutput(
  p: Pick<SublayerParams, "proj" | "mlp">,
  x: np.Array,
  o: np.Array,
  parts: Pick<BlockParts, "mlp" | "preNorm">,
  mod: np.Array | null,
): np.Array {
  const [B, T, C] = x.shape;
  const gated = (i: number, y: np.Array) => (mod ? np.multiply(adaChunk(mod.ref, i, C), y) : y);
  const merged = o.transpose([0, 2, 1, 3]).reshape([B, T, C]); // (B, T, C)
  x = np.add(x, gated(2, linear(p.proj, merged))); // (B, T, C)
  const h = parts.preNorm(2, x.ref); // (B, T, C)
  const out = np.add(x.ref, gated(5, mlp(p.mlp, mod ? modulate(h, adaChunk(mod.ref, 3, C), adaChunk(mod.ref, 4, C)) : h, parts.mlp))); // (B, T, C)
  x.dispose();
  mod?.dispose();
  return out;
}

/** Chunk i of adaLN's modulation (B, 6C): shift1, scale1, gate1, shift2, scale2, gate2, as (B, 1, C). Consumes mod. */
function adaChunk(mod: np.Array, i: number, C: number): np.Array {
  return mod.slice([], [i * C, (i + 1) * C]).reshape([mod.shape[0], 1, C]); // (B, 1, C)
}

/** x (B, T, C) (1 + scale) + shift, scale and shift (B, 1, C): adaLN's modulation. Consumes all three. */
export function modulate(x: np.Array, shift: np.Array, scale: np.Array): np.Array {
  return np.add(np.multiply(x, np.add(scale, 1)), shift); // (B, T, C)
}

/** Throws `fn: <field>...` naming the first field of `config` that is not a valid BlockConfig. */
export function checkBlockConfig(fn: string, field: string, config: unknown): BlockConfig {
  const c = record(fn, field, config, "a BlockConfig object");
  const C = integer(fn, `${field}.width`, c.width, 1);
  const H = integer(fn, `${field}.heads`, c.heads, 1);
  if (C % H !== 0) fail(fn, `${field}.width (${C}) must be a multiple of ${field}.heads (${H})`);
  checkMlp(fn, `${field}.mlp`, c.mlp);
  checkNorm(fn, `${field}.norm`, c.norm);
  const pe = checkPEConfig(fn, `${field}.pe`, c.pe, C / H);
  bool(fn, `${field}.causal`, c.causal);
  bool(fn, `${field}.bias`, c.bias);
  if (c.kernel !== undefined) {
    checkKernelizedLayer(fn, `${field}.kernel`, c.kernel);
    if (pe.type !== "none") fail(fn, `${field}.kernel carries its own relative bias: ${field}.pe must be "none", got "${pe.type}"`);
  }
  const { table } = blockTensors(config as BlockConfig);
  checkTensorSize(fn, `${field}: the qkv weight`, 3 * C * C);
  checkTensorSize(fn, `${field}: the MLP weight`, C * (c.mlp as MlpConfig).hidden);
  checkTensorSize(fn, `${field}: the PE table`, table);
  checkParameterCount(fn, field, blockParameterCount(config as BlockConfig));
  return config as BlockConfig;
}

/**
 * Elements of one parameter posenc allocates at most: 2^30, 4 GiB in
 * float32, the largest buffer WebGPU devices allow (and WebAssembly's memory).
 */
export const MAX_TENSOR_ELEMENTS = 2 ** 30;

/** Refuses a parameter of `count` elements over MAX_TENSOR_ELEMENTS, naming it. */
export function checkTensorSize(fn: string, what: string, count: number): void {
  if (count > MAX_TENSOR_ELEMENTS)
    fail(fn, `${what} would hold ${count} elements, more than the ${MAX_TENSOR_ELEMENTS} one array may hold`);
}

/**
 * Parameters a model may hold at most: 2^36, 256 GiB in float32, more than
 * one device posenc runs on holds; a typo such as width or depth 1e9 (10^18
 * parameters and more) is refused before anything is allocated.
 */
export const MAX_PARAMETERS = 2 ** 36;

/** Refuses a config of `count` parameters over MAX_PARAMETERS (a typo such as width or depth 1e9), naming it. */
export function checkParameterCount(fn: string, field: string, count: number): void {
  if (count > MAX_PARAMETERS) fail(fn, `${field} makes about ${count} parameters, more than the ${MAX_PARAMETERS} posenc allocates`);
}

/** Parameters of one block of a valid config (biases, norms and PE included, to within a few per channel). */
export function blockParameterCount(config: BlockConfig): number {
  const { width: C } = config;
  const mlp = (config.mlp.kind === "gelu" ? 2 : 3) * C * config.mlp.hidden + config.mlp.hidden + C;
  const { table, rpe } = blockTensors(config);
  return 4 * C * C + 4 * C + mlp + 4 * C + table + rpe;
}

/** Elements of a block's PE table and kernelized relative bias. */
function blockTensors(config: BlockConfig): { table: number; rpe: number } {
  const { width: C, heads: H, pe } = config;
  const table =
    pe.type === "t5"
      ? pe.numBuckets * H
      : pe.type === "table"
        ? H * (2 * pe.maxDistance + 1)
        : pe.type === "cope"
          ? (C / H) * pe.npos
          : pe.type === "fire" || pe.type === "mlp"
            ? 2 * pe.hidden * H + pe.hidden + H + 2
            : 2 * H;
  const rpe = config.kernel?.rpe ? H * (2 * config.kernel.rpe.maxDistance + 1) : 0;
  return { table, rpe };
}
