/**
 * Absolute positional encodings, added to the token embeddings before the
 * first layer:
 *
 * - sinusoidal: x + scale * PE(p), PE from `pe/sinusoidal` (interleaved or
 *   concatenated), computed in the graph from the positions; `scale` may be a
 *   learnable scalar (x-transformers' ScaledSinusoidalEmbedding, init dim^-1/2);
 * - learned: x + scale * E[p] with E a (maxPositions, C) table.
 *
 * Positions default to 0..L-1 and may be given (randomized positions at
 * training time, an offset when decoding).
 *
 * Reference: Vaswani et al. (2017) section 3.5; x-transformers
 * AbsolutePositionalEmbedding and ScaledSinusoidalEmbedding.
 */
import { numpy as np } from "@jax-js/jax";
import { constant } from "../core/constant.js";
import { rowsAt } from "../core/rowsAt.js";
import { reject } from "../core/shapes.js";
import type { SinusoidalLayout } from "../pe/sinusoidal.js";
import { inverseFrequencies } from "../pe/sinusoidal.js";
import { isArray, type Positions, positionArray } from "./positions.js";

export type AbsolutePE =
  | { type: "absolute"; kind: "sinusoidal"; layout: SinusoidalLayout; base?: number; scale?: number | np.Array }
  | { type: "absolute"; kind: "learned"; table: np.Array; scale?: number | np.Array };

/** x (B, L, C) plus the encoding of its positions. Consumes x, the positions and the spec's arrays. */
export function addAbsolute(x: np.Array, pe: AbsolutePE, positions?: Positions): np.Array {
  const fn = "addAbsolute";
  const owned = [x, pe.kind === "learned" ? pe.table : undefined, isArray(pe.scale) ? pe.scale : undefined];
  const abort = (message: string): never => reject(fn, [...owned, isArray(positions) ? positions : undefined], message);
  if (x.ndim !== 3) abort(`x must be (B, L, C), got (${x.shape.join(", ")})`);
  const [, L, C] = x.shape;
  let table: np.Array;
  if (pe.kind === "sinusoidal") {
    if (C % 2 !== 0) abort(`sinusoidal encodings need an even width C, got ${C}`);
    const pos = positionArray(fn, "positions", positions, L, x.dtype).reshape([L, 1]);
    const angles = np.multiply(pos, constant(inverseFrequencies(C, pe.base ?? 10000), x.dtype).reshape([1, C / 2]));
    const sin = np.sin(angles.ref);
    const cos = np.cos(angles);
    table = pe.layout === "concatenated" ? np.concatenate([sin, cos], 1) : np.stack([sin, cos], -1).reshape([L, C]);
  } else {
    const [rows, width] = pe.table.shape;
    if (pe.table.ndim !== 2 || width !== C) abort(`table must be (maxPositions, C) with C = ${C}, got (${pe.table.shape.join(", ")})`);
    if (!isArray(positions)) {
      const last = positions === undefined ? L - 1 : Math.max(...Array.from(positions));
      if (last >= rows) abort(`position ${last} is past the learned table of ${rows} positions`);
    }
    const idx = np.round(positionArray(fn, "positions", positions, L, np.float32)).astype(np.int32);
    table = rowsAt(pe.table, idx); // (L, C)
  }
  const scaled = pe.scale === undefined ? table : np.multiply(table, pe.scale);
  return np.add(x, scaled.reshape([1, L, C]));
}
