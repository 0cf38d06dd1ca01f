/**
 * Masked next-token cross-entropy, averaged over the positions that count:
 *
 *   loss = - sum_{b,l} mask[b,l] log softmax(logits[b,l])[targets[b,l]] / max(sum mask, 1)
 *
 * Reference: torch.nn.functional.cross_entropy (mean reduction; the mask
 * plays the role of ignore_index).
 */
import { nn, numpy as np } from "@jax-js/jax";
import { reject, shapeOf } from "../core/shapes.js";

/** logits (B, L, V), targets (B, L) int32, mask (B, L) float -> scalar. Consumes its arguments. */
export function crossEntropy(logits: np.Array, targets: np.Array, mask: np.Array): np.Array {
  if (
    logits.ndim !== 3 ||
    targets.ndim !== 2 ||
    mask.ndim !== 2 ||
    targets.shape.some((n, i) => n !== logits.shape[i] || mask.shape[i] !== n)
  ) {
    reject(
      "crossEntropy",
      [logits, targets, mask],
      `need logits (B, L, V), targets (B, L), mask (B, L); got ${shapeOf(logits)}, ${shapeOf(targets)}, ${shapeOf(mask)}`,
    );
  }
  const V = logits.shape[2];
  const logp = nn.logSoftmax(logits, -1); // (B, L, V)
  const picked = np.sum(np.multiply(logp, nn.oneHot(targets, V).astype(logp.dtype)), -1); // (B, L)
  const m = mask.astype(logp.dtype); // (B, L)
  const total = np.sum(np.multiply(picked, m.ref)); // ()
  return np.negative(np.divide(total, np.maximum(np.sum(m), 1))); // ()
}
