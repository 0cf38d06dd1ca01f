/**
 * Sinusoidal absolute position encodings (Vaswani et al. 2017).
 *
 *   PE[p, 2i]   = sin(p * base^(-2i/d))
 *   PE[p, 2i+1] = cos(p * base^(-2i/d))          (layout "interleaved")
 *
 * or all sines first, then all cosines (layout "concatenated", as in
 * x-transformers' ScaledSinusoidalEmbedding, whose learnable scale starts at
 * d^-1/2: see `scaledInitScale`).
 *
 * Reference: https://arxiv.org/abs/1706.03762 section 3.5;
 * x-transformers ScaledSinusoidalEmbedding (https://github.com/lucidrains/x-transformers).
 */
import { evenDim, fail, finite, positionsOf, positive } from "../core/validate.js";

export type SinusoidalLayout = "interleaved" | "concatenated";

export interface SinusoidalOptions {
  /** Where the cosines go: interleaved with the sines, or after all of them. */
  layout: SinusoidalLayout;
  /** Frequency base (default 10000). */
  base?: number;
  /** Multiplier on the whole table (default 1). */
  scale?: number;
}

/** Inverse frequencies base^(-2i/dim), i = 0..dim/2-1. */
export function inverseFrequencies(dim: number, base = 10000): Float64Array {
  evenDim("sinusoidal.inverseFrequencies", "dim", dim);
  positive("sinusoidal.inverseFrequencies", "base", base);
  const half = dim / 2;
  return Float64Array.from({ length: half }, (_, i) => base ** (-(2 * i) / dim));
}

/**
 * The (L, dim) table, row-major, for positions given as a count L (0..L-1)
 * or as explicit (possibly fractional) values.
 */
export function sinusoidal(positions: number | ArrayLike<number>, dim: number, options: SinusoidalOptions): Float64Array {
  const fn = "sinusoidal";
  const pos = positionsOf(fn, positions);
  evenDim(fn, "dim", dim);
  const layout = options?.layout;
  if (layout !== "interleaved" && layout !== "concatenated") {
    fail(fn, `options.layout must be "interleaved" or "concatenated", got ${JSON.stringify(layout)}`);
  }
  const scale = finite(fn, "options.scale", options.scale ?? 1);
  const inv = inverseFrequencies(dim, positive(fn, "options.base", options.base ?? 10000));
  const half = dim / 2;
  const out = new Float64Array(pos.length * dim);
  for (let p = 0; p < pos.length; p++) {
    const row = p * dim;
    for (let i = 0; i < half; i++) {
      const angle = pos[p] * inv[i];
      const s = scale * Math.sin(angle);
      const c = scale * Math.cos(angle);
      if (layout === "interleaved") {
        out[row + 2 * i] = s;
        out[row + 2 * i + 1] = c;
      } else {
        out[row + i] = s;
        out[row + half + i] = c;
      }
    }
  }
  return out;
}

/** Initial value of the learnable scale of scaled sinusoidal embeddings: dim^-1/2. */
export function scaledInitScale(dim: number): number {
  evenDim("sinusoidal.scaledInitScale", "dim", dim);
  return 1 / Math.sqrt(dim);
}
