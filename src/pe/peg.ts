/**
 * Positional encoding generator (PEG) of conditional positional encodings:
 * a depthwise 3x3 convolution (zero padding 1, stride 1, with bias) over the
 * token grid, added back to the tokens:
 *
 *   out[n, c] = x[n, c] + b[c] + sum_{dy, dx in -1..1} w[c, dy+1, dx+1] x[(h+dy) W + (w+dx), c]
 *
 * for token n = h W + w. This float64 version is the reference the
 * differentiable PEG in attention/ is checked against.
 *
 * Reference: Chu et al., "Conditional Positional Encodings for Vision
 * Transformers" (ICLR 2023), https://arxiv.org/abs/2102.10882; timm Twins `PosConv`.
 */
import { fail, finiteArray, integer } from "../core/validate.js";

export interface PegGrid {
  height: number;
  width: number;
}

/**
 * x: (N, C) tokens, row-major over the grid; weight: (C, 3, 3); bias: (C).
 * Returns (N, C).
 */
export function peg(x: ArrayLike<number>, weight: ArrayLike<number>, bias: ArrayLike<number>, grid: PegGrid): Float64Array {
  const fn = "peg";
  const H = integer(fn, "grid.height", grid?.height, 1);
  const W = integer(fn, "grid.width", grid?.width, 1);
  const b = finiteArray(fn, "bias", bias);
  const C = b.length;
  if (C === 0) fail(fn, "bias must hold one value per channel, got none");
  if (weight.length !== C * 9) fail(fn, `weight must be (C, 3, 3) = ${C * 9} values for C = ${C} channels, got ${weight.length}`);
  if (x.length !== H * W * C) fail(fn, `x must be (H * W, C) = (${H * W}, ${C}) = ${H * W * C} values, got ${x.length}`);
  const w = finiteArray(fn, "weight", weight);
  const xs = finiteArray(fn, "x", x);
  const out = Float64Array.from(xs);
  for (let h = 0; h < H; h++) {
    for (let col = 0; col < W; col++) {
      const n = h * W + col;
      for (let c = 0; c < C; c++) {
        let acc = b[c];
        for (let dy = -1; dy <= 1; dy++) {
          const y = h + dy;
          if (y < 0 || y >= H) continue;
          for (let dx = -1; dx <= 1; dx++) {
            const xx = col + dx;
            if (xx < 0 || xx >= W) continue;
            acc += w[c * 9 + (dy + 1) * 3 + (dx + 1)] * xs[(y * W + xx) * C + c];
          }
        }
        out[n * C + c] += acc;
      }
    }
  }
  return out;
}
