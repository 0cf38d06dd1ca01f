/**
 * Axial N-D rotary embeddings for grids (2-D for images): each axis gets its
 * own rotary frequencies and its own share of the channels, so a token at
 * grid coordinates (t_0, t_1, ...) is rotated by t_a * omega_k in the channels
 * of axis a. Matches timm's `build_rotary_pos_embed` / `RotaryEmbeddingCat`
 * for 2-D grids:
 *
 * - K = dim / (2 * ndim) bands per axis;
 * - "lang" convention (timm in_pixels=False): omega_k = T^(-k/K), positions
 *   t = index + gridOffset;
 * - "pixel" convention (timm in_pixels=True): omega_k = pi * 2^(linspace(0, log2(maxRes) - 1, K))
 *   (or pi * linspace(1, maxRes/2, K) with linearBands), positions t = linspace(-1, 1, size);
 * - with a reference shape, t <- t / size * refSize on each axis (EVA's
 *   interpolation: a larger grid spans the positions of the pretraining grid);
 * - or explicit per-axis positions (`positions`, e.g. RPE-2D's randomized
 *   rows and columns), used as given in place of the grid positions;
 * - per token, channels [axis 0 bands | axis 1 bands | ...], each band value
 *   repeated twice for an interleaved pair ("ij" indexing; "xy" puts the last
 *   axis first). Tokens are in row-major order over the shape.
 *
 * Apply with pairing "interleaved" (timm's `rot`).
 *
 * Reference: timm layers/pos_embed_sincos.py
 * (https://github.com/huggingface/pytorch-image-models); Heo et al., "Rotary
 * Position Embedding for Vision Transformer" (ECCV 2024), https://arxiv.org/abs/2403.13298
 */
import { fail, finite, finiteArray, integer, positive } from "../core/validate.js";

export type AxialConvention = "lang" | "pixel";

export interface AxialOptions {
  /** "lang": inverse-frequency bands on integer positions; "pixel": pi-scaled bands on [-1, 1]. */
  convention: AxialConvention;
  /** "lang" temperature T (default 10000). */
  temperature?: number;
  /** "pixel" maximum resolution (default 224). */
  maxRes?: number;
  /** "pixel": linearly instead of log-spaced bands (default false). */
  linearBands?: boolean;
  /** Reference (pretraining) grid shape for position interpolation. */
  refShape?: readonly number[];
  /** "lang": added to integer positions (default 0). */
  gridOffset?: number;
  /** "ij" (default): channels of axis 0 first; "xy": reversed axis order in the channels. */
  gridIndexing?: "ij" | "xy";
  /**
   * Explicit positions t, one list per axis (length shape[a]), instead of the
   * convention's grid positions; excludes refShape and gridOffset.
   */
  positions?: readonly ArrayLike<number>[];
}

export interface AxialTables {
  /** (N, dim), N = prod(shape), row-major tokens. */
  sin: Float64Array;
  cos: Float64Array;
  tokens: number;
  dim: number;
}

/** The K frequency bands of one axis. */
export function bands(numBands: number, options: AxialOptions): Float64Array {
  const fn = "axialRope.bands";
  integer(fn, "numBands", numBands, 1);
  if (options?.convention === "lang") {
    const T = positive(fn, "options.temperature", options.temperature ?? 10000);
    return Float64Array.from({ length: numBands }, (_, k) => 1 / T ** (k / numBands));
  }
  if (options?.convention === "pixel") {
    const maxRes = positive(fn, "options.maxRes", options.maxRes ?? 224);
    if (options.linearBands) return linspace(1, maxRes / 2, numBands).map((v) => v * Math.PI);
    return linspace(0, Math.log2(maxRes) - 1, numBands).map((v) => 2 ** v * Math.PI);
  }
  return fail(fn, `options.convention must be "lang" or "pixel", got ${JSON.stringify(options?.convention)}`);
}

/** Positions of one axis of `size` cells. */
export function axisPositions(size: number, options: AxialOptions, refSize?: number): Float64Array {
  const fn = "axialRope.axisPositions";
  integer(fn, "size", size, 1);
  const offset = finite(fn, "options.gridOffset", options.gridOffset ?? 0);
  const t = options.convention === "pixel" ? linspace(-1, 1, size) : Float64Array.from({ length: size }, (_, i) => i + offset);
  return refSize === undefined ? t : t.map((v) => (v / size) * refSize);
}

/** sin/cos tables (N, dim) for a grid of the given shape. */
export function axialRope(shape: readonly number[], dim: number, options: AxialOptions): AxialTables {
  const fn = "axialRope";
  if (!Array.isArray(shape) || shape.length === 0) fail(fn, `shape must be a non-empty list of sizes, got ${JSON.stringify(shape)}`);
  shape.forEach((s, a) => integer(fn, `shape[${a}]`, s, 1));
  const ndim = shape.length;
  integer(fn, "dim", dim, 2 * ndim);
  if (dim % (2 * ndim) !== 0) fail(fn, `dim (${dim}) must be divisible by 2 * ndim = ${2 * ndim} for shape ${JSON.stringify(shape)}`);
  const ref = options.refShape;
  if (ref !== undefined) {
    if (ref.length !== ndim)
      fail(fn, `options.refShape ${JSON.stringify(ref)} must have ${ndim} sizes like shape ${JSON.stringify(shape)}`);
    ref.forEach((s, a) => positive(fn, `options.refShape[${a}]`, s));
  }
  const indexing = options.gridIndexing ?? "ij";
  if (indexing !== "ij" && indexing !== "xy") fail(fn, `options.gridIndexing must be "ij" or "xy", got ${JSON.stringify(indexing)}`);
  const K = dim / (2 * ndim);
  const omega = bands(K, options);
  const pos =
    options.positions === undefined ? shape.map((s, a) => axisPositions(s, options, ref?.[a])) : explicitPositions(fn, shape, options);
  // Channel block b holds axis order[b].
  const order = shape.map((_, a) => (indexing === "ij" ? a : ndim - 1 - a));
  if (indexing === "xy" && ndim !== 2) fail(fn, `options.gridIndexing "xy" needs a 2-D shape, got ${JSON.stringify(shape)}`);
  const tokens = shape.reduce((a, b) => a * b, 1);
  const sin = new Float64Array(tokens * dim);
  const cos = new Float64Array(tokens * dim);
  const coord = new Array<number>(ndim).fill(0);
  for (let n = 0; n < tokens; n++) {
    let rest = n;
    for (let a = ndim - 1; a >= 0; a--) {
      coord[a] = rest % shape[a];
      rest = Math.floor(rest / shape[a]);
    }
    for (let b = 0; b < ndim; b++) {
      const axis = order[b];
      const t = pos[axis][coord[axis]];
      for (let k = 0; k < K; k++) {
        const angle = t * omega[k];
        const c = n * dim + b * 2 * K + 2 * k;
        sin[c] = sin[c + 1] = Math.sin(angle);
        cos[c] = cos[c + 1] = Math.cos(angle);
      }
    }
  }
  return { sin, cos, tokens, dim };
}

function explicitPositions(fn: string, shape: readonly number[], options: AxialOptions): Float64Array[] {
  const p = options.positions!;
  if (!Array.isArray(p) || p.length !== shape.length)
    fail(fn, `options.positions must hold one list per axis (${shape.length}), got ${Array.isArray(p) ? p.length : typeof p}`);
  if (options.refShape !== undefined || options.gridOffset !== undefined)
    fail(fn, "options.positions replaces the grid positions: leave options.refShape and options.gridOffset unset");
  return shape.map((s, a) => {
    if (p[a]?.length !== s) fail(fn, `options.positions[${a}] must hold shape[${a}] = ${s} positions, got ${p[a]?.length}`);
    return finiteArray(fn, `options.positions[${a}]`, p[a]);
  });
}

function linspace(start: number, end: number, steps: number): Float64Array {
  if (steps === 1) return Float64Array.of(start);
  return Float64Array.from({ length: steps }, (_, i) => start + ((end - start) * i) / (steps - 1));
}
