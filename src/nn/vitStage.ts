/**
 * A ViT stage on a token grid, the unit WriteViT repeats in its writer
 * identifier, its generator's upsampling stages and its recognizer:
 *
 *   x = x + PE2d(grid)                          pe "sincos2d" only (before the first block)
 *   x = Block_1(x); x = PEG(x)                  pe "peg" only (CPVT: after the first block)
 *   x = Block_n(... Block_2(x))                 pre-norm, bidirectional, GELU 4x MLP, qkv bias
 *   x = LayerNorm(x)
 *
 * Shapes: B batch, Gh x Gw token grid, N = Gh Gw tokens (row-major), C width.
 * The position encoding is the ablation of WriteViT's design: "peg" is the
 * conditional positional encoding it uses (a depthwise 3x3 convolution of the
 * token grid added back, src/attention/peg.ts), "sincos2d" the fixed 2-D
 * sine-cosine table of the grid at hand (src/pe/sincos2d.ts, MAE's layout),
 * "none" no position at all. The PEG's weights start at U(-1/3, 1/3)
 * (PyTorch's Conv2d init, fan-in 9), as in src/nn/vit.ts.
 *
 * Reference: Chu et al., "Conditional Positional Encodings for Vision
 * Transformers" (CPVT), https://arxiv.org/abs/2102.10882; Nam et al.,
 * "WriteViT: Handwritten Text Generation with Vision Transformer" (2025),
 * https://github.com/hnam-1765/WriteViT (models/Writer.py, OCR.py, Generator.py:
 * blocks, `PosCNN` after the first, LayerNorm)
 */
import { type DType, numpy as np } from "@jax-js/jax";
import { peg } from "../attention/peg.js";
import { constant } from "../core/constant.js";
import { fail, integer, oneOf } from "../core/validate.js";
import type { Rng } from "../pe/random.js";
import { sincos2d } from "../pe/sincos2d.js";
import { type BlockConfig, type BlockParams, block, initBlock } from "./block.js";
import { uniform } from "./init.js";
import { initLayerNorm, type LayerNormParams, layerNorm } from "./layerNorm.js";

/** Where a stage's tokens learn their position from (see the file header). */
export type StagePE = "peg" | "sincos2d" | "none";

export const STAGE_PES: readonly StagePE[] = ["peg", "sincos2d", "none"];

/** One stage: its width, heads, blocks and position encoding. */
export interface VitStageConfig {
  width: number;
  heads: number;
  depth: number;
  pe: StagePE;
}

export interface VitStageParams {
  blocks: BlockParams[];
  /** PEG weight (C, 3, 3) and bias (C), pe "peg" only. */
  peg?: { weight: np.Array; bias: np.Array };
  norm: LayerNormParams;
}

/** The grid of a stage's tokens. */
export interface StageGrid {
  height: number;
  width: number;
}

/** Throws `fn: <field>...` unless `config` is a valid stage. */
export function checkVitStage(fn: string, field: string, config: VitStageConfig): VitStageConfig {
  const C = integer(fn, `${field}.width`, config?.width, 1);
  const H = integer(fn, `${field}.heads`, config.heads, 1);
  if (C % H !== 0) fail(fn, `${field}.width (${C}) must be a multiple of ${field}.heads (${H})`);
  const pe = oneOf(fn, `${field}.pe`, config.pe, STAGE_PES);
  integer(fn, `${field}.depth`, config.depth, pe === "peg" ? 1 : 0);
  if (pe === "sincos2d" && C % 4 !== 0) fail(fn, `${field}.pe "sincos2d" needs ${field}.width divisible by 4, got ${C}`);
  return config;
}

function blockConfig(c: VitStageConfig): BlockConfig {
  return {
    width: c.width,
    heads: c.heads,
    mlp: { kind: "gelu", hidden: 4 * c.width, approximate: false },
    norm: { type: "layer", eps: 1e-5 },
    pe: { type: "none" },
    causal: false,
    bias: true,
  };
}

export function initVitStage(r: Rng, config: VitStageConfig, dtype: DType = np.float32): VitStageParams {
  checkVitStage("initVitStage", "config", config);
  const C = config.width;
  const blocks = Array.from({ length: config.depth }, () => initBlock(r, blockConfig(config), dtype));
  const p: VitStageParams = { blocks, norm: initLayerNorm(C, dtype) };
  if (config.pe === "peg") p.peg = { weight: uniform(r, [C, 3, 3], 1 / 3, dtype), bias: uniform(r, [C], 1 / 3, dtype) };
  return p;
}

/** x (B, N, C) on `grid` -> (B, N, C). Borrows the parameters, consumes x. Shapes are the caller's to check. */
export function vitStage(p: VitStageParams, config: VitStageConfig, x: np.Array, grid: StageGrid): np.Array {
  const [, N, C] = x.shape;
  if (config.pe === "sincos2d") x = np.add(x, constant(sincos2d(grid.height, grid.width, C), x.dtype).reshape([1, N, C])); // (B, N, C)
  const bc = blockConfig(config);
  p.blocks.forEach((b, i) => {
    x = block(b, x, bc); // (B, N, C)
    if (i === 0 && p.peg) x = peg(x, p.peg.weight.ref, p.peg.bias.ref, grid); // (B, N, C)
  });
  return layerNorm(p.norm, x); // (B, N, C)
}
