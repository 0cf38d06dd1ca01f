/**
 * Rows of a table at integer indices, table[indices[...], :], written as the
 * product onehot(indices) table. A gather would be cheaper, but its gradient
 * is a scatter, which jax-js 0.1.25 cannot compile inside `jit` ("routine
 * primitive scatter input is not imm"); the one-hot product's gradient is a
 * matmul. Used for every learned lookup: token embeddings, T5 and relative
 * tables, learned absolute positions.
 */
import { nn, numpy as np } from "@jax-js/jax";

/** table (n, C), indices (...) int32 in [0, n) -> (..., C). Consumes both. */
export function rowsAt(table: np.Array, indices: np.Array): np.Array {
  const [n] = table.shape;
  return np.matmul(nn.oneHot(indices, n).astype(table.dtype), table); // (..., n) (n, C) -> (..., C)
}
