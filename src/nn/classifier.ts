/**
 * What the image classifiers (ViT, CSWin) share: the batch they train on,
 * the check of their input images, the mean cross-entropy of their logits,
 * and the parameter count.
 *
 *   loss = -(1 / B) sum_b log softmax(logits[b])[labels[b]]
 *
 * Reference: torch.nn.functional.cross_entropy (mean reduction).
 */
import { type JsTree, numpy as np, tree } from "@jax-js/jax";
import { reject, shapeOf } from "../core/shapes.js";
import { crossEntropy } from "./crossEntropy.js";

/** Images and class labels. */
export interface ImageBatch {
  /** (B, H, W, channels) channel-last. */
  images: np.Array;
  /** (B) int32 */
  labels: np.Array;
}

/**
 * Checks images (B, H, W, channels) with H and W multiples of `patch`;
 * returns the token grid [H / patch, W / patch]. Disposes the images and
 * throws `fn: ...` otherwise.
 */
export function imageGrid(fn: string, images: np.Array, channels: number, patch: number): [number, number] {
  const [, H, W, C] = images.shape;
  if (images.ndim !== 4 || C !== channels) reject(fn, [images], `images must be (B, H, W, ${channels}), got ${shapeOf(images)}`);
  if (H % patch !== 0 || W % patch !== 0)
    reject(fn, [images], `images ${shapeOf(images)}: height ${H} and width ${W} must be multiples of the patch ${patch}`);
  return [H / patch, W / patch];
}

/** logits (B, K), labels (B) int32 -> () mean cross-entropy. Consumes both. */
export function classificationLoss(logits: np.Array, labels: np.Array): np.Array {
  if (logits.ndim !== 2 || labels.ndim !== 1 || labels.shape[0] !== logits.shape[0]) {
    reject("classificationLoss", [logits, labels], `need logits (B, K) and labels (B), got ${shapeOf(logits)} and ${shapeOf(labels)}`);
  }
  const [B, K] = logits.shape;
  const mask = np.ones([B, 1], { dtype: logits.dtype }); // (B, 1)
  return crossEntropy(logits.reshape([B, 1, K]), labels.reshape([B, 1]), mask); // ()
}

/**
 * Mean cross-entropy of a classifier over a batch: `forward` maps the images
 * (consumed) to logits (B, K). Consumes the batch, also when `forward` throws.
 */
export function batchLoss(forward: (images: np.Array) => np.Array, batch: ImageBatch): np.Array {
  let logits: np.Array;
  try {
    logits = forward(batch.images); // (B, K)
  } catch (err) {
    batch.labels.dispose();
    throw err;
  }
  return classificationLoss(logits, batch.labels); // ()
}

/** Number of scalars in a parameter pytree. Borrows it. */
export function paramCount(params: unknown): number {
  return (tree.leaves(params as JsTree<np.Array>) as np.Array[]).reduce((n, a) => n + a.size, 0);
}
