/**
 * Initialisers for learned position tables (absolute embeddings, relative
 * bias tables), seeded so that a run is reproducible.
 *
 * - `normal`: N(0, std^2), as torch.nn.Embedding (std 1) or T5's relative bias
 *   (std = factor * d_model^-1/2).
 * - `truncatedNormal`: N(0, std^2) conditioned on [lower, upper], as timm's
 *   `trunc_normal_(std=.02)` for ViT position embeddings (bounds are absolute,
 *   default -2..2 as in timm).
 *
 * Reference: https://pytorch.org/docs/stable/nn.init.html#torch.nn.init.trunc_normal_
 */

import { fail, finite, integer, positive } from "../core/validate.js";
import { rng } from "./random.js";

export interface NormalInit {
  std: number;
  seed: number;
  mean?: number;
}

export interface TruncatedNormalInit extends NormalInit {
  /** Absolute lower bound (default -2). */
  lower?: number;
  /** Absolute upper bound (default 2). */
  upper?: number;
}

/** `size` samples of N(mean, std^2). */
export function normal(size: number, init: NormalInit): Float64Array {
  const fn = "learned.normal";
  integer(fn, "size", size, 0);
  const std = positive(fn, "init.std", init.std);
  const mean = finite(fn, "init.mean", init.mean ?? 0);
  const r = rng(integer(fn, "init.seed", init.seed, 0));
  return Float64Array.from({ length: size }, () => mean + std * r.normal());
}

/** `size` samples of N(mean, std^2) restricted to [lower, upper] (rejection sampling). */
export function truncatedNormal(size: number, init: TruncatedNormalInit): Float64Array {
  const fn = "learned.truncatedNormal";
  integer(fn, "size", size, 0);
  const std = positive(fn, "init.std", init.std);
  const mean = finite(fn, "init.mean", init.mean ?? 0);
  const lower = finite(fn, "init.lower", init.lower ?? -2);
  const upper = finite(fn, "init.upper", init.upper ?? 2);
  if (!(lower < upper)) fail(fn, `init.lower must be < init.upper, got ${lower} and ${upper}`);
  // Acceptance probability must not be vanishing, or rejection would spin.
  const zLo = (lower - mean) / std;
  const zHi = (upper - mean) / std;
  if (zHi < -6 || zLo > 6) fail(fn, `[init.lower, init.upper] = [${lower}, ${upper}] lies more than 6 std from the mean ${mean}`);
  const r = rng(integer(fn, "init.seed", init.seed, 0));
  const out = new Float64Array(size);
  for (let i = 0; i < size; i++) {
    let v: number;
    do v = mean + std * r.normal();
    while (v < lower || v > upper);
    out[i] = v;
  }
  return out;
}
