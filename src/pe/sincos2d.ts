/**
 * Fixed 2-D sine-cosine position embeddings for an H x W grid (MAE, timm).
 * With K = dim / 4 bands omega_k = T^(-k/K), token (y, x) gets
 *
 *   [sin(y omega) | sin(x omega) | cos(y omega) | cos(x omega)]      (default)
 *   [sin(y omega) | cos(y omega) | sin(x omega) | cos(x omega)]      (interleaveSinCos)
 *
 * tokens in row-major order. `reverseCoord` swaps the roles of the axes (x
 * first) and enumerates tokens column-major, as timm does.
 *
 * Reference: timm `build_sincos2d_pos_embed` (layers/pos_embed_sincos.py,
 * https://github.com/huggingface/pytorch-image-models); He et al., MAE,
 * https://arxiv.org/abs/2111.06377
 */
import { fail, integer, positive } from "../core/validate.js";

export interface Sincos2dOptions {
  /** Frequency temperature T (default 10000). */
  temperature?: number;
  /** timm's reverse_coord (default false). */
  reverseCoord?: boolean;
  /** timm's interleave_sin_cos: per-axis [sin | cos] blocks (default false). */
  interleaveSinCos?: boolean;
}

/** The (H * W, dim) table. */
export function sincos2d(height: number, width: number, dim: number, options: Sincos2dOptions = {}): Float64Array {
  const fn = "sincos2d";
  integer(fn, "height", height, 1);
  integer(fn, "width", width, 1);
  integer(fn, "dim", dim, 4);
  if (dim % 4 !== 0) fail(fn, `dim must be divisible by 4, got ${dim}`);
  const T = positive(fn, "options.temperature", options.temperature ?? 10000);
  const K = dim / 4;
  const omega = Float64Array.from({ length: K }, (_, k) => 1 / T ** (k / K));
  const [s0, s1] = options.reverseCoord ? [width, height] : [height, width];
  const out = new Float64Array(height * width * dim);
  for (let i0 = 0; i0 < s0; i0++) {
    for (let i1 = 0; i1 < s1; i1++) {
      const row = (i0 * s1 + i1) * dim;
      for (let k = 0; k < K; k++) {
        const a0 = i0 * omega[k];
        const a1 = i1 * omega[k];
        // blocks: [sin a0, sin a1, cos a0, cos a1] or [sin a0, cos a0, sin a1, cos a1]
        const blocks = options.interleaveSinCos
          ? [Math.sin(a0), Math.cos(a0), Math.sin(a1), Math.cos(a1)]
          : [Math.sin(a0), Math.sin(a1), Math.cos(a0), Math.cos(a1)];
        for (let b = 0; b < 4; b++) out[row + b * K + k] = blocks[b];
      }
    }
  }
  return out;
}
