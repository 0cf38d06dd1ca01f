/**
 * WriteViT's handwriting recognizer: a residual CNN that turns a word image
 * into a row of W/8 tokens, ViT blocks with a PEG, and per-token character
 * logits for CTC:
 *
 *   x      = LN(image)                                 non-affine, over the whole image
 *   x      = ReLU(Conv3(x))                            (B, H, W, C/4)
 *   x      = Res(x) three times, stride 2 each         (B, H/8, W/8, C/4 -> C/2 -> C -> C)
 *   t      = [x rows of a column] Wcol + b             (B, W/8, C): the H/8 rows of a column flattened
 *   t      = ViTStage(t) on a 1 x W/8 grid             blocks, PEG after the first, LayerNorm
 *   logits = LN(t Whead + b)                           (B, T, V), LN non-affine over (T, V) as the official code
 *
 * Res(x) = ReLU(Conv3_s(x) -> ReLU -> Conv3(.) + Conv1_s(x)), a ResNet basic
 * block without batch norm (a recognizer that reads one generated word must
 * not depend on the rest of its batch). Shapes: B batch, H x W image (H = 32),
 * T = W/8 tokens, C width, V = characters + 1 (CTC blank 0).
 *
 * Reference: Nam et al., WriteViT (2025), models/OCR.py `ViT_OCR`,
 * https://github.com/hnam-1765/WriteViT; He et al., ResNet,
 * https://arxiv.org/abs/1512.03385; Graves et al. (2006) CTC.
 */
import { type DType, nn, numpy as np } from "@jax-js/jax";
import type { Rng } from "../pe/random.js";
import { type ConvConfig, conv2d, initConv } from "./conv.js";
import { normalize } from "./layerNorm.js";
import { initLinear, type LinearParams, linear } from "./linear.js";
import { initVitStage, type VitStageConfig, type VitStageParams, vitStage } from "./vitStage.js";

export interface RecognizerConfig {
  width: number;
  heads: number;
  depth: number;
  /** Image height H (multiple of 8). */
  height: number;
  /** V: the characters plus the CTC blank. */
  vocabulary: number;
}

export interface ResBlockParams {
  a: LinearParams;
  b: LinearParams;
  /** 1x1 shortcut with the block's stride */
  skip: LinearParams;
}

export interface RecognizerParams {
  stem: LinearParams;
  res: ResBlockParams[];
  /** (H/8) C -> C */
  column: LinearParams;
  stage: VitStageParams;
  /** C -> V */
  head: LinearParams;
}

const C3: ConvConfig = { kernel: 3, stride: 1, padding: 1 };
const DOWN3: ConvConfig = { kernel: 3, stride: 2, padding: 1 };
const DOWN1: ConvConfig = { kernel: 1, stride: 2, padding: 0 };

function stageConfig(c: RecognizerConfig): VitStageConfig {
  return { width: c.width, heads: c.heads, depth: c.depth, pe: "peg" };
}

function resWidths(C: number): [number, number][] {
  return [
    [C / 4, C / 2],
    [C / 2, C],
    [C, C],
  ];
}

export function initRecognizer(r: Rng, config: RecognizerConfig, dtype: DType = np.float32): RecognizerParams {
  const C = config.width;
  return {
    stem: initConv(r, 1, C / 4, C3, dtype),
    res: resWidths(C).map(([cin, cout]) => ({
      a: initConv(r, cin, cout, DOWN3, dtype),
      b: initConv(r, cout, cout, C3, dtype),
      skip: initConv(r, cin, cout, DOWN1, dtype),
    })),
    column: initLinear(r, (config.height / 8) * C, C, { dtype }),
    stage: initVitStage(r, stageConfig(config), dtype),
    head: initLinear(r, C, config.vocabulary, { dtype }),
  };
}

/** images (B, H, W, 1) -> logits (B, W/8, V). Borrows the parameters, consumes the images. */
export function recognize(p: RecognizerParams, config: RecognizerConfig, images: np.Array): np.Array {
  const [B, H, W] = images.shape;
  let x = normalize(images.reshape([B, H * W]), 1e-5).reshape([B, H, W, 1]); // (B, H, W, 1)
  x = nn.relu(conv2d(p.stem, x, C3)); // (B, H, W, C/4)
  for (const r of p.res) {
    const h = conv2d(r.b, nn.relu(conv2d(r.a, x.ref, DOWN3)), C3); // (B, H', W', Cout)
    x = nn.relu(np.add(h, conv2d(r.skip, x, DOWN1))); // (B, H', W', Cout)
  }
  const [, Hc, T, C] = x.shape;
  const cols = linear(p.column, x.transpose([0, 2, 1, 3]).reshape([B, T, Hc * C])); // (B, T, C)
  const t = vitStage(p.stage, stageConfig(config), cols, { height: 1, width: T }); // (B, T, C)
  const logits = linear(p.head, t); // (B, T, V)
  const V = logits.shape[2];
  return normalize(logits.reshape([B, T * V]), 1e-5).reshape([B, T, V]); // (B, T, V)
}
