/**
 * WriteViT's generator: a word image in a writer's style from the glyphs of
 * the text and the writer identifier's tokens, readable top to bottom:
 *
 *   q   = Glyphs(text) Wq + b                          (B, n, C) one 16 x 16 bitmap per character
 *   x   = q + Sinusoidal(0..n-1)                        1-D, interleaved sin/cos
 *   x   = CrossBlock_k(x, style)  k = 1..decoderDepth   self-attention, attention to the style tokens, MLP
 *   g0  = LN([x | q]) as a (2, n) grid                  row 0 the decoded queries, row 1 the raw glyph queries
 *   g1  = Stage1(Up(g0))   (4, 2n)   C/2                each: 2x nearest, conv3-IN, conv3-IN-ReLU, ViT stage
 *   g2  = Stage2(Up(g1))   (8, 4n)   C/2
 *   g3  = Stage3(Up(g2))   (16, 8n)  C/4
 *   f   = Up8(Skip0(g0)) + Up4(Skip1(g1)) + Up2(Skip2(g2)) + g3 + noise      conv3 skips to C/4, noise N(0, 1)
 *   img = tanh(conv7(conv5-IN-ReLU(conv3-IN(Up(Res2(f))))))                  (B, 32, 16 n, 1)
 *
 * Shapes: B batch, n characters (texts are padded to the configured length
 * with an empty glyph), C width, S style tokens of width C. IN is instance
 * norm (non-affine, src/nn/instanceNorm.ts); Res2 two residual blocks
 * (conv3-IN-ReLU, conv3-IN, + x). The ViT stages (src/nn/vitStage.ts) carry
 * the position encoding under study: WriteViT's PEG after the first block,
 * a 2-D sincos table, or none.
 *
 * Differences from the official code, on purpose: convolutions pad with zeros
 * rather than by reflection (posenc's conv2d pads with zeros); the widths are
 * a configured C with the official ratios (C = 256 there: 256, 128, 128, 64,
 * 32); the noise is an input (drawn by the caller from a seeded generator) so
 * that the jitted step has no hidden randomness.
 *
 * Reference: Nam et al., "WriteViT: Handwritten Text Generation with Vision
 * Transformer" (2025), models/Generator.py, https://github.com/hnam-1765/WriteViT;
 * Bhunia et al., "Handwriting Transformers" (ICCV 2021), https://arxiv.org/abs/2104.03964
 */
import { type DType, nn, numpy as np } from "@jax-js/jax";
import { constant } from "../core/constant.js";
import type { Rng } from "../pe/random.js";
import { sinusoidal } from "../pe/sinusoidal.js";
import { type ConvConfig, conv2d, initConv } from "./conv.js";
import { type CrossBlockParams, crossBlock, initCrossBlock } from "./crossBlock.js";
import { instanceNorm } from "./instanceNorm.js";
import { initLayerNorm, type LayerNormParams, layerNorm } from "./layerNorm.js";
import { initLinear, type LinearParams, linear } from "./linear.js";
import { upsampleNearest } from "./upsample.js";
import { initVitStage, type StagePE, type VitStageConfig, type VitStageParams, vitStage } from "./vitStage.js";

/** Pixels of a glyph bitmap side (Unifont's 16 x 16 in WriteViT). */
export const GLYPH_SIZE = 16;

export interface GeneratorConfig {
  /** Width C of the decoder (the style tokens have it too). */
  width: number;
  heads: number;
  /** Cross-attention decoder blocks (WriteViT: 5). */
  decoderDepth: number;
  /** Blocks of each of the three ViT stages (WriteViT: 3). */
  stageDepth: number;
  pe: StagePE;
}

export interface ConvBlockParams {
  a: LinearParams;
  b: LinearParams;
}

export interface GeneratorParams {
  /** 256 -> C */
  query: LinearParams;
  decoder: CrossBlockParams[];
  norm0: LayerNormParams;
  up: ConvBlockParams[];
  stages: VitStageParams[];
  /** Skip convolutions of g0, g1, g2 to C/4 channels. */
  skips: LinearParams[];
  res: ConvBlockParams[];
  head: { a: LinearParams; b: LinearParams; out: LinearParams };
}

const C3: ConvConfig = { kernel: 3, stride: 1, padding: 1 };
const C5: ConvConfig = { kernel: 5, stride: 1, padding: 2 };
const C7: ConvConfig = { kernel: 7, stride: 1, padding: 3 };

/** Widths of the three stages and of the image features: C/2, C/2, C/4 and C/4, C/8. */
export function generatorWidths(C: number): { stages: [number, number, number]; features: number; head: number } {
  return { stages: [C / 2, C / 2, C / 4], features: C / 4, head: C / 8 };
}

function stageConfig(config: GeneratorConfig, width: number): VitStageConfig {
  return { width, heads: config.heads, depth: config.stageDepth, pe: config.pe };
}

export function initGenerator(r: Rng, config: GeneratorConfig, dtype: DType = np.float32): GeneratorParams {
  const C = config.width;
  const w = generatorWidths(C);
  const ins = [C, w.stages[0], w.stages[1]];
  return {
    query: initLinear(r, GLYPH_SIZE * GLYPH_SIZE, C, { dtype }),
    decoder: Array.from({ length: config.decoderDepth }, () => initCrossBlock(r, C, C, dtype)),
    norm0: initLayerNorm(C, dtype),
    up: w.stages.map((out, i) => ({ a: initConv(r, ins[i], out, C3, dtype), b: initConv(r, out, out, C3, dtype) })),
    stages: w.stages.map((width) => initVitStage(r, stageConfig(config, width), dtype)),
    skips: ins.map((cin) => initConv(r, cin, w.features, C3, dtype)),
    res: [0, 1].map(() => ({ a: initConv(r, w.features, w.features, C3, dtype), b: initConv(r, w.features, w.features, C3, dtype) })),
    head: {
      a: initConv(r, w.features, w.head, C3, dtype),
      b: initConv(r, w.head, w.head, C5, dtype),
      out: initConv(r, w.head, 1, C7, dtype),
    },
  };
}

/** (B, Gh, Gw, C) grid -> (B, Gh Gw, C) tokens and back. */
const tokens = (g: np.Array) => g.reshape([g.shape[0], g.shape[1] * g.shape[2], g.shape[3]]);

/**
 * glyphs (B, n, 256) in [0, 1], style (B, S, C) tokens, noise (B, 16, 8 n, C/4)
 * -> images (B, 32, 16 n, 1) in [-1, 1]. Borrows the parameters and the
 * style, consumes glyphs and noise. Shapes are the caller's to check.
 */
export function generate(p: GeneratorParams, config: GeneratorConfig, glyphs: np.Array, style: np.Array, noise: np.Array): np.Array {
  const [B, n] = glyphs.shape;
  const C = config.width;
  const w = generatorWidths(C);
  const q = linear(p.query, glyphs); // (B, n, C)
  let x = np.add(q.ref, constant(sinusoidal(n, C, { layout: "interleaved" }), q.dtype).reshape([1, n, C])); // (B, n, C)
  for (const blk of p.decoder) x = crossBlock(blk, x, style, config.heads); // (B, n, C)
  let g = layerNorm(p.norm0, np.concatenate([x, q], 1)).reshape([B, 2, n, C]); // (B, 2, n, C)

  const skips: np.Array[] = [];
  for (let i = 0; i < 3; i++) {
    skips.push(upsampleNearest(conv2d(p.skips[i], g.ref, C3), 8 >> i)); // (B, 16, 8n, C/4)
    const up = upsampleNearest(g, 2); // (B, 2Gh, 2Gw, Cin)
    const a = instanceNorm(conv2d(p.up[i].a, up, C3)); // (B, 2Gh, 2Gw, Ci)
    const h = nn.relu(instanceNorm(conv2d(p.up[i].b, a, C3))); // (B, 2Gh, 2Gw, Ci)
    const [, Gh, Gw, Ci] = h.shape;
    g = vitStage(p.stages[i], stageConfig(config, w.stages[i]), tokens(h), { height: Gh, width: Gw }).reshape([B, Gh, Gw, Ci]); // (B, Gh, Gw, Ci)
  }
  let f = np.add(np.add(np.add(skips[0], skips[1]), np.add(skips[2], g)), noise); // (B, 16, 8n, C/4)
  for (const r of p.res) {
    const h = nn.relu(instanceNorm(conv2d(r.a, f.ref, C3))); // (B, 16, 8n, C/4)
    f = np.add(f, instanceNorm(conv2d(r.b, h, C3))); // (B, 16, 8n, C/4)
  }
  const up = upsampleNearest(f, 2); // (B, 32, 16n, C/4)
  const a = instanceNorm(conv2d(p.head.a, up, C3)); // (B, 32, 16n, C/8)
  const b = nn.relu(instanceNorm(conv2d(p.head.b, a, C5))); // (B, 32, 16n, C/8)
  return np.tanh(conv2d(p.head.out, b, C7)); // (B, 32, 16n, 1)
}
