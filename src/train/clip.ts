/**
 * Gradient clipping by global norm, as torch.nn.utils.clip_grad_norm_:
 *
 *   n = sqrt(sum_i ||g_i||^2)          over every array of the pytree
 *   g_i = g_i * min(1, maxNorm / (n + 1e-6))
 *
 * Reference: Pascanu et al. (2013), https://arxiv.org/abs/1211.5063;
 * https://pytorch.org/docs/stable/generated/torch.nn.utils.clip_grad_norm_.html
 */
import { type JsTree, numpy as np, tree } from "@jax-js/jax";
import { fail, positive } from "../core/validate.js";

/** The global L2 norm of a pytree of arrays, a () array. Borrows the tree. */
export function globalNorm(grads: unknown): np.Array {
  const leaves = tree.leaves(grads as JsTree<np.Array>) as np.Array[];
  if (leaves.length === 0) fail("globalNorm", "grads has no arrays");
  let total = np.sum(np.square(leaves[0].ref)); // ()
  for (const g of leaves.slice(1)) total = np.add(total, np.sum(np.square(g.ref))); // ()
  return np.sqrt(total); // ()
}

/** Scales every gradient by min(1, maxNorm / (norm + 1e-6)). Consumes grads; returns the clipped tree and the norm before clipping. */
export function clipByGlobalNorm<T>(grads: T, maxNorm: number): { grads: T; norm: np.Array } {
  positive("clipByGlobalNorm", "maxNorm", maxNorm);
  const norm = globalNorm(grads); // ()
  const factor = np.minimum(np.divide(maxNorm, np.add(norm.ref, 1e-6)), 1); // ()
  const clipped = tree.map((g: np.Array) => np.multiply(g, factor.ref), grads as JsTree<np.Array>) as T;
  factor.dispose();
  return { grads: clipped, norm };
}
