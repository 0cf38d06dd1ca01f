/**
 * A small hierarchical CSWin Transformer classifier, readable top to bottom:
 *
 *   x = Norm(Conv_stem(images))                          stem conv (paper: 7x7 stride 4 padding 2)
 *   for each stage s:
 *     x = Norm(Conv3x3,stride2(x))          (s > 0)      merging: halves the grid, width C_{s-1} -> C_s
 *     x = x + Proj(CSWinAttention(Norm1(x)))             cross-shaped windows + LePE, depth_s times,
 *     x = x + MLP(Norm2(x))                              (a PEG after the very first block, option)
 *   logits = mean_tokens(NormF(x)) Whead + b
 *
 * Shapes: B batch, Hi x Wi image pixels, Cin image channels, Gh x Gw token
 * grid of the stage, N = Gh Gw tokens, C the stage's width, K classes.
 *
 * In each block, half the heads attend inside vertical stripes of sw columns
 * and half inside horizontal stripes of sw rows (`cswinAttention`,
 * src/attention/crossShapedWindow.ts), with LePE on the values; a stage with
 * stripeWidth "global" attends over the whole grid with all heads (the
 * paper's last stage). Grids not divisible by sw get narrower last stripes,
 * so the model runs on any image size that the convolutions leave at least
 * one cell of. The MLP is GELU with hidden width ratio x C (official: exact
 * GELU, ratio 4); the convolutions are src/nn/conv.ts (PyTorch Conv2d
 * arithmetic and initialisation); LePE and PEG weights are U(-1/3, 1/3),
 * PyTorch's Conv2d init with fan-in 9; Linear layers as torch.nn.Linear.
 *
 * Parameters are a pytree of jax-js arrays; forward functions borrow the
 * parameters and consume their inputs.
 *
 * Reference: Dong et al., "CSWin Transformer: A General Vision Transformer
 * Backbone with Cross-Shaped Windows" (CVPR 2022), https://arxiv.org/abs/2107.00652;
 * microsoft/CSWin-Transformer models/cswin.py `CSWinTransformer`, `CSWinBlock`,
 * `Merge_Block` (https://github.com/microsoft/CSWin-Transformer); Chu et al.,
 * CPVT (PEG), https://arxiv.org/abs/2102.10882
 */
import { type DType, numpy as np } from "@jax-js/jax";
import { type CrossShapedWindowOptions, cswinAttention } from "../attention/crossShapedWindow.js";
import { peg } from "../attention/peg.js";
import { reject, shapeOf } from "../core/shapes.js";
import { fail, integer } from "../core/validate.js";
import { type Rng, rng } from "../pe/random.js";
import { batchLoss, type ImageBatch } from "./classifier.js";
import { type ConvConfig, conv2d, convOutputSize, initConv } from "./conv.js";
import { uniform } from "./init.js";
import { initLinear, type LinearParams, linear } from "./linear.js";
import { initMlp, type MlpConfig, type MlpParams, mlp } from "./mlp.js";
import { initNorm, type NormConfig, type NormParams, norm } from "./norm.js";

/** One stage of blocks on one grid. */
export interface CswinStage {
  /** Width C of the stage. */
  width: number;
  /** Blocks in the stage. */
  depth: number;
  /** Heads; even for cross-shaped windows (half per stripe direction). */
  heads: number;
  /** Stripe width sw in cells, or "global" for attention over the whole grid. */
  stripeWidth: number | "global";
}

/** A CSWin classifier, as plain JSON. */
export interface CswinNetConfig {
  /** Training image [height, width] in pixels. */
  image: [number, number];
  /** Image channels Cin. */
  channels: number;
  /** Stem convolution (paper: kernel 7, stride 4, padding 2; p x p patches: kernel = stride = p, padding 0). */
  stem: ConvConfig;
  stages: CswinStage[];
  /** GELU MLP of hidden width ratio x C (paper: 4), exact erf GELU (paper) or its tanh approximation. */
  mlp: { ratio: number; approximate: boolean };
  norm: NormConfig;
  /** Bias of the q, k, v projection (official models: true). */
  qkvBias: boolean;
  /** A PEG (depthwise 3x3 conv) after the first block. */
  peg: boolean;
  /** Classes K. */
  classes: number;
}

/** One block's parameters. */
export interface CswinBlockParams {
  norm1: NormParams;
  /** C -> 3C, columns [q | k | v]. */
  qkv: LinearParams;
  /** LePE depthwise conv: weight (C, 3, 3), first half of the channels for the vertical stripes; bias (C). */
  lepe: { weight: np.Array; bias: np.Array };
  /** C -> C */
  proj: LinearParams;
  norm2: NormParams;
  mlp: MlpParams;
}

/** One stage's parameters. */
export interface CswinStageParams {
  /** Merging conv (9 C_{s-1}, C_s) and its norm; stages after the first. */
  merge?: { conv: LinearParams; norm: NormParams };
  blocks: CswinBlockParams[];
}

/** The classifier's parameters, a pytree of jax-js arrays. */
export interface CswinNetParams {
  /** Stem conv (k k Cin, C_0) and its norm. */
  stem: { conv: LinearParams; norm: NormParams };
  stages: CswinStageParams[];
  /** PEG weight (C_0, 3, 3) and bias (C_0), `peg` only. */
  peg?: { weight: np.Array; bias: np.Array };
  normF: NormParams;
  /** C_last -> K */
  head: LinearParams;
}

/** The merging layer between stages (official `Merge_Block`: Conv2d(dim, dim_out, 3, 2, 1)). */
export const MERGE: ConvConfig = { kernel: 3, stride: 2, padding: 1 };

const mlpConfig = (config: CswinNetConfig, C: number): MlpConfig => ({
  kind: "gelu",
  hidden: config.mlp.ratio * C,
  approximate: config.mlp.approximate,
});

function validate(fn: string, config: CswinNetConfig): void {
  integer(fn, "config.image[0]", config.image?.[0], 1);
  integer(fn, "config.image[1]", config.image?.[1], 1);
  integer(fn, "config.channels", config.channels, 1);
  integer(fn, "config.classes", config.classes, 1);
  integer(fn, "config.mlp.ratio", config.mlp?.ratio, 1);
  integer(fn, "config.stem.kernel", config.stem?.kernel, 1);
  integer(fn, "config.stem.stride", config.stem.stride, 1);
  integer(fn, "config.stem.padding", config.stem.padding, 0);
  if (!Array.isArray(config.stages) || config.stages.length === 0) fail(fn, "config.stages must hold at least one stage");
  config.stages.forEach((s, i) => {
    const C = integer(fn, `config.stages[${i}].width`, s.width, 1);
    const H = integer(fn, `config.stages[${i}].heads`, s.heads, 1);
    integer(fn, `config.stages[${i}].depth`, s.depth, i === 0 && config.peg ? 1 : 0);
    if (C % H !== 0) fail(fn, `config.stages[${i}].width (${C}) must be a multiple of config.stages[${i}].heads (${H})`);
    if (s.stripeWidth !== "global") {
      integer(fn, `config.stages[${i}].stripeWidth`, s.stripeWidth, 1);
      if (H % 2 !== 0)
        fail(
          fn,
          `config.stages[${i}].heads (${H}) must be even with cross-shaped windows (stripeWidth ${s.stripeWidth}); use stripeWidth "global" for odd heads`,
        );
      if (C % 2 !== 0) fail(fn, `config.stages[${i}].width (${C}) must be even with cross-shaped windows`);
    }
  });
}

/** The token grid of each stage for an image of [height, width] pixels; errors name `fn`. */
function stageGrids(fn: string, config: CswinNetConfig, image: [number, number]): [number, number][] {
  let grid: [number, number] = [convOutputSize(fn, image[0], config.stem), convOutputSize(fn, image[1], config.stem)];
  const grids: [number, number][] = [grid];
  for (let s = 1; s < config.stages.length; s++) {
    grid = [convOutputSize(fn, grid[0], MERGE), convOutputSize(fn, grid[1], MERGE)];
    grids.push(grid);
  }
  return grids;
}

function initCswinBlock(r: Rng, C: number, config: CswinNetConfig, dtype: DType): CswinBlockParams {
  return {
    norm1: initNorm(config.norm, C, dtype),
    qkv: initLinear(r, C, 3 * C, { bias: config.qkvBias, dtype }),
    lepe: { weight: uniform(r, [C, 3, 3], 1 / 3, dtype), bias: uniform(r, [C], 1 / 3, dtype) },
    proj: initLinear(r, C, C, { dtype }),
    norm2: initNorm(config.norm, C, dtype),
    mlp: initMlp(r, C, mlpConfig(config, C), dtype),
  };
}

/** Seeded parameters: same config and seed, same model on every device. */
export function initCswinNet(config: CswinNetConfig, seed: number, dtype: DType = np.float32): CswinNetParams {
  const fn = "initCswinNet";
  validate(fn, config);
  stageGrids(fn, config, config.image);
  const r = rng(seed);
  const C0 = config.stages[0].width;
  const stem = { conv: initConv(r, config.channels, C0, config.stem, dtype), norm: initNorm(config.norm, C0, dtype) };
  const stages = config.stages.map((s, i): CswinStageParams => {
    const stage: CswinStageParams = { blocks: [] };
    if (i > 0)
      stage.merge = { conv: initConv(r, config.stages[i - 1].width, s.width, MERGE, dtype), norm: initNorm(config.norm, s.width, dtype) };
    for (let j = 0; j < s.depth; j++) stage.blocks.push(initCswinBlock(r, s.width, config, dtype));
    return stage;
  });
  const last = config.stages[config.stages.length - 1].width;
  const params: CswinNetParams = {
    stem,
    stages,
    normF: initNorm(config.norm, last, dtype),
    head: initLinear(r, last, config.classes, { dtype }),
  };
  if (config.peg) params.peg = { weight: uniform(r, [C0, 3, 3], 1 / 3, dtype), bias: uniform(r, [C0], 1 / 3, dtype) };
  return params;
}

/**
 * images (B, Hi, Wi, Cin) -> logits (B, K), at the training size or any size
 * the convolutions accept. Borrows the parameters, consumes the images.
 */
export function cswinNetForward(p: CswinNetParams, config: CswinNetConfig, images: np.Array): np.Array {
  const fn = "cswinNetForward";
  if (images.ndim !== 4 || images.shape[3] !== config.channels)
    reject(fn, [images], `images must be (B, H, W, ${config.channels}), got ${shapeOf(images)}`);
  if (p.stages.length !== config.stages.length || (config.peg && !p.peg)) {
    reject(
      fn,
      [images],
      `params (${p.stages.length} stages${p.peg ? ", PEG" : ""}) do not match config (${config.stages.length} stages${config.peg ? ", PEG" : ""})`,
    );
  }
  const [B, Hi, Wi] = images.shape;
  let grids: [number, number][];
  try {
    grids = stageGrids(fn, config, [Hi, Wi]);
  } catch (err) {
    images.dispose();
    throw err;
  }

  let x = conv2d(p.stem.conv, images, config.stem); // (B, Gh, Gw, C)
  x = norm(config.norm, p.stem.norm, x.reshape([B, -1, config.stages[0].width])); // (B, N, C)
  config.stages.forEach((stage, s) => {
    const [Gh, Gw] = grids[s];
    const merge = p.stages[s].merge;
    if (merge) {
      const [Ph, Pw] = grids[s - 1];
      const merged = conv2d(merge.conv, x.reshape([B, Ph, Pw, config.stages[s - 1].width]), MERGE); // (B, Gh, Gw, C)
      x = norm(config.norm, merge.norm, merged.reshape([B, Gh * Gw, stage.width])); // (B, N, C)
    }
    p.stages[s].blocks.forEach((b, j) => {
      x = cswinBlock(b, x, stage, config, Gh, Gw); // (B, N, C)
      if (s === 0 && j === 0 && config.peg) x = peg(x, p.peg!.weight.ref, p.peg!.bias.ref, { height: Gh, width: Gw }); // (B, N, C)
    });
  });
  x = norm(config.norm, p.normF, x); // (B, N, C)
  return linear(p.head, np.mean(x, 1)); // (B, K)
}

/** Mean cross-entropy of a batch of images and labels. Borrows the parameters, consumes the batch. */
export function cswinNetLoss(p: CswinNetParams, config: CswinNetConfig, batch: ImageBatch): np.Array {
  return batchLoss((images) => cswinNetForward(p, config, images), batch); // ()
}

/**
 * Floating-point operations of one forward pass of one image (default: the
 * training size), 2 per multiply-add of the matrix products and
 * convolutions; normalisation, softmax, activations, additions and pooling
 * are not counted. Per stage on a Gh x Gw grid (N tokens, width C, MLP ratio r):
 *
 *   merge  Gh Gw 9 C_{s-1} C                  (s > 0; the stem: Gh Gw k^2 Cin C_0)
 *   block  N C 3C + attention + 9 N C (LePE) + N C^2 + 2 r N C^2
 *   attention: global 2 N^2 C; cross, per half of C/2 channels, 2 (windows) S^2 C/2
 *              with the windows counted padded, as computed: vertical
 *              ceil(Gw / sw) windows of S = Gh min(sw, Gw) cells, horizontal
 *              ceil(Gh / sw) windows of S = min(sw, Gh) Gw cells
 *   plus 9 N C_0 for the PEG and C_last K for the head.
 */
export function cswinNetFlops(config: CswinNetConfig, image: [number, number] = config.image): number {
  const fn = "cswinNetFlops";
  validate(fn, config);
  const grids = stageGrids(fn, config, image);
  const { kernel: k } = config.stem;
  let macs = grids[0][0] * grids[0][1] * k * k * config.channels * config.stages[0].width;
  config.stages.forEach((stage, s) => {
    const [Gh, Gw] = grids[s];
    const N = Gh * Gw;
    const C = stage.width;
    if (s > 0) macs += N * 9 * config.stages[s - 1].width * C;
    let attn: number;
    if (stage.stripeWidth === "global") attn = 2 * N * N * C;
    else {
      const sw = stage.stripeWidth;
      const vertical = Math.ceil(Gw / sw) * (Gh * Math.min(sw, Gw)) ** 2;
      const horizontal = Math.ceil(Gh / sw) * (Math.min(sw, Gh) * Gw) ** 2;
      attn = 2 * (vertical + horizontal) * (C / 2);
    }
    macs += stage.depth * (3 * N * C * C + attn + 9 * N * C + N * C * C + 2 * config.mlp.ratio * N * C * C);
  });
  if (config.peg) macs += 9 * grids[0][0] * grids[0][1] * config.stages[0].width;
  macs += config.stages[config.stages.length - 1].width * config.classes;
  return 2 * macs;
}

/** One CSWin block on a Gh x Gw grid: (B, N, C) -> (B, N, C). Borrows the parameters, consumes x. */
function cswinBlock(p: CswinBlockParams, x: np.Array, stage: CswinStage, config: CswinNetConfig, Gh: number, Gw: number): np.Array {
  const grid = { height: Gh, width: Gw, heads: stage.heads };
  const opts: CrossShapedWindowOptions =
    stage.stripeWidth === "global" ? { ...grid, mode: "global" } : { ...grid, mode: "cross", stripeWidth: stage.stripeWidth };
  const h = norm(config.norm, p.norm1, x.ref); // (B, N, C)
  const attended = cswinAttention(
    h,
    {
      qkvWeight: np.transpose(p.qkv.w.ref), // (3C, C)
      qkvBias: p.qkv.b?.ref,
      lepeWeight: p.lepe.weight.ref,
      lepeBias: p.lepe.bias.ref,
      projWeight: np.transpose(p.proj.w.ref), // (C, C)
      projBias: p.proj.b!.ref,
    },
    opts,
  ); // (B, N, C)
  x = np.add(x, attended); // (B, N, C)
  return np.add(x.ref, mlp(p.mlp, norm(config.norm, p.norm2, x), mlpConfig(config, stage.width))); // (B, N, C)
}
