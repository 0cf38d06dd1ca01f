/**
 * Nearest-neighbour upsampling of channel-last grids by an integer factor f:
 *
 *   y[b, i, j, c] = x[b, floor(i / f), floor(j / f), c]
 *
 * PyTorch's `nn.Upsample(scale_factor=f)` / `F.interpolate(mode="nearest")`
 * for integer factors, as a broadcast and a reshape (differentiable: its
 * gradient sums each f x f block).
 *
 * Reference: https://pytorch.org/docs/stable/generated/torch.nn.Upsample.html
 */
import { numpy as np } from "@jax-js/jax";
import { reject, shapeOf } from "../core/shapes.js";

/** x (B, H, W, C) -> (B, f H, f W, C). Consumes x. */
export function upsampleNearest(x: np.Array, factor: number): np.Array {
  if (x.ndim !== 4) reject("upsampleNearest", [x], `x must be (B, H, W, C), got ${shapeOf(x)}`);
  if (!Number.isInteger(factor) || factor < 1) reject("upsampleNearest", [x], `factor must be an integer >= 1, got ${factor}`);
  if (factor === 1) return x;
  const [B, H, W, C] = x.shape;
  const spread = np.broadcastTo(x.reshape([B, H, 1, W, 1, C]), [B, H, factor, W, factor, C]); // (B, H, f, W, f, C)
  return spread.reshape([B, H * factor, W * factor, C]); // (B, f H, f W, C)
}
