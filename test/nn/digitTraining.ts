/**
 * A short training run of an image classifier on MNIST digits (wasm, jitted
 * AdamW step), for the model tests: the loss at initialisation and the
 * held-out loss after `steps` steps.
 *
 * The step returns the loss before its update: the first step's is the loss at
 * initialisation; a last step on held-out digits gives their loss after
 * training (the update it makes is dropped).
 */
import { type JsTree, type numpy as np, tree } from "@jax-js/jax";
import type { ImageBatch } from "../../src/nn/classifier.js";
import { initAdamW } from "../../src/train/adamw.js";
import { type DigitTransform, digitBatches, digitImages, splitIndices, toImageBatch } from "../../src/train/data/digits.js";
import { makeStep } from "../../src/train/trainStep.js";

export async function digitLossDrop<P>(
  loss: (p: P, b: ImageBatch) => np.Array,
  init: P,
  transform: DigitTransform,
  opts: { steps: number; lr: number },
): Promise<{ before: number; after: number }> {
  const step = makeStep(loss, { adamw: { beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0, decay: "all" }, clipNorm: 1 });
  let params = init;
  let state = initAdamW(params);
  const losses: number[] = [];
  const batches = digitBatches({ split: "train", batchSize: 32, seed: 1, transform });
  const test = splitIndices("test"); // digit by digit: take every (n/32)-th, all ten digits
  const held = digitImages(
    Array.from({ length: 32 }, (_, k) => test[Math.floor((k * test.length) / 32)]),
    transform,
  );
  for (let i = 0; i <= opts.steps; i++) {
    const out = step(params, state, toImageBatch(i < opts.steps ? batches.next().value : held), opts.lr);
    ({ params, state } = out);
    losses.push((await out.loss.data())[0]);
    out.gradNorm.dispose();
  }
  step.dispose();
  tree.dispose(params as unknown as JsTree<np.Array>);
  tree.dispose(state as unknown as JsTree<np.Array>);
  return { before: losses[0], after: losses[opts.steps] };
}
