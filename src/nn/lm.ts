/**
 * Decoder-only language model, readable top to bottom:
 *
 *   x = E[tokens] (+ absolute PE(positions))            token embedding
 *   x = Block_n(... Block_1(x))                          pre-norm blocks, any attention PE
 *   logits = NormF(x) E^T   (tied)  or  NormF(x) Whead   (untied)
 *
 * The config is plain JSON. Parameters are a pytree of jax-js arrays, so
 * `jit`, `grad` and `valueAndGrad` take them directly; learnable positional
 * encodings (T5 table, KERPLE, FIRE, dynamic MLP, table, CoPE) are owned per
 * layer. Positions default to 0..L-1; randomized positions (a sorted sample
 * of a larger range, at training time) are passed as `positions`, and feed
 * both the absolute encoding and every layer's attention PE.
 *
 * Reference: Radford et al. (2019) GPT-2; Karpathy, nanoGPT `model.py`,
 * https://github.com/karpathy/nanoGPT; Ruoss et al. (2023), randomized
 * positional encodings, https://arxiv.org/abs/2305.16843
 */
import { type DType, numpy as np } from "@jax-js/jax";
import { addAbsolute } from "../attention/absolute.js";
import { isArray, type Positions } from "../attention/positions.js";
import { shapeOf } from "../core/shapes.js";
import { bool, fail, integer, oneOf, positive, record } from "../core/validate.js";
import { rng } from "../pe/random.js";
import type { SinusoidalLayout } from "../pe/sinusoidal.js";
import {
  type BlockConfig,
  type BlockParams,
  block,
  blockParameterCount,
  checkBlockConfig,
  checkParameterCount,
  checkTensorSize,
  initBlock,
} from "./block.js";
import { crossEntropy } from "./crossEntropy.js";
import { type EmbeddingParams, embed, initEmbedding, unembed } from "./embedding.js";
import { normal } from "./init.js";
import type { KernelizedLayerConfig } from "./kernelizedLayer.js";
import { initLinear, type LinearParams, linear } from "./linear.js";
import type { MlpConfig } from "./mlp.js";
import { initNorm, type NormConfig, type NormParams, norm } from "./norm.js";
import type { PEConfig } from "./positional.js";

export type AbsoluteConfig = { kind: "sinusoidal"; layout: SinusoidalLayout; base?: number } | { kind: "learned"; maxPositions: number };

export interface LMConfig {
  vocabSize: number;
  /** Model width C. */
  width: number;
  /** Number of blocks. */
  depth: number;
  heads: number;
  mlp: MlpConfig;
  norm: NormConfig;
  /** Positional encoding inside attention (every layer). */
  pe: PEConfig;
  /** Kernelized attention with its relative bias in every layer instead of softmax attention (pe "none"). */
  kernel?: KernelizedLayerConfig;
  /** Absolute encoding added to the token embeddings; none when absent. */
  absolute?: AbsoluteConfig;
  /** Output head tied to the token embedding (GPT-2) or a separate C -> V matrix. */
  tied: boolean;
  /** Biases in attention projections (the MLP follows `mlp.kind`). */
  bias: boolean;
  /** Std of the token (and learned absolute) embeddings: nanoGPT 0.02. */
  embedStd: number;
}

export interface LMParams {
  embed: EmbeddingParams;
  /** (maxPositions, C) learned absolute embeddings. */
  absolute?: { table: np.Array };
  blocks: BlockParams[];
  normF: NormParams;
  /** C -> V, untied head only. */
  head?: LinearParams;
}

/** Token ids and next-token targets with the mask of positions that count in the loss. */
export interface Batch {
  /** (B, L) int32 */
  tokens: np.Array;
  /** (B, L) int32 */
  targets: np.Array;
  /** (B, L) float, 1 where the target counts. */
  mask: np.Array;
}

export function blockConfig(config: LMConfig): BlockConfig {
  return {
    width: config.width,
    heads: config.heads,
    mlp: config.mlp,
    norm: config.norm,
    pe: config.pe,
    causal: true,
    bias: config.bias,
    kernel: config.kernel,
  };
}

/** Seeded parameters: same config and seed, same model on every device. */
export function initLM(config: LMConfig, seed: number, dtype: DType = np.float32): LMParams {
  checkLMConfig("initLM", config);
  integer("initLM", "seed", seed, 0);
  const r = rng(seed);
  const params: LMParams = {
    embed: initEmbedding(r, config.vocabSize, config.width, { std: config.embedStd, dtype }),
    blocks: [],
    normF: initNorm(config.norm, config.width, dtype),
  };
  if (config.absolute?.kind === "learned")
    params.absolute = { table: normal(r, [config.absolute.maxPositions, config.width], config.embedStd, dtype) };
  for (let i = 0; i < config.depth; i++) params.blocks.push(initBlock(r, blockConfig(config), dtype));
  if (!config.tied) params.head = initLinear(r, config.width, config.vocabSize, { bias: false, dtype });
  return params;
}

/** tokens (B, L) int32 -> logits (B, L, V). Borrows the parameters and positions, consumes tokens. */
export function lmForward(p: LMParams, config: LMConfig, tokens: np.Array, positions?: Positions): np.Array {
  try {
    checkLMConfig("lmForward", config);
    if (p?.blocks?.length !== config.depth) fail("lmForward", `params hold ${p?.blocks?.length} blocks, config.depth is ${config.depth}`);
    if (tokens.ndim !== 2 || tokens.dtype !== np.int32)
      fail("lmForward", `tokens must be (B, L) int32, got ${shapeOf(tokens)} ${tokens.dtype}`);
  } catch (e) {
    tokens.dispose();
    throw e;
  }
  let x = lmEmbed(p, config, tokens, positions); // (B, L, C)
  const bc = blockConfig(config);
  for (const b of p.blocks) x = block(b, x, bc, positions); // (B, L, C)
  return lmHead(p, config, x); // (B, L, V)
}

/** tokens (B, L) int32 -> x (B, L, C): the token embedding plus the absolute encoding. Borrows p and positions, consumes tokens. */
export function lmEmbed(p: Pick<LMParams, "embed" | "absolute">, config: LMConfig, tokens: np.Array, positions?: Positions): np.Array {
  const x = embed(p.embed, tokens); // (B, L, C)
  const abs = config.absolute;
  if (!abs) return x;
  const given = isArray(positions) ? positions.ref : positions;
  if (abs.kind === "sinusoidal") return addAbsolute(x, { type: "absolute", kind: "sinusoidal", layout: abs.layout, base: abs.base }, given); // (B, L, C)
  if (!p.absolute) {
    x.dispose();
    if (isArray(given)) given.dispose();
    return fail("lmForward", 'config.absolute.kind "learned" needs params.absolute.table');
  }
  return addAbsolute(x, { type: "absolute", kind: "learned", table: p.absolute.table.ref }, given); // (B, L, C)
}

/** x (B, L, C) -> logits (B, L, V): the final norm and the (tied or untied) head. Borrows p, consumes x. */
export function lmHead(p: Pick<LMParams, "embed" | "normF" | "head">, config: LMConfig, x: np.Array): np.Array {
  const h = norm(config.norm, p.normF, x); // (B, L, C)
  if (config.tied) return unembed(p.embed, h); // (B, L, V)
  if (!p.head) {
    h.dispose();
    return fail("lmForward", "an untied model (config.tied false) needs params.head");
  }
  return linear(p.head, h); // (B, L, V)
}

/** Masked mean next-token cross-entropy of a batch. Borrows the parameters and positions, consumes the batch. */
export function lmLoss(p: LMParams, config: LMConfig, batch: Batch, positions?: Positions): np.Array {
  const { tokens, targets, mask } = batch;
  try {
    checkBatchShapes("lmLoss", batch);
  } catch (e) {
    for (const a of [tokens, targets, mask]) a.dispose();
    throw e;
  }
  let logits: np.Array;
  try {
    logits = lmForward(p, config, tokens, positions); // (B, L, V)
  } catch (e) {
    targets.dispose();
    mask.dispose();
    throw e;
  }
  return crossEntropy(logits, targets, mask); // ()
}

/** Throws `fn: batch...` unless tokens, targets and mask are all (B, L); consumes nothing. */
export function checkBatchShapes(fn: string, batch: Batch): void {
  const { tokens, targets, mask } = batch;
  const same = (a: np.Array) => a.ndim === 2 && a.shape[0] === tokens.shape[0] && a.shape[1] === tokens.shape[1];
  if (tokens.ndim !== 2 || !same(targets) || !same(mask)) {
    const s = `tokens ${shapeOf(tokens)}, targets ${shapeOf(targets)}, mask ${shapeOf(mask)}`;
    fail(fn, `batch.tokens, batch.targets and batch.mask must all be (B, L), got ${s}`);
  }
}

/** Throws `fn: config...` naming the first field of `config` that is not a valid LMConfig. */
export function checkLMConfig(fn: string, config: LMConfig): void {
  const c = record(fn, "config", config, "an LMConfig object");
  integer(fn, "config.vocabSize", c.vocabSize, 1);
  integer(fn, "config.depth", c.depth, 0);
  bool(fn, "config.tied", c.tied);
  positive(fn, "config.embedStd", c.embedStd);
  checkBlockConfig(fn, "config", blockConfig(config));
  checkTensorSize(fn, "the token embedding", config.vocabSize * config.width);
  let count = (config.tied ? 1 : 2) * config.vocabSize * config.width + config.depth * blockParameterCount(blockConfig(config));
  if (c.absolute !== undefined) {
    const a = record(fn, "config.absolute", c.absolute, '{ kind: "sinusoidal" | "learned", ... }');
    if (oneOf(fn, "config.absolute.kind", a.kind, ["sinusoidal", "learned"]) === "learned") {
      const table = integer(fn, "config.absolute.maxPositions", a.maxPositions, 1) * config.width;
      checkTensorSize(fn, "the learned absolute table", table);
      count += table;
    } else {
      oneOf(fn, "config.absolute.layout", a.layout, ["interleaved", "concatenated"]);
      if (a.base !== undefined) positive(fn, "config.absolute.base", a.base);
    }
  }
  checkParameterCount(fn, "config", count);
}
