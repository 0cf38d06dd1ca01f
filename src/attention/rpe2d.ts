/**
 * RPE-2D rotary tables on jax-js arrays: axial 2-D RoPE over an H x W token
 * grid whose rows and columns carry explicit positions (randomized at
 * training, the exact grid at inference; see `pe/rpe2d`). Token n = r W + c
 * at positions (t_r, t_c) gets, with K = dim / 4 bands omega_k of
 * `axialRope.bands` and each band repeated for an interleaved pair,
 *
 *   angles[n] = [t_r omega_0, t_r omega_0, ..., t_r omega_{K-1}, t_r omega_{K-1} | same for t_c]   ("ij")
 *
 * ("xy" puts the column block first). The angles are computed in the graph
 * from the position arrays, so a jitted training step takes new randomized
 * positions every call without retracing, and positions are differentiable.
 * Rotate q and k (..., H*W, D >= dim) with `applyRotary(x, cos, sin, "interleaved")`
 * (timm's `rot`); `pe/axialRope` with `positions` is the float64 reference.
 *
 * Reference: Hou, Liu et al., "Boosting Resolution Generalization of
 * Diffusion Transformers with Randomized Positional Encodings" (2025),
 * https://arxiv.org/abs/2503.18719; Heo et al., "Rotary Position Embedding
 * for Vision Transformer" (ECCV 2024), https://arxiv.org/abs/2403.13298;
 * timm layers/pos_embed_sincos.py `build_rotary_pos_embed`.
 */
import { type DType, numpy as np } from "@jax-js/jax";
import { constant } from "../core/constant.js";
import { fail, finiteArray, integer } from "../core/validate.js";
import { type AxialOptions, axisPositions, bands } from "../pe/axialRope.js";
import { isArray, type Positions, positionArray } from "./positions.js";
import type { RotaryTables } from "./rotary.js";

export interface Rpe2dTableOptions extends Pick<AxialOptions, "convention" | "temperature" | "maxRes" | "linearBands" | "gridIndexing"> {
  /** Token rows H. */
  height: number;
  /** Token columns W. */
  width: number;
  /** Row positions (H); default the convention's grid (lang: 0..H-1). */
  rows?: Positions;
  /** Column positions (W); default the convention's grid. */
  cols?: Positions;
  /** dtype of the tables (default float32; an array of positions brings its own). */
  dtype?: DType;
}

/** cos/sin tables (H*W, dim). Consumes `rows` and `cols` when they are arrays. */
export function rpe2dTables(dim: number, opts: Rpe2dTableOptions): RotaryTables {
  const fn = "rpe2dTables";
  let omega: Float64Array;
  try {
    omega = check(fn, dim, opts);
  } catch (e) {
    for (const p of [opts?.rows, opts?.cols]) if (isArray(p)) p.dispose();
    throw e;
  }
  const { height: H, width: W } = opts;
  const dtype = [opts.rows, opts.cols].find(isArray)?.dtype ?? opts.dtype ?? np.float32;
  const rows = positionArray(fn, "opts.rows", opts.rows ?? axisPositions(H, opts), H, dtype); // (H)
  const cols = positionArray(fn, "opts.cols", opts.cols ?? axisPositions(W, opts), W, dtype); // (W)
  const t = axialRotaryTables(rows.reshape([1, H]), cols.reshape([1, W]), omega, opts.gridIndexing ?? "ij"); // (1, H*W, dim)
  return { cos: t.cos.reshape([H * W, dim]), sin: t.sin.reshape([H * W, dim]) };
}

/**
 * The axial tables at per-image positions: rows (Bp, H) and cols (Bp, W)
 * (either Bp may be 1), bands omega (K) -> cos/sin (Bp, H*W, 4K), the angles
 * of the file header. `omega` may give each axis its own K bands (a scaled
 * RoPE, src/pe/visionScaling.ts). Consumes rows and cols. Used by
 * `rpe2dTables` and by the DiT, whose training positions are drawn per image.
 */
export function axialRotaryTables(
  rows: np.Array,
  cols: np.Array,
  omega: Float64Array | { rows: Float64Array; cols: Float64Array },
  gridIndexing: "ij" | "xy" = "ij",
): RotaryTables {
  const [Br, H] = rows.shape;
  const [Bc, W] = cols.shape;
  const Bp = Math.max(Br, Bc);
  const [rowOmega, colOmega] = omega instanceof Float64Array ? [omega, omega] : [omega.rows, omega.cols];
  const K = rowOmega.length;
  if (colOmega.length !== K) {
    rows.dispose();
    cols.dispose();
    fail("axialRotaryTables", `omega.rows and omega.cols must hold as many bands, got ${K} and ${colOmega.length}`);
  }
  const pairs = (w: Float64Array) =>
    constant(
      Array.from({ length: 2 * K }, (_, c) => w[c >> 1]),
      rows.dtype,
    ).reshape([1, 1, 1, 2 * K]); // band of each channel
  const rowAngles = np.broadcastTo(np.multiply(rows.reshape([Br, H, 1, 1]), pairs(rowOmega)), [Bp, H, W, 2 * K]); // (Bp, H, W, 2K)
  const colAngles = np.broadcastTo(np.multiply(cols.reshape([Bc, 1, W, 1]), pairs(colOmega)), [Bp, H, W, 2 * K]); // (Bp, H, W, 2K)
  const blocks = gridIndexing === "ij" ? [rowAngles, colAngles] : [colAngles, rowAngles];
  const angles = np.concatenate(blocks, -1).reshape([Bp, H * W, 4 * K]); // (Bp, H*W, 4K)
  return { cos: np.cos(angles.ref), sin: np.sin(angles) };
}

/** Validates everything before any array is made; returns the K bands. */
function check(fn: string, dim: number, opts: Rpe2dTableOptions): Float64Array {
  const H = integer(fn, "opts.height", opts?.height, 1);
  const W = integer(fn, "opts.width", opts.width, 1);
  integer(fn, "dim", dim, 4);
  if (dim % 4 !== 0) fail(fn, `dim (${dim}) must be divisible by 4: two axes of interleaved pairs`);
  const indexing = opts.gridIndexing ?? "ij";
  if (indexing !== "ij" && indexing !== "xy") fail(fn, `opts.gridIndexing must be "ij" or "xy", got ${JSON.stringify(indexing)}`);
  for (const [field, p, n] of [
    ["opts.rows", opts.rows, H],
    ["opts.cols", opts.cols, W],
  ] as const) {
    if (p === undefined) continue;
    if (isArray(p)) {
      if (p.ndim !== 1 || p.shape[0] !== n) fail(fn, `${field} must be a 1-D array of ${n} positions, got shape (${p.shape.join(", ")})`);
    } else {
      if (p.length !== n) fail(fn, `${field} must hold ${n} positions, got ${p.length}`);
      finiteArray(fn, field, p);
    }
  }
  return bands(dim / 4, opts);
}
