/**
 * Tiny diffusion transformer (DiT) with 2-D positional encodings and crop
 * micro-conditioning, readable top to bottom:
 *
 *   x  = Linear(patchify(x_t)) (+ sincos2d(positions))          patch tokens
 *   c  = MLP(freq(t)) + E[label] + MLP(crop features)           conditioning vector
 *   x  = DiTBlock_n(... PEG(DiTBlock_1(x, c)) ..., c)           adaLN-Zero blocks, 2-D RoPE in attention
 *   e  = unpatchify(Linear(modulate(LN(x), shift(c), scale(c))))  predicted noise
 *
 * A DiT block (adaLN-Zero, all six modulations from c, zero-initialised):
 *
 *   shift1, scale1, gate1, shift2, scale2, gate2 = Linear(SiLU(c))
 *   x = x + gate1 * Attention(LN(x) (1 + scale1) + shift1)
 *   x = x + gate2 * MLP(LN(x) (1 + scale2) + shift2)
 *
 * Positional encodings (`DitPE`): axial 2-D RoPE on q and k at per-axis
 * positions given each call ("rpe2d": randomized rows and columns at training,
 * the exact grid at inference; "rope2d-interpolate": a larger grid squeezed
 * into the training range; "rope2d-extrapolate": integer positions;
 * "rope2d-ntk" / "rope2d-yarn": integer positions with each axis's bands
 * scaled beyond the training grid, FiT's VisionNTK / VisionYaRN), or the
 * fixed 2-D sincos embedding added to the patch tokens ("sincos2d", DiT's).
 * `entropyScaling` rescales the attention logits with the token count.
 * Positions are JS numbers or jax-js arrays, shared (Gh) or per image (B, Gh),
 * so a jitted training step takes new randomized positions every batch
 * without recompiling. `peg` adds a PEG depthwise 3x3 convolution after the
 * first block.
 *
 * The objective (DDPM epsilon prediction), the randomized training
 * positions and the DDIM sampler are in ditDiffusion.ts.
 *
 * Images are channel-last (B, Ih, Iw, Ci), in [-1, 1]. Patch features are
 * ordered (row in patch, column in patch, channel).
 *
 * Shape legend: B batch, Ih x Iw image pixels, Ci image channels, p patch
 * size, Gh x Gw token grid (Ih = Gh p), N = Gh Gw tokens, P = p p Ci patch
 * features, C width, H heads, D = C / H head dim, F timestep frequencies,
 * E crop features, Bp = 1 or B (positions shared or per image), T diffusion steps.
 *
 * Conventions: forward functions borrow the parameters and consume their
 * array inputs (pass `x.ref` to keep x).
 *
 * Over 400 lines: the model read top to bottom (configuration, initialisation,
 * building blocks, the forward pass, its FLOPs) as nanoGPT's model.py is.
 *
 * Reference: Peebles & Xie, "Scalable Diffusion Models with Transformers"
 * (ICCV 2023), https://arxiv.org/abs/2212.09748 and facebookresearch/DiT
 * `models.py`; Ho et al., DDPM, https://arxiv.org/abs/2006.11239; Song et
 * al., DDIM, https://arxiv.org/abs/2010.02502; Hou, Liu et al., RPE-2D,
 * https://arxiv.org/abs/2503.18719; Podell et al., SDXL, https://arxiv.org/abs/2307.01952
 */
import { type DType, nn, numpy as np } from "@jax-js/jax";
import { attention } from "../attention/attention.js";
import { peg } from "../attention/peg.js";
import { isArray, type Positions } from "../attention/positions.js";
import type { RotaryTables } from "../attention/rotary.js";
import { axialRotaryTables } from "../attention/rpe2d.js";
import { constant } from "../core/constant.js";
import { renamedField } from "../core/renamed.js";
import { rowsAt } from "../core/rowsAt.js";
import { reject, shapeOf } from "../core/shapes.js";
import { fail, integer, positive } from "../core/validate.js";
import { axisPositions, bands } from "../pe/axialRope.js";
import { type Rng, rng } from "../pe/random.js";
import { rpe2dPositions } from "../pe/rpe2d.js";
import { type VisionBands, visionBands } from "../pe/visionScaling.js";
import { type BlockParts, checkParameterCount, modulate, sublayers } from "./block.js";
import { normal, uniform } from "./init.js";
import { normalize } from "./layerNorm.js";
import { type LinearParams, linear } from "./linear.js";

/** 2-D positional encoding of the DiT (see the file header). Temperature T of the bands: default 10000. */
export type DitPE =
  | {
      type: "rpe2d" /** Training range of row positions [0, maxHeight). */;
      maxHeight: number /** Training range of column positions. */;
      maxWidth: number;
      temperature?: number;
    }
  | {
      type: "rope2d-interpolate" /** Training token grid the positions are squeezed into. */;
      trainHeight: number;
      trainWidth: number;
      temperature?: number;
    }
  | { type: "rope2d-extrapolate"; temperature?: number }
  | {
      /** Integer positions, each axis's bands scaled beyond the training grid (FiT's VisionNTK or VisionYaRN, src/pe/visionScaling.ts). */
      type: "rope2d-ntk" | "rope2d-yarn" /** Training token grid (integers). */;
      trainHeight: number;
      trainWidth: number;
      temperature?: number;
    }
  | { type: "sincos2d"; temperature?: number };

/** A DiT as plain JSON (DiT-S/2 is width 384, depth 12, heads 6, patch 2, mlpRatio 4, frequencyDim 256). */
export interface DitConfig {
  /** Image channels Ci. */
  channels: number;
  /** Patch size p. */
  patch: number;
  /** Width C. */
  width: number;
  /** Number of blocks. */
  depth: number;
  /** Heads H; C must be a multiple of H. */
  heads: number;
  /** MLP hidden width = mlpRatio C (DiT: 4). */
  mlpRatio: number;
  /** Timestep frequency-embedding size F (DiT: 256). */
  frequencyDim: number;
  /** Class conditioning; `nullClass` adds the label `count` for classifier-free guidance. */
  classes: { count: number; nullClass: boolean } | null;
  /** Crop micro-conditioning: Fourier features per scalar (SDXL: 256), E = 6 dim. */
  crop: { dim: number } | null;
  /** Tagged `type`; its old name `kind` is still read for one release (deprecated). */
  pe: DitPE;
  /** PEG depthwise 3x3 convolution after the first block. */
  peg: boolean;
  /** Diffusion steps T (DiT: 1000). */
  diffusionSteps: number;
  /** LayerNorm eps (DiT: 1e-6). */
  eps: number;
  /**
   * Attention-entropy scaling at other token counts (default none): logits
   * multiplied by sqrt(ln N / ln trainTokens) at N tokens, which keeps the
   * attention entropy of the training size (Jin et al. 2023,
   * https://arxiv.org/abs/2306.08645). An inference-time option.
   */
  entropyScaling?: { trainTokens: number } | null;
}

/** Linear(in, C) -> SiLU -> Linear(C, C), DiT's `TimestepEmbedder.mlp`. */
export interface EmbedderParams {
  fc: LinearParams;
  proj: LinearParams;
}

/** Parameters of one adaLN-Zero block. */
export interface DitBlockParams {
  /** C -> 6C: shift1, scale1, gate1, shift2, scale2, gate2. Zero-initialised. */
  modulation: LinearParams;
  /** C -> 3C, columns [q | k | v], each head-major (H, D). */
  qkv: LinearParams;
  /** C -> C */
  proj: LinearParams;
  /** C -> mlpRatio C -> C, tanh GELU. */
  mlp: { fc: LinearParams; proj: LinearParams };
}

/** Parameters of the whole model: a pytree of jax-js arrays, for `jit` and `valueAndGrad`. */
export interface DitParams {
  /** P -> C (DiT's stride-p convolution). */
  patchEmbed: LinearParams;
  /** F -> C -> C */
  time: EmbedderParams;
  /** (classes (+1 null), C) */
  classEmbed?: { table: np.Array };
  /** E -> C -> C */
  crop?: EmbedderParams;
  blocks: DitBlockParams[];
  /** weight (C, 3, 3), bias (C). */
  peg?: { weight: np.Array; bias: np.Array };
  /** adaLN (C -> 2C: shift, scale) and C -> P, both zero-initialised. */
  final: { modulation: LinearParams; linear: LinearParams };
}

/** Row and column positions: JS numbers (Gh), or arrays (Gh) / (B, Gh) (and Gw for columns). */
export interface DitPositions {
  rows: Positions;
  cols: Positions;
}

/** A training batch: every field an array, so the loss is jit-able. */
export interface DitBatch {
  /** (B, Ih, Iw, Ci) clean images x_0 in [-1, 1]. */
  images: np.Array;
  /** (B, Ih, Iw, Ci) standard normal noise e. */
  noise: np.Array;
  /** (B) int32 timesteps in [0, T). */
  timesteps: np.Array;
  /** (B) int32 labels (the null class `classes.count` for dropped labels); with `config.classes` only. */
  labels?: np.Array;
  /** Positions (per image (B, Gh), (B, Gw), or shared); default the PE's grid. */
  positions?: { rows: np.Array; cols: np.Array };
  /** (B, E) crop features (`cropConditioning`); with `config.crop` only. */
  crop?: np.Array;
}

/** The tags of `DitPE`. */
export const DIT_PE_TYPES: readonly DitPE["type"][] = [
  "rpe2d",
  "rope2d-interpolate",
  "rope2d-extrapolate",
  "rope2d-ntk",
  "rope2d-yarn",
  "sincos2d",
];

/** DiT's timesteps are embedded with max_period 10000 (`TimestepEmbedder.timestep_embedding`). */
const MAX_PERIOD = 10000;
/** Axial RoPE and sincos temperature when the config gives none (timm, MAE). */
const TEMPERATURE = 10000;
/** Std of the timestep MLP and label table at init (DiT `initialize_weights`). */
const EMBED_STD = 0.02;

// ---------------------------------------------------------------- configuration

/** Throws `fn: ...` naming the first field of `dit` out of range; returns it with the PE tag under its current name. */
export function checkConfig(fn: string, dit: DitConfig): DitConfig {
  if (typeof dit !== "object" || dit === null) fail(fn, `config must be a DitConfig object, got ${typeof dit}`);
  const pe = renamedField(fn, "config.pe", dit.pe, "kind", "type");
  const config = pe === dit.pe ? dit : { ...dit, pe };
  integer(fn, "config.channels", config.channels, 1);
  integer(fn, "config.patch", config.patch, 1);
  const C = integer(fn, "config.width", config.width, 1);
  integer(fn, "config.depth", config.depth, 0);
  const H = integer(fn, "config.heads", config.heads, 1);
  if (C % H !== 0) fail(fn, `config.width (${C}) must be a multiple of config.heads (${H})`);
  integer(fn, "config.mlpRatio * config.width", config.mlpRatio * C, 1);
  const F = integer(fn, "config.frequencyDim", config.frequencyDim, 2);
  if (F % 2 !== 0) fail(fn, `config.frequencyDim must be even (cos and sin halves), got ${F}`);
  if (config.classes !== null) integer(fn, "config.classes.count", config.classes?.count, 1);
  if (config.crop !== null) {
    const d = integer(fn, "config.crop.dim", config.crop?.dim, 2);
    if (d % 2 !== 0) fail(fn, `config.crop.dim must be even, got ${d}`);
  }
  integer(fn, "config.diffusionSteps", config.diffusionSteps, 1);
  // a block: adaLN 6C^2, q k v and output 4C^2, the MLP 2 r C^2 (biases aside)
  checkParameterCount(fn, "config", config.depth * (10 + 2 * config.mlpRatio) * C * C + 4 * C * C + F * C);
  positive(fn, "config.eps", config.eps);
  positive(fn, "config.pe.temperature", config.pe?.temperature ?? TEMPERATURE);
  const type = config.pe?.type;
  switch (type) {
    case "rpe2d":
      integer(fn, "config.pe.maxHeight", config.pe.maxHeight, 1);
      integer(fn, "config.pe.maxWidth", config.pe.maxWidth, 1);
      break;
    case "rope2d-interpolate":
      positive(fn, "config.pe.trainHeight", config.pe.trainHeight);
      positive(fn, "config.pe.trainWidth", config.pe.trainWidth);
      break;
    case "rope2d-ntk":
    case "rope2d-yarn":
      integer(fn, "config.pe.trainHeight", config.pe.trainHeight, 1);
      integer(fn, "config.pe.trainWidth", config.pe.trainWidth, 1);
      if (C / H < 8)
        fail(fn, `${type} needs the head dim (width / heads = ${C / H}) >= 8: the NTK exponent d / (d - 2) on d = D / 2 per axis`);
      break;
    case "rope2d-extrapolate":
    case "sincos2d":
      break;
    default:
      fail(fn, `config.pe.type must be one of ${DIT_PE_TYPES.map((t) => JSON.stringify(t)).join(", ")}, got ${JSON.stringify(type)}`);
  }
  if (config.entropyScaling !== undefined && config.entropyScaling !== null)
    integer(fn, "config.entropyScaling.trainTokens", config.entropyScaling?.trainTokens, 2);
  if (type === "sincos2d" && C % 4 !== 0) fail(fn, `sincos2d needs config.width divisible by 4, got ${C}`);
  if (type !== "sincos2d" && (C / H) % 4 !== 0)
    fail(fn, `2-D RoPE needs the head dim (width / heads = ${C / H}) divisible by 4: two axes of rotated pairs`);
  return config;
}

// ---------------------------------------------------------------- initialisation

/** Xavier/Glorot uniform W ~ U(-a, a), a = sqrt(6 / (in + out)), zero bias (DiT's `_basic_init`). */
function xavier(r: Rng, inDim: number, outDim: number, dtype: DType): LinearParams {
  return { w: uniform(r, [inDim, outDim], Math.sqrt(6 / (inDim + outDim)), dtype), b: np.zeros([outDim], { dtype }) };
}

function zeroLinear(inDim: number, outDim: number, dtype: DType): LinearParams {
  return { w: np.zeros([inDim, outDim], { dtype }), b: np.zeros([outDim], { dtype }) };
}

/** N(0, 0.02^2) weights, zero biases (DiT's timestep MLP). */
function embedder(r: Rng, inDim: number, C: number, dtype: DType): EmbedderParams {
  return {
    fc: { w: normal(r, [inDim, C], EMBED_STD, dtype), b: np.zeros([C], { dtype }) },
    proj: { w: normal(r, [C, C], EMBED_STD, dtype), b: np.zeros([C], { dtype }) },
  };
}

/**
 * Seeded parameters, initialised as DiT's `initialize_weights`: Xavier-uniform
 * linears with zero biases, N(0, 0.02^2) label table and timestep (and crop)
 * MLPs, zero adaLN modulations and zero final layer (adaLN-Zero: every block
 * starts as the identity and the output as 0). PEG as torch's Conv2d default,
 * U(-1/3, 1/3) for fan-in 9.
 *
 * Reference: facebookresearch/DiT `models.py` `DiT.initialize_weights`.
 */
export function initDit(dit: DitConfig, seed: number, dtype: DType = np.float32): DitParams {
  const config = checkConfig("initDit", dit);
  const r = rng(seed);
  const { width: C, patch: p, channels: Ci } = config;
  const P = p * p * Ci;
  const hidden = config.mlpRatio * C;
  const params: DitParams = {
    patchEmbed: xavier(r, P, C, dtype),
    time: embedder(r, config.frequencyDim, C, dtype),
    blocks: [],
    final: { modulation: zeroLinear(C, 2 * C, dtype), linear: zeroLinear(C, P, dtype) },
  };
  if (config.classes)
    params.classEmbed = { table: normal(r, [config.classes.count + (config.classes.nullClass ? 1 : 0), C], EMBED_STD, dtype) };
  if (config.crop) params.crop = embedder(r, 6 * config.crop.dim, C, dtype);
  for (let i = 0; i < config.depth; i++) {
    params.blocks.push({
      modulation: zeroLinear(C, 6 * C, dtype),
      qkv: xavier(r, C, 3 * C, dtype),
      proj: xavier(r, C, C, dtype),
      mlp: { fc: xavier(r, C, hidden, dtype), proj: xavier(r, hidden, C, dtype) },
    });
  }
  if (config.peg) params.peg = { weight: uniform(r, [C, 3, 3], 1 / 3, dtype), bias: uniform(r, [C], 1 / 3, dtype) };
  return params;
}

// ---------------------------------------------------------------- building blocks

/** Linear -> SiLU -> Linear. Borrows p, consumes x. */
function embedMlp(p: EmbedderParams, x: np.Array): np.Array {
  return linear(p.proj, nn.silu(linear(p.fc, x))); // (B, C)
}

/**
 * Sinusoidal timestep features (B, F), DiT's `timestep_embedding`:
 * [cos(t w_0), ..., cos(t w_{F/2-1}), sin(t w_0), ...], w_k = 10000^(-k / (F/2)). Consumes t.
 */
function timestepFeatures(t: np.Array, F: number, dtype: DType): np.Array {
  const half = F / 2;
  const freqs = constant(
    Float64Array.from({ length: half }, (_, k) => Math.exp((-Math.log(MAX_PERIOD) * k) / half)),
    dtype,
  );
  const args = np.multiply(t.astype(dtype).reshape([-1, 1]), freqs.reshape([1, half])); // (B, F/2)
  return np.concatenate([np.cos(args.ref), np.sin(args)], -1); // (B, F)
}

/** (B, Ih, Iw, Ci) -> (B, N, P), patches in row-major order. Consumes x. */
function patchify(x: np.Array, p: number): np.Array {
  const [B, Ih, Iw, Ci] = x.shape;
  const [Gh, Gw] = [Ih / p, Iw / p];
  return x
    .reshape([B, Gh, p, Gw, p, Ci])
    .transpose([0, 1, 3, 2, 4, 5])
    .reshape([B, Gh * Gw, p * p * Ci]); // (B, N, P)
}

/** (B, N, P) -> (B, Ih, Iw, Ci), the inverse of `patchify`. Consumes x. */
function unpatchify(x: np.Array, Gh: number, Gw: number, p: number, Ci: number): np.Array {
  const B = x.shape[0];
  return x
    .reshape([B, Gh, Gw, p, p, Ci])
    .transpose([0, 1, 3, 2, 4, 5])
    .reshape([B, Gh * p, Gw * p, Ci]); // (B, Ih, Iw, Ci)
}

/**
 * Axial 2-D RoPE tables at per-axis positions, `axialRotaryTables` of
 * attention/rpe2d.ts with "lang" bands w_k = T^(-k/K), K = D / 4, "ij" order,
 * positions shared (1, Gh) or per image (Bp, Gh). Returns cos/sin (Bp, 1, N, D), to rotate q, k (B, H, N, D) with
 * `applyRotary(x, cos, sin, "interleaved")`. Consumes rows (Bp, Gh) and cols (Bp, Gw).
 * `scaled` replaces each axis's bands and multiplies its cos and sin
 * channels by its attention factor (VisionNTK / VisionYaRN, `visionBands`).
 *
 * Reference: timm `build_rotary_pos_embed`; Heo et al., https://arxiv.org/abs/2403.13298
 */
export function ropeTables2d(
  rows: np.Array,
  cols: np.Array,
  headDim: number,
  temperature = TEMPERATURE,
  scaled?: { rows: VisionBands; cols: VisionBands },
): RotaryTables {
  const omega = scaled ? { rows: scaled.rows.bands, cols: scaled.cols.bands } : bands(headDim / 4, { convention: "lang", temperature });
  const t = axialRotaryTables(rows, cols, omega); // (Bp, N, D)
  const [Bp, N] = t.cos.shape;
  const tables = { cos: t.cos.reshape([Bp, 1, N, headDim]), sin: t.sin.reshape([Bp, 1, N, headDim]) };
  const [fr, fc] = scaled ? [scaled.rows.attentionFactor, scaled.cols.attentionFactor] : [1, 1];
  if (fr === 1 && fc === 1) return tables;
  const factor = constant(
    Array.from({ length: headDim }, (_, c) => (c < headDim / 2 ? fr : fc)),
    tables.cos.dtype,
  ).reshape([1, 1, 1, headDim]); // rows' channels, then columns'
  return { cos: np.multiply(tables.cos, factor.ref), sin: np.multiply(tables.sin, factor) };
}

/**
 * DiT's fixed 2-D sincos embedding (MAE `get_2d_sincos_pos_embed`) at per-axis
 * positions: with K = C / 4, w_k = T^(-k/K), token (r, c) gets
 * [sin(t_c w) | cos(t_c w) | sin(t_r w) | cos(t_r w)] (MAE's meshgrid puts the
 * column coordinate first). Returns (Bp, N, C). Consumes rows and cols.
 */
function sincosTable(rows: np.Array, cols: np.Array, C: number, temperature: number): np.Array {
  const [Bp, Gh] = rows.shape;
  const Gw = cols.shape[1];
  const K = C / 4;
  const omega = constant(
    Float64Array.from({ length: K }, (_, k) => temperature ** (-k / K)),
    rows.dtype,
  ).reshape([1, 1, 1, K]);
  const rowArgs = np.broadcastTo(np.multiply(rows.reshape([Bp, Gh, 1, 1]), omega.ref), [Bp, Gh, Gw, K]); // (Bp, Gh, Gw, K)
  const colArgs = np.broadcastTo(np.multiply(cols.reshape([Bp, 1, Gw, 1]), omega), [Bp, Gh, Gw, K]); // (Bp, Gh, Gw, K)
  const table = np.concatenate([np.sin(colArgs.ref), np.cos(colArgs), np.sin(rowArgs.ref), np.cos(rowArgs)], -1); // (Bp, Gh, Gw, C)
  return table.reshape([Bp, Gh * Gw, C]); // (Bp, N, C)
}

/** The PE's positions of a Gh x Gw grid when none are given (see `DitPE`). */
function defaultPositions(pe: DitPE, Gh: number, Gw: number): { rows: Float64Array; cols: Float64Array } {
  const grid = (n: number) => Float64Array.from({ length: n }, (_, i) => i);
  switch (pe.type) {
    case "rpe2d":
      return rpe2dPositions({ height: Gh, width: Gw, maxHeight: pe.maxHeight, maxWidth: pe.maxWidth }, { training: false });
    case "rope2d-interpolate":
      // EVA / position interpolation: t = i / Gh * trainHeight
      return {
        rows: axisPositions(Gh, { convention: "lang" }, pe.trainHeight),
        cols: axisPositions(Gw, { convention: "lang" }, pe.trainWidth),
      };
    case "rope2d-extrapolate":
    case "rope2d-ntk":
    case "rope2d-yarn":
    case "sincos2d":
      return { rows: grid(Gh), cols: grid(Gw) };
    default:
      return pe satisfies never;
  }
}

/** Each axis's scaled bands of a "rope2d-ntk" or "rope2d-yarn" PE at a Gh x Gw grid, else undefined. */
function scaledBands(config: DitConfig, Gh: number, Gw: number): { rows: VisionBands; cols: VisionBands } | undefined {
  const pe = config.pe;
  if (pe.type !== "rope2d-ntk" && pe.type !== "rope2d-yarn") return undefined;
  const scaling = pe.type === "rope2d-ntk" ? "ntk" : "yarn";
  const common = { headDim: config.width / config.heads, temperature: pe.temperature ?? TEMPERATURE };
  return {
    rows: visionBands(scaling, { ...common, trainSize: pe.trainHeight, size: Gh }),
    cols: visionBands(scaling, { ...common, trainSize: pe.trainWidth, size: Gw }),
  };
}

/** sqrt(ln N / ln trainTokens) with `config.entropyScaling`, else 1. */
function entropyFactor(config: DitConfig, N: number): number {
  const s = config.entropyScaling;
  return s ? Math.sqrt(Math.log(N) / Math.log(s.trainTokens)) : 1;
}

/** Positions as (Bp, n) arrays of `dtype`; JS numbers and (n) arrays become (1, n). Consumes an array. */
function positionRows(p: Positions, n: number, dtype: DType): np.Array {
  if (isArray(p)) return (p.ndim === 1 ? p.reshape([1, n]) : p).astype(dtype); // (Bp, n)
  return constant(p, dtype).reshape([1, n]); // (1, n)
}

/** Why positions `p` do not fit an axis of n cells for a batch of B, or null. */
function positionProblem(field: string, p: Positions, n: number, B: number): string | null {
  if (isArray(p)) {
    const ok = (p.ndim === 1 && p.shape[0] === n) || (p.ndim === 2 && (p.shape[0] === 1 || p.shape[0] === B) && p.shape[1] === n);
    return ok ? null : `${field} must be (${n}) or (B, ${n}) with B = ${B}, got ${shapeOf(p)}`;
  }
  if (p?.length !== n) return `${field} must hold ${n} positions, got ${p?.length}`;
  for (let i = 0; i < n; i++) if (!Number.isFinite(p[i])) return `${field}[${i}] must be finite, got ${p[i]}`;
  return null;
}

// ---------------------------------------------------------------- the model

/**
 * One adaLN-Zero DiT block (see the file header): x (B, N, C), c (B, C) ->
 * (B, N, C). `rope` (cos/sin (Bp, 1, N, D)) rotates q and k when given;
 * `scale` multiplies the logits (default 1 / sqrt(D)).
 * Borrows p and rope, consumes x and c.
 *
 * Reference: facebookresearch/DiT `models.py` `DiTBlock` (Peebles & Xie, section 3.2, "adaLN-Zero block").
 */
export function ditBlock(
  p: DitBlockParams,
  x: np.Array,
  c: np.Array,
  config: DitConfig,
  rope: RotaryTables | null,
  scale = 1 / Math.sqrt(config.width / config.heads),
): np.Array {
  const parts: BlockParts = {
    heads: config.heads,
    mlp: { kind: "gelu", hidden: config.mlpRatio * config.width, approximate: true }, // DiT: GELU(approximate="tanh")
    preNorm: (_, h) => normalize(h, config.eps),
    attend: (q, k, v) => attention(q, k, v, { scale }),
  };
  return sublayers(p, x, parts, { rotary: rope ?? undefined, adaLN: { modulation: p.modulation, c } }); // (B, N, C)
}

/**
 * Noise prediction e_theta(x_t, t, c): noisy (B, Ih, Iw, Ci), t (B) (int or
 * float timesteps), labels (B) int32 (with `config.classes`, else null),
 * positions (`DitPositions`; default the PE's grid), crop (B, E) features
 * (with `config.crop`, else null) -> (B, Ih, Iw, Ci). Ih and Iw are any
 * multiples of the patch size. Borrows the parameters, consumes every array argument.
 */
export function ditForward(
  params: DitParams,
  dit: DitConfig,
  noisy: np.Array,
  t: np.Array,
  labels: np.Array | null = null,
  positions: DitPositions | null = null,
  crop: np.Array | null = null,
): np.Array {
  const fn = "ditForward";
  const owned = [noisy, t, labels ?? undefined, crop ?? undefined, ...[positions?.rows, positions?.cols].filter(isArray)];
  const abort = (message: string): never => reject(fn, owned, message);
  const guard = <R>(f: () => R): R => {
    try {
      return f();
    } catch (e) {
      for (const a of owned) a?.dispose();
      throw e;
    }
  };
  const config = guard(() => checkConfig(fn, dit));
  const { patch: p, channels: Ci, width: C } = config;
  if (noisy.ndim !== 4 || noisy.shape[3] !== Ci || noisy.shape[1] % p !== 0 || noisy.shape[2] % p !== 0) {
    abort(`noisy must be (B, Ih, Iw, ${Ci}) with Ih and Iw multiples of the patch size ${p}, got ${shapeOf(noisy)}`);
  }
  const [B, Ih, Iw] = noisy.shape;
  const dtype = params.patchEmbed.w.dtype;
  if (noisy.dtype !== dtype) abort(`noisy has dtype ${noisy.dtype}, the parameters ${dtype}`);
  if (t.ndim !== 1 || t.shape[0] !== B) abort(`t must be (B) = (${B}), got ${shapeOf(t)}`);
  if (config.classes && (labels?.ndim !== 1 || labels.shape[0] !== B))
    abort(`labels must be (B) = (${B}) int32 for a class-conditional model, got ${labels ? shapeOf(labels) : "null"}`);
  if (!config.classes && labels) abort(`labels ${shapeOf(labels)} given to a model without config.classes`);
  if (config.crop && (crop?.ndim !== 2 || crop.shape[0] !== B || crop.shape[1] !== 6 * config.crop.dim)) {
    abort(`crop must be (B, 6 * config.crop.dim) = (${B}, ${6 * config.crop.dim}), got ${crop ? shapeOf(crop) : "null"}`);
  }
  if (!config.crop && crop) abort(`crop ${shapeOf(crop)} given to a model without config.crop`);
  const [Gh, Gw] = [Ih / p, Iw / p];
  const pos = positions ?? guard(() => defaultPositions(config.pe, Gh, Gw));
  const problem = positionProblem("positions.rows", pos.rows, Gh, B) ?? positionProblem("positions.cols", pos.cols, Gw, B);
  if (problem) abort(problem);
  const temperature = config.pe.temperature ?? TEMPERATURE;
  const rows = positionRows(pos.rows, Gh, dtype); // (Bp, Gh)
  const cols = positionRows(pos.cols, Gw, dtype); // (Bp, Gw)

  // tokens
  let x = linear(params.patchEmbed, patchify(noisy, p)); // (B, N, C)
  let rope: RotaryTables | null = null;
  if (config.pe.type === "sincos2d")
    x = np.add(x, sincosTable(rows, cols, C, temperature)); // (B, N, C)
  else rope = ropeTables2d(rows, cols, C / config.heads, temperature, scaledBands(config, Gh, Gw)); // (Bp, 1, N, D)
  const logitScale = (1 / Math.sqrt(C / config.heads)) * entropyFactor(config, Gh * Gw);

  // conditioning
  let c = embedMlp(params.time, timestepFeatures(t, config.frequencyDim, dtype)); // (B, C)
  if (labels) c = np.add(c, rowsAt(params.classEmbed!.table.ref, labels)); // (B, C)
  if (crop) c = np.add(c, embedMlp(params.crop!, crop.astype(dtype))); // (B, C)

  // blocks
  params.blocks.forEach((b, i) => {
    x = ditBlock(b, x, c.ref, config, rope, logitScale); // (B, N, C)
    if (i === 0 && params.peg) x = peg(x, params.peg.weight.ref, params.peg.bias.ref, { height: Gh, width: Gw }); // (B, N, C)
  });
  if (rope) {
    rope.cos.dispose();
    rope.sin.dispose();
  }

  // final layer
  const mod = linear(params.final.modulation, nn.silu(c)); // (B, 2C)
  const shift = mod.ref.slice([], [0, C]).reshape([B, 1, C]); // (B, 1, C)
  const scale = mod.slice([], [C, 2 * C]).reshape([B, 1, C]); // (B, 1, C)
  const out = linear(params.final.linear, modulate(normalize(x, config.eps), shift, scale)); // (B, N, P)
  return unpatchify(out, Gh, Gw, p, Ci); // (B, Ih, Iw, Ci)
}

/**
 * Forward FLOPs of one image at a Gh x Gw token grid, counting a
 * multiply-add as 2 FLOPs (DiT's Table 1 "Gflops" count multiply-adds once:
 * half of this), matrix products only (norms, activations, softmax and RoPE
 * left out):
 *
 *   patch 2 N P C + time 2 (F C + C^2) + crop 2 (E C + C^2)
 *   + depth (2 C 6C + 2 N (3C^2 + C^2 + 2 r C^2) + 4 N^2 C) + PEG 18 N C + final 2 (C 2C + N C P)
 *
 * with r = mlpRatio.
 *
 * Reference: Peebles & Xie (2023), https://arxiv.org/abs/2212.09748, section 3.2 (Gflops as model complexity).
 */
export function ditFlops(dit: DitConfig, grid: { height: number; width: number }): number {
  const fn = "ditFlops";
  const config = checkConfig(fn, dit);
  const N = integer(fn, "grid.height", grid?.height, 1) * integer(fn, "grid.width", grid.width, 1);
  const { width: C, patch: p, channels: Ci, mlpRatio: r, frequencyDim: F } = config;
  const P = p * p * Ci;
  const block = 2 * C * 6 * C + 2 * N * (3 * C * C + C * C + 2 * r * C * C) + 4 * N * N * C;
  const crop = config.crop ? 2 * (6 * config.crop.dim * C + C * C) : 0;
  return 2 * N * P * C + 2 * (F * C + C * C) + crop + config.depth * block + (config.peg ? 18 * N * C : 0) + 2 * (2 * C * C + N * C * P);
}
