/**
 * Bilinear resampling of row-major grids, exactly PyTorch's
 * `F.interpolate(x, size, mode="bilinear", align_corners=False, antialias=False)`:
 * output index o on an axis of `in` cells resized to `out` reads
 *
 *   s  = max((o + 0.5) in / out - 0.5, 0),   i0 = floor(s),   i1 = min(i0 + 1, in - 1),   lambda = s - i0
 *   y[o] = (1 - lambda) x[i0] + lambda x[i1]
 *
 * separably on rows and columns. Used to resize digit images and to resample
 * a learned position table to another token grid (timm `resample_abs_pos_embed`
 * with interpolation "bilinear"; timm also passes antialias=True, which only
 * changes downsampling).
 *
 * Reference: PyTorch aten/src/ATen/native/UpSample.h
 * `area_pixel_compute_source_index`, UpSampleBilinear2d.cpp
 * (https://github.com/pytorch/pytorch); timm layers/pos_embed.py
 * `resample_abs_pos_embed` (https://github.com/huggingface/pytorch-image-models)
 */
import { fail, integer } from "../core/validate.js";

/** Per output index: the two source indices and the weight of the second. */
export interface BilinearTaps {
  i0: Int32Array;
  i1: Int32Array;
  lambda: Float64Array;
}

/** The taps of one axis resized from `inSize` to `outSize` cells. */
export function bilinearTaps(inSize: number, outSize: number): BilinearTaps {
  const fn = "bilinearTaps";
  integer(fn, "inSize", inSize, 1);
  integer(fn, "outSize", outSize, 1);
  const i0 = new Int32Array(outSize);
  const i1 = new Int32Array(outSize);
  const lambda = new Float64Array(outSize);
  const scale = inSize / outSize;
  for (let o = 0; o < outSize; o++) {
    const s = Math.max((o + 0.5) * scale - 0.5, 0);
    i0[o] = Math.floor(s);
    i1[o] = Math.min(i0[o] + 1, inSize - 1);
    lambda[o] = s - i0[o];
  }
  return { i0, i1, lambda };
}

/**
 * The (outH * outW, inH * inW) matrix M of the resize, so that y = M x for
 * grids flattened row-major (x (inH * inW, C) -> y (outH * outW, C)).
 */
export function bilinearMatrix(inH: number, inW: number, outH: number, outW: number): Float64Array {
  const rows = bilinearTaps(inH, outH);
  const cols = bilinearTaps(inW, outW);
  const m = new Float64Array(outH * outW * inH * inW);
  for (let y = 0; y < outH; y++) {
    const wy = [
      [rows.i0[y], 1 - rows.lambda[y]],
      [rows.i1[y], rows.lambda[y]],
    ];
    for (let x = 0; x < outW; x++) {
      const wx = [
        [cols.i0[x], 1 - cols.lambda[x]],
        [cols.i1[x], cols.lambda[x]],
      ];
      const row = (y * outW + x) * inH * inW;
      for (const [iy, ay] of wy) for (const [ix, ax] of wx) m[row + iy * inW + ix] += ay * ax;
    }
  }
  return m;
}

/** Resizes one (inH, inW, C) row-major image to (outH, outW, C). */
export function resizeBilinear(x: ArrayLike<number>, inH: number, inW: number, channels: number, outH: number, outW: number): Float64Array {
  const fn = "resizeBilinear";
  integer(fn, "channels", channels, 1);
  if (x.length !== inH * inW * channels)
    fail(fn, `x must hold (inH, inW, C) = (${inH}, ${inW}, ${channels}) = ${inH * inW * channels} values, got ${x.length}`);
  const rows = bilinearTaps(inH, outH);
  const cols = bilinearTaps(inW, outW);
  const C = channels;
  const y = new Float64Array(outH * outW * C);
  for (let r = 0; r < outH; r++) {
    const [a0, a1, ly] = [rows.i0[r] * inW, rows.i1[r] * inW, rows.lambda[r]];
    for (let c = 0; c < outW; c++) {
      const [b0, b1, lx] = [cols.i0[c], cols.i1[c], cols.lambda[c]];
      for (let k = 0; k < C; k++) {
        const top = (1 - lx) * x[(a0 + b0) * C + k] + lx * x[(a0 + b1) * C + k];
        const bottom = (1 - lx) * x[(a1 + b0) * C + k] + lx * x[(a1 + b1) * C + k];
        y[(r * outW + c) * C + k] = (1 - ly) * top + ly * bottom;
      }
    }
  }
  return y;
}
