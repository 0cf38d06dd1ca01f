/**
 * Instance normalisation on channel-last grids, without affine parameters:
 *
 *   y[b, h, w, c] = (x[b, h, w, c] - mean_{h,w} x[b, :, :, c]) / sqrt(var_{h,w} x[b, :, :, c] + eps)
 *
 * mean and biased variance (divides by H W) per sample and per channel, as
 * torch's `nn.InstanceNorm2d(C)` with its defaults (affine=False,
 * track_running_stats=False, so the same in training and evaluation).
 *
 * Reference: Ulyanov et al. (2016), https://arxiv.org/abs/1607.08022;
 * https://pytorch.org/docs/stable/generated/torch.nn.InstanceNorm2d.html
 */
import { numpy as np } from "@jax-js/jax";
import { reject, shapeOf } from "../core/shapes.js";
import { describe } from "../core/validate.js";

/** x (B, H, W, C) -> (B, H, W, C), normalised over H and W. Consumes x. `eps` >= 0, torch's default 1e-5. */
export function instanceNorm(x: np.Array, eps = 1e-5): np.Array {
  if (typeof eps !== "number" || !Number.isFinite(eps) || eps < 0)
    reject("instanceNorm", [x], `eps must be a finite number >= 0, got ${describe(eps)}`);
  if (x.ndim !== 4) reject("instanceNorm", [x], `x must be (B, H, W, C), got ${shapeOf(x)}`);
  const centered = np.subtract(x.ref, np.mean(x, [1, 2], { keepdims: true })); // (B, H, W, C)
  const variance = np.mean(np.square(centered.ref), [1, 2], { keepdims: true }); // (B, 1, 1, C)
  return np.multiply(centered, np.reciprocal(np.sqrt(np.add(variance, eps)))); // (B, H, W, C)
}
