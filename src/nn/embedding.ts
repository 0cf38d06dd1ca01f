/**
 * Token embedding: a (V, C) table indexed by token ids, and its transpose as
 * a tied output head (logits = x E^T, as GPT-2 and nanoGPT tie them).
 *
 * Initialisation N(0, std^2): torch.nn.Embedding uses std 1, GPT-2 and nanoGPT 0.02.
 *
 * Reference: https://pytorch.org/docs/stable/generated/torch.nn.Embedding.html;
 * Press & Wolf (2017), https://arxiv.org/abs/1608.05859
 */
import { type DType, numpy as np } from "@jax-js/jax";
import { rowsAt } from "../core/rowsAt.js";
import { shapeOf } from "../core/shapes.js";
import { fail } from "../core/validate.js";
import type { Rng } from "../pe/random.js";
import { normal } from "./init.js";

export interface EmbeddingParams {
  /** (V, C) */
  table: np.Array;
}

export function initEmbedding(r: Rng, vocabSize: number, width: number, options: { std?: number; dtype?: DType } = {}): EmbeddingParams {
  return { table: normal(r, [vocabSize, width], options.std ?? 1, options.dtype ?? np.float32) };
}

/**
 * x[b, l] = E[tokens[b, l]]: (B, L) int32 -> (B, L, C), as a one-hot product
 * so that jit can differentiate it (see `rowsAt`). Borrows the table, consumes tokens.
 */
export function embed(p: EmbeddingParams, tokens: np.Array): np.Array {
  if (tokens.ndim !== 2 || p.table.ndim !== 2) {
    const s = shapeOf(tokens);
    tokens.dispose();
    fail("embed", `tokens must be (B, L) and the table (V, C), got tokens ${s} and table ${shapeOf(p.table)}`);
  }
  return rowsAt(p.table.ref, tokens); // (B, L, C)
}

/** logits = x E^T: (B, L, C) -> (B, L, V). Borrows the table, consumes x. */
export function unembed(p: EmbeddingParams, x: np.Array): np.Array {
  if (x.ndim !== 3 || p.table.ndim !== 2 || x.shape[2] !== p.table.shape[1]) {
    const s = shapeOf(x);
    x.dispose();
    fail("unembed", `x must be (B, L, C) and the table (V, C), got x ${s} and table ${shapeOf(p.table)}`);
  }
  return np.matmul(x, p.table.ref.transpose()); // (B, L, V)
}
