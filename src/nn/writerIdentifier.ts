/**
 * WriteViT's writer identifier: the style encoder of the generator and a
 * writer classifier, from one word image:
 *
 *   x      = LN(image)                                 non-affine, over the whole image (eps 1e-5)
 *   x      = Conv8x8/4(x) (padding 2)                  (B, H/4, W/4, C) patch tokens
 *   tokens = ViTStage(x)                               blocks, PEG after the first, LayerNorm
 *   logits = mean_tokens(tokens) Whead + b             (B, K) writers
 *
 * Shapes: B batch, H x W image (H = 32), N = (H/4)(W/4) tokens, C width,
 * K writers. The tokens condition the generator's cross-attention; the
 * logits train the identifier on real images (cross-entropy) and score the
 * generated ones.
 *
 * Reference: Nam et al., WriteViT (2025), models/Writer.py,
 * https://github.com/hnam-1765/WriteViT
 */
import { type DType, numpy as np } from "@jax-js/jax";
import type { Rng } from "../pe/random.js";
import { type ConvConfig, conv2d, initConv } from "./conv.js";
import { normalize } from "./layerNorm.js";
import { initLinear, type LinearParams, linear } from "./linear.js";
import { initVitStage, type StagePE, type VitStageConfig, type VitStageParams, vitStage } from "./vitStage.js";

export interface WriterIdentifierConfig {
  width: number;
  heads: number;
  depth: number;
  pe: StagePE;
  /** Writers K the classifier tells apart. */
  writers: number;
}

export interface WriterIdentifierParams {
  /** (8 8 1, C) */
  patch: LinearParams;
  stage: VitStageParams;
  /** C -> K */
  head: LinearParams;
}

/** WriteViT's patch embedding: kernel 8, stride 4, padding 2. */
export const WRITER_PATCH: ConvConfig = { kernel: 8, stride: 4, padding: 2 };

function stageConfig(c: WriterIdentifierConfig): VitStageConfig {
  return { width: c.width, heads: c.heads, depth: c.depth, pe: c.pe };
}

export function initWriterIdentifier(r: Rng, config: WriterIdentifierConfig, dtype: DType = np.float32): WriterIdentifierParams {
  return {
    patch: initConv(r, 1, config.width, WRITER_PATCH, dtype),
    stage: initVitStage(r, stageConfig(config), dtype),
    head: initLinear(r, config.width, config.writers, { dtype }),
  };
}

/** images (B, H, W, 1) -> { tokens (B, N, C), logits (B, K) }. Borrows the parameters, consumes the images. */
export function identifyWriter(
  p: WriterIdentifierParams,
  config: WriterIdentifierConfig,
  images: np.Array,
): { tokens: np.Array; logits: np.Array } {
  const [B, H, W] = images.shape;
  const x = normalize(images.reshape([B, H * W]), 1e-5).reshape([B, H, W, 1]); // (B, H, W, 1)
  const grid = conv2d(p.patch, x, WRITER_PATCH); // (B, Gh, Gw, C)
  const [, Gh, Gw, C] = grid.shape;
  const tokens = vitStage(p.stage, stageConfig(config), grid.reshape([B, Gh * Gw, C]), { height: Gh, width: Gw }); // (B, N, C)
  const logits = linear(p.head, np.mean(tokens.ref, 1)); // (B, K)
  return { tokens, logits };
}
