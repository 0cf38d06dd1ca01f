/**
 * CoPE, contextual position encoding: positions are counted by gates computed
 * from the queries and keys themselves, so a head can count words, sentences
 * or any unit it learns.
 *
 *   g_ij = sigmoid(logit_ij)                (masked logits give g = 0)
 *   p_ij = sum_{t = j}^{i} g_it              (clamped to npos - 1)
 *   z_i[n] = q_i . e[n]                      (n = 0..npos-1)
 *   cope_ij = z_i[ceil p_ij] (p_ij - floor p_ij) + z_i[floor p_ij] (1 - p_ij + floor p_ij)
 *
 * and cope_ij is added to logit_ij before the softmax. Differentiable in q,
 * the logits (through p) and the embeddings e.
 *
 * Reference: Golovneva et al., "Contextual Position Encoding: Learning to
 * Count What's Important" (2024), https://arxiv.org/abs/2405.18719 (section 3
 * and its reference code).
 */
import { nn, numpy as np } from "@jax-js/jax";

/**
 * q (B, h, l, D), logits (B, h, l, S) after scaling and masking, embeddings
 * (D, npos); returns the (B, h, l, S) CoPE term. Consumes its arguments.
 */
export function copeLogits(q: np.Array, logits: np.Array, embeddings: np.Array): np.Array {
  const npos = embeddings.shape[1];
  const gates = nn.sigmoid(logits);
  // reverse cumulative sum over keys: p_ij = sum_{t >= j} g_it (future keys are masked to g = 0)
  const pos = np.minimum(np.flip(np.cumsum(np.flip(gates, -1), -1), -1), npos - 1);
  const floor = np.floor(pos.ref);
  const ceil = np.ceil(pos.ref);
  const w = np.subtract(pos, floor.ref);
  const z = np.matmul(q, embeddings); // (B, h, l, npos)
  // z gathered at ceil and floor as one-hot products (a gather's gradient, a scatter, does not jit)
  const pick = (idx: np.Array) => np.einsum("bhln,bhlsn->bhls", z.ref, nn.oneHot(idx.astype(np.int32), npos).astype(z.dtype));
  const atCeil = pick(ceil);
  const atFloor = pick(floor);
  z.dispose();
  return np.add(np.multiply(atCeil, w.ref), np.multiply(atFloor, np.subtract(1, w)));
}
