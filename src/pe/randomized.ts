/**
 * Randomized positional encodings: at training time a sequence of length L
 * takes the sorted positions of L distinct integers drawn uniformly from
 * [0, maxLength), so that the model sees position values up to maxLength
 * while training on short sequences; at inference the exact grid 0..L-1 is
 * used. The 2-D form (RPE-2D) draws rows and columns independently per axis.
 *
 * Reference: Ruoss et al., "Randomized Positional Encodings Boost Length
 * Generalization of Transformers" (ACL 2023), https://arxiv.org/abs/2305.16843
 */

import { fail, integer } from "../core/validate.js";
import { type Rng, rng } from "./random.js";

/** `length` sorted distinct positions from [0, maxLength), seeded. */
export function positions1d(length: number, maxLength: number, seed: number): Float64Array {
  const fn = "randomized.positions1d";
  integer(fn, "length", length, 0);
  integer(fn, "maxLength", maxLength, 1);
  if (length > maxLength) fail(fn, `length (${length}) must be <= maxLength (${maxLength})`);
  return sortedSample(rng(integer(fn, "seed", seed, 0)), length, maxLength);
}

export interface Positions2d {
  /** Sorted row positions, one per grid row (length `height`). */
  rows: Float64Array;
  /** Sorted column positions, one per grid column (length `width`). */
  cols: Float64Array;
}

/**
 * Per-axis randomized positions for an height x width grid: rows from
 * [0, maxHeight), columns from [0, maxWidth), each sorted, one seed for both.
 * Token (r, c) has position (rows[r], cols[c]).
 */
export function positions2d(grid: { height: number; width: number; maxHeight: number; maxWidth: number }, seed: number): Positions2d {
  const fn = "randomized.positions2d";
  const { height, width, maxHeight, maxWidth } = grid;
  integer(fn, "grid.height", height, 1);
  integer(fn, "grid.width", width, 1);
  integer(fn, "grid.maxHeight", maxHeight, 1);
  integer(fn, "grid.maxWidth", maxWidth, 1);
  if (height > maxHeight) fail(fn, `grid.height (${height}) must be <= grid.maxHeight (${maxHeight})`);
  if (width > maxWidth) fail(fn, `grid.width (${width}) must be <= grid.maxWidth (${maxWidth})`);
  const r = rng(integer(fn, "seed", seed, 0));
  return { rows: sortedSample(r, height, maxHeight), cols: sortedSample(r, width, maxWidth) };
}

/** Floyd's algorithm: k distinct uniform integers from [0, n), then sorted. */
function sortedSample(r: Rng, k: number, n: number): Float64Array {
  const chosen = new Set<number>();
  for (let j = n - k; j < n; j++) {
    const t = r.below(j + 1);
    chosen.add(chosen.has(t) ? j : t);
  }
  return Float64Array.from(chosen).sort();
}
