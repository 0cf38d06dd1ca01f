/**
 * A small Vision Transformer classifier, readable top to bottom:
 *
 *   x = Patches_p(images) Wpatch + b                     non-overlapping p x p patches -> C
 *   x = x + PE(grid)                                     learned / 2-D sincos (absolute kinds)
 *   x = [cls | x]                                        with a class token (pool "class")
 *   x = Block_1(x); x = PEG(x) (option); x = Block_n(... Block_2(x))
 *                                                        pre-norm, bidirectional; 2-D RoPE rotates q, k
 *   logits = (NormF(x)[cls] or mean_tokens NormF(x)) Whead + b
 *
 * Shapes: B batch, Hi x Wi image pixels, Cin image channels, Gh x Gw token
 * grid (Gh = Hi / p), N = Gh Gw patch tokens, T tokens (N, plus 1 with a class
 * token), C width, H heads, D = C / H head dim, K classes.
 *
 * Positional encodings and other grid sizes than the training one:
 * - "none": no position (a bag of patches, unless PEG);
 * - "learned": a (Gh Gw, C) table for the training grid, N(0, 0.02^2) as
 *   timm; on another grid it is resampled bilinearly (src/nn/bilinear.ts,
 *   timm `resample_abs_pos_embed` with interpolation "bilinear"); the class
 *   token has no entry (it is itself learned);
 * - "sincos2d": fixed 2-D sine-cosine table (src/pe/sincos2d.ts) of the grid
 *   at hand, integer row and column positions;
 * - "rope2d": axial 2-D rotary embedding (src/pe/axialRope.ts) of q and k in
 *   every block, interleaved pairs, tables (T, D) for the grid at hand; with
 *   `interpolate` the positions of a larger grid are scaled into the training
 *   grid's range (EVA's reference shape). The class token is not rotated
 *   (cos 1, sin 0), as in timm's EVA, which skips prefix tokens.
 * - `peg`: CPVT's positional encoding generator, a depthwise 3x3 convolution
 *   on the patch tokens added back to them after the first block (the class
 *   token passes unchanged); weights U(-1/3, 1/3), PyTorch's Conv2d init with
 *   fan-in 9.
 * The class token starts at N(0, 1e-6^2) (timm). The blocks are `block()` of
 * src/nn/block.ts (causal false, attention PE none), with its rotary hook
 * for 2-D RoPE.
 *
 * Parameters are a pytree of jax-js arrays (jit, grad take them directly);
 * forward functions borrow the parameters and consume their inputs.
 *
 * Reference: Dosovitskiy et al., "An Image is Worth 16x16 Words" (ICLR 2021),
 * https://arxiv.org/abs/2010.11929; Chu et al., CPVT, https://arxiv.org/abs/2102.10882;
 * Heo et al., "Rotary Position Embedding for Vision Transformer",
 * https://arxiv.org/abs/2403.13298; timm models/vision_transformer.py,
 * models/eva.py (https://github.com/huggingface/pytorch-image-models)
 */
import { type DType, numpy as np } from "@jax-js/jax";
import { peg } from "../attention/peg.js";
import type { RotaryTables } from "../attention/rotary.js";
import { constant } from "../core/constant.js";
import { renamedField } from "../core/renamed.js";
import { bool, fail, integer } from "../core/validate.js";
import { type AxialConvention, axialRope } from "../pe/axialRope.js";
import { rng } from "../pe/random.js";
import { sincos2d } from "../pe/sincos2d.js";
import { bilinearMatrix } from "./bilinear.js";
import { type BlockConfig, type BlockParams, block, blockParameterCount, checkParameterCount, initBlock } from "./block.js";
import { batchLoss, type ImageBatch, imageGrid } from "./classifier.js";
import { patches } from "./conv.js";
import { normal, uniform } from "./init.js";
import { initLinear, type LinearParams, linear } from "./linear.js";
import { checkMlp, type MlpConfig } from "./mlp.js";
import { checkNorm, initNorm, type NormConfig, type NormParams, norm } from "./norm.js";

/** The ViT's positional encoding (see the file's header). */
export type VitPE =
  | { type: "none" }
  | { type: "learned" }
  | { type: "sincos2d" /** Frequency temperature (default 10000). */; temperature?: number }
  | {
      type: "rope2d";
      /** "lang": integer positions, bands T^(-k/K); "pixel": positions on [-1, 1], pi-scaled bands. */
      convention: AxialConvention;
      /** "lang" temperature (default 10000). */
      temperature?: number;
      /** "pixel" maximum resolution (default 224). */
      maxRes?: number;
      /** Scale the positions of another grid into the training grid's range. */
      interpolate: boolean;
    };

/** A ViT, as plain JSON. */
export interface VitConfig {
  /** Training image [height, width] in pixels. */
  image: [number, number];
  /** Image channels Cin. */
  channels: number;
  /** Patch side p; must divide the image sides. */
  patch: number;
  /** Width C. */
  width: number;
  /** Blocks. */
  depth: number;
  /** Heads H; C must be a multiple of H. */
  heads: number;
  mlp: MlpConfig;
  norm: NormConfig;
  /** "mean": average of the tokens; "class": a class token's output. */
  pool: "mean" | "class";
  /** Tagged `type`; its old name `kind` is still read for one release (deprecated). */
  pe: VitPE;
  /** A PEG (depthwise 3x3 conv) after the first block. */
  peg: boolean;
  /** Classes K. */
  classes: number;
  /** Biases on the q, k, v and output projections (timm: true). */
  bias: boolean;
}

/** The ViT's parameters, a pytree of jax-js arrays. */
export interface VitParams {
  /** (p p Cin, C), rows in (row, column, channel) order of the patch. */
  patch: LinearParams;
  /** (C) class token, pool "class" only. */
  cls?: np.Array;
  /** (Gh Gw, C) for the training grid, pe "learned" only. */
  pos?: np.Array;
  blocks: BlockParams[];
  /** PEG weight (C, 3, 3) and bias (C), `peg` only. */
  peg?: { weight: np.Array; bias: np.Array };
  normF: NormParams;
  /** C -> K */
  head: LinearParams;
}

/** Std of the learned position table (timm `trunc_normal_(pos_embed, std=.02)`). */
const POS_STD = 0.02;
/** Std of the class token (timm `normal_(cls_token, std=1e-6)`). */
const CLS_STD = 1e-6;

/** The token grid [Gh, Gw] of the training images. */
export function vitGrid(config: VitConfig): [number, number] {
  return [config.image[0] / config.patch, config.image[1] / config.patch];
}

function blockConfig(config: VitConfig): BlockConfig {
  return {
    width: config.width,
    heads: config.heads,
    mlp: config.mlp,
    norm: config.norm,
    pe: { type: "none" },
    causal: false,
    bias: config.bias,
  };
}

/** Throws `fn: ...` naming the first field of `config` out of range; returns it with the PE tag under its current name. */
function validate(fn: string, config: VitConfig): VitConfig {
  const [h, w] = config?.image ?? [];
  integer(fn, "config.image[0]", h, 1);
  integer(fn, "config.image[1]", w, 1);
  integer(fn, "config.channels", config.channels, 1);
  const p = integer(fn, "config.patch", config.patch, 1);
  if (h % p !== 0 || w % p !== 0) fail(fn, `config.image ${h}x${w} must be divisible by config.patch ${p}`);
  integer(fn, "config.depth", config.depth, config.peg ? 1 : 0);
  integer(fn, "config.classes", config.classes, 1);
  const C = integer(fn, "config.width", config.width, 1);
  const H = integer(fn, "config.heads", config.heads, 1);
  if (C % H !== 0) fail(fn, `config.width (${C}) must be a multiple of config.heads (${H})`);
  if (config.pool !== "mean" && config.pool !== "class")
    fail(fn, `config.pool must be "mean" or "class", got ${JSON.stringify(config.pool)}`);
  checkMlp(fn, "config.mlp", config.mlp);
  checkNorm(fn, "config.norm", config.norm);
  bool(fn, "config.peg", config.peg);
  bool(fn, "config.bias", config.bias);
  const blocks = config.depth * blockParameterCount(blockConfig(config));
  checkParameterCount(fn, "config", blocks + (p * p * config.channels + config.classes + (h / p) * (w / p)) * C);
  const pe = renamedField(fn, "config.pe", config.pe, "kind", "type");
  const type = pe?.type;
  if (type === "sincos2d" && C % 4 !== 0) fail(fn, `config.pe "sincos2d" needs config.width divisible by 4, got ${C}`);
  if (type === "rope2d" && (C / H) % 4 !== 0) fail(fn, `config.pe "rope2d" needs the head dim width / heads = ${C}/${H} divisible by 4`);
  if (type !== "none" && type !== "learned" && type !== "sincos2d" && type !== "rope2d")
    fail(fn, `config.pe.type must be "none", "learned", "sincos2d" or "rope2d", got ${JSON.stringify(type)}`);
  return pe === config.pe ? config : { ...config, pe };
}

/** Seeded parameters: same config and seed, same model on every device. */
export function initVit(vit: VitConfig, seed: number, dtype: DType = np.float32): VitParams {
  const config = validate("initVit", vit);
  const r = rng(seed);
  const { width: C, patch: p, channels } = config;
  const [Gh, Gw] = vitGrid(config);
  const patch = initLinear(r, p * p * channels, C, { dtype });
  const params: VitParams = {
    patch,
    blocks: [],
    normF: initNorm(config.norm, C, dtype),
    head: initLinear(r, C, config.classes, { dtype }),
  };
  if (config.pool === "class") params.cls = normal(r, [C], CLS_STD, dtype);
  if (config.pe.type === "learned") params.pos = normal(r, [Gh * Gw, C], POS_STD, dtype);
  for (let i = 0; i < config.depth; i++) params.blocks.push(initBlock(r, blockConfig(config), dtype));
  if (config.peg) params.peg = { weight: uniform(r, [C, 3, 3], 1 / 3, dtype), bias: uniform(r, [C], 1 / 3, dtype) };
  return params;
}

/**
 * images (B, Hi, Wi, Cin) -> logits (B, K), on the training grid or any grid
 * of whole patches. Borrows the parameters, consumes the images.
 */
export function vitForward(p: VitParams, vit: VitConfig, images: np.Array): np.Array {
  const fn = "vitForward";
  let config: VitConfig;
  try {
    config = validate(fn, vit);
  } catch (e) {
    images.dispose();
    throw e;
  }
  const [Gh, Gw] = imageGrid(fn, images, config.channels, config.patch);
  const missing = (what: string): never => {
    images.dispose();
    return fail(fn, what);
  };
  if (config.pool === "class" && !p.cls) missing('config.pool "class" needs params.cls');
  if (config.pe.type === "learned" && !p.pos) missing('config.pe "learned" needs params.pos');
  if (config.peg && !p.peg) missing("config.peg needs params.peg");
  if (p.blocks.length !== config.depth) missing(`params hold ${p.blocks.length} blocks, config.depth is ${config.depth}`);
  const [B] = images.shape;
  const { width: C, patch: P, channels: Cin } = config;
  const N = Gh * Gw;
  const T = config.pool === "class" ? N + 1 : N;

  const pixels = patches(images, { kernel: P, stride: P, padding: 0 }).reshape([B, N, P * P * Cin]); // (B, N, p p Cin)
  let x = linear(p.patch, pixels); // (B, N, C)
  if (config.pe.type === "learned") x = np.add(x, learnedTable(p.pos!, config, Gh, Gw)); // (B, N, C)
  if (config.pe.type === "sincos2d")
    x = np.add(x, constant(sincos2d(Gh, Gw, C, { temperature: config.pe.temperature }), x.dtype).reshape([1, N, C])); // (B, N, C)
  if (config.pool === "class") x = np.concatenate([np.broadcastTo(p.cls!.ref.reshape([1, 1, C]), [B, 1, C]), x], 1); // (B, T, C)

  const rope = config.pe.type === "rope2d" ? ropeTables(config.pe, config, Gh, Gw, x.dtype) : null; // (T, D) each
  const bc = blockConfig(config);
  p.blocks.forEach((b, i) => {
    x = block(b, x, bc, undefined, rope ? { rotary: rope } : {}); // (B, T, C)
    if (i === 0 && config.peg) x = applyPeg(p.peg!, x, T - N, Gh, Gw); // (B, T, C)
  });
  if (rope) for (const t of [rope.cos, rope.sin]) t.dispose();

  x = norm(config.norm, p.normF, x); // (B, T, C)
  const pooled = config.pool === "class" ? x.slice([], 0, []) : np.mean(x, 1); // (B, C)
  return linear(p.head, pooled); // (B, K)
}

/** Mean cross-entropy of a batch of images and labels. Borrows the parameters, consumes the batch. */
export function vitLoss(p: VitParams, config: VitConfig, batch: ImageBatch): np.Array {
  return batchLoss((images) => vitForward(p, config, images), batch); // ()
}

/**
 * Floating-point operations of one forward pass of one image on a Gh x Gw
 * grid (default: the training grid), counted as 2 per multiply-add of the
 * matrix products and convolutions (patch embedding, q k v, q k^T, attention
 * times v, output projection, MLP, PEG, head); normalisation, softmax,
 * activations, rotations, additions and the pooling are not counted:
 *
 *   2 [N p^2 Cin C + depth (4 T C^2 + 2 T^2 C + m T C M) + 9 N C (PEG) + C K]
 *
 * with M the MLP hidden width and m = 2 (GELU) or 3 (SwiGLU).
 */
export function vitFlops(vit: VitConfig, grid: [number, number] = vitGrid(vit)): number {
  const config = validate("vitFlops", vit);
  const [Gh, Gw] = grid;
  integer("vitFlops", "grid[0]", Gh, 1);
  integer("vitFlops", "grid[1]", Gw, 1);
  const { width: C, patch: P, channels: Cin, mlp: m } = config;
  const N = Gh * Gw;
  const T = config.pool === "class" ? N + 1 : N;
  const mlpMacs = (m.kind === "gelu" ? 2 : 3) * T * C * m.hidden;
  const blockMacs = 4 * T * C * C + 2 * T * T * C + mlpMacs;
  const macs = N * P * P * Cin * C + config.depth * blockMacs + (config.peg ? 9 * N * C : 0) + C * config.classes;
  return 2 * macs;
}

/** The learned table on a Gh x Gw grid, resampled bilinearly from the training grid: (1, N, C). Borrows it. */
function learnedTable(table: np.Array, config: VitConfig, Gh: number, Gw: number): np.Array {
  const [G0h, G0w] = vitGrid(config);
  const C = config.width;
  if (Gh === G0h && Gw === G0w) return table.ref.reshape([1, Gh * Gw, C]); // (1, N, C)
  const resample = constant(bilinearMatrix(G0h, G0w, Gh, Gw), table.dtype).reshape([Gh * Gw, G0h * G0w]); // (N, N0)
  return np.matmul(resample, table.ref).reshape([1, Gh * Gw, C]); // (1, N, C)
}

/** Axial 2-D RoPE tables (T, D) of a Gh x Gw grid, identity rows for a class token first. */
function ropeTables(pe: Extract<VitPE, { type: "rope2d" }>, config: VitConfig, Gh: number, Gw: number, dtype: DType): RotaryTables {
  const D = config.width / config.heads;
  const t = axialRope([Gh, Gw], D, {
    convention: pe.convention,
    temperature: pe.temperature,
    maxRes: pe.maxRes,
    refShape: pe.interpolate ? vitGrid(config) : undefined,
  }); // (N, D) each
  const prefix = config.pool === "class" ? D : 0;
  const cos = new Float64Array(prefix + t.cos.length).fill(1, 0, prefix);
  const sin = new Float64Array(prefix + t.sin.length);
  cos.set(t.cos, prefix);
  sin.set(t.sin, prefix);
  const T = cos.length / D;
  return { cos: constant(cos, dtype).reshape([T, D]), sin: constant(sin, dtype).reshape([T, D]) };
}

/** PEG on the patch tokens after `prefix` class tokens: (B, T, C) -> (B, T, C). Borrows the weights, consumes x. */
function applyPeg(w: { weight: np.Array; bias: np.Array }, x: np.Array, prefix: number, Gh: number, Gw: number): np.Array {
  const grid = { height: Gh, width: Gw };
  if (prefix === 0) return peg(x, w.weight.ref, w.bias.ref, grid); // (B, N, C)
  const tokens = peg(x.ref.slice([], [prefix], []), w.weight.ref, w.bias.ref, grid); // (B, N, C)
  return np.concatenate([x.slice([], [0, prefix], []), tokens], 1); // (B, T, C)
}
