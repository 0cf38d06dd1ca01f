/**
 * The frozen digit judge of `posenc lab resolution`: a classifier trained on
 * real training digits at one image side (never on generated ones), that
 * names the class of generated digits and gives the features of a
 * Fréchet distance between generated and real digits (FID-like: the
 * features are this classifier's, not Inception's).
 *
 *   h1 = GELU(x W1 + b1)      x the S x S pixels in [-1, 1], width 256
 *   f  = GELU(h1 W2 + b2)     the features, width 32
 *   logits = f W3 + b3        10 classes
 *
 * An MLP, as the digits of every size the lab compares are centred by the
 * same transform (`sideTransform`); 32 features keep the Fréchet distance's
 * covariances estimable from a few hundred samples. Trained with AdamW
 * (torch defaults, lr 1e-3, no decay), batch 64; its accuracy on held-out
 * real digits is the ceiling a generator's samples can reach.
 */
import { type JsTree, jit, nn, numpy as np, tree } from "@jax-js/jax";
import { constant } from "../core/constant.js";
import { fail, integer } from "../core/validate.js";
import { classificationLoss } from "../nn/classifier.js";
import { initLinear, type LinearParams, linear } from "../nn/linear.js";
import { rng } from "../pe/random.js";
import { initAdamW } from "../train/adamw.js";
import { DIGIT_CLASSES, digitBatches, digitImages, sideTransform, testSample } from "../train/data/digits.js";
import { makeStep } from "../train/trainStep.js";

export const JUDGE_HIDDEN = 256;
export const JUDGE_FEATURES = 32;
const JUDGE_BATCH = 64;
const JUDGE_LR = 1e-3;

interface JudgeParams {
  hidden: LinearParams;
  features: LinearParams;
  head: LinearParams;
}

export interface DigitJudge {
  side: number;
  params: JudgeParams;
  /** Accuracy on held-out real digits at this side (`heldOut` of them). */
  accuracy: number;
  heldOut: number;
}

/** Logits (B, 10) and features (B, 32) of images (B, S, S) in [-1, 1]. Borrows the parameters, consumes x. */
function forward(p: JudgeParams, x: np.Array): { logits: np.Array; features: np.Array } {
  const [B, S] = x.shape;
  const h = nn.gelu(linear(p.hidden, x.reshape([B, S * S]))); // (B, 256)
  const f = nn.gelu(linear(p.features, h)); // (B, 32)
  return { logits: linear(p.head, f.ref), features: f }; // (B, 10), (B, 32)
}

/** Real digits at `side` in [-1, 1], (n, S, S), with their labels. */
export function realDigits(indices: ArrayLike<number>, side: number): { pixels: Float32Array; labels: Int32Array } {
  const b = digitImages(indices, sideTransform(side));
  return { pixels: b.images.map((v) => 2 * v - 1), labels: b.labels };
}

/** Trains the judge of `side` for `steps` steps on the training split, then measures it on `heldOut` test digits. */
export async function trainDigitJudge(side: number, steps: number, heldOut: number, seed: number): Promise<DigitJudge> {
  const fn = "trainDigitJudge";
  integer(fn, "side", side, 1);
  integer(fn, "steps", steps, 1);
  integer(fn, "heldOut", heldOut, 1);
  const r = rng(seed);
  let params: JudgeParams = {
    hidden: initLinear(r, side * side, JUDGE_HIDDEN),
    features: initLinear(r, JUDGE_HIDDEN, JUDGE_FEATURES),
    head: initLinear(r, JUDGE_FEATURES, DIGIT_CLASSES),
  };
  let state = initAdamW(params);
  const step = makeStep(
    (p: JudgeParams, b: { images: np.Array; labels: np.Array }) => {
      const { logits, features } = forward(p, b.images);
      features.dispose();
      return classificationLoss(logits, b.labels);
    },
    { adamw: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decay: "all" }, clipNorm: null },
  );
  const batches = digitBatches({ split: "train", batchSize: JUDGE_BATCH, seed: seed + 1, transform: sideTransform(side) });
  for (let i = 0; i < steps; i++) {
    const d = batches.next().value;
    const out = step(
      params,
      state,
      {
        images: constant(
          Float64Array.from(d.images, (v) => 2 * v - 1),
          np.float32,
        ).reshape([JUDGE_BATCH, side, side]),
        labels: np.array(d.labels),
      },
      JUDGE_LR,
    );
    ({ params, state } = out);
    out.gradNorm.dispose();
    // one step at a time: jax-js allocates every pending step's buffers before running them
    await out.loss.blockUntilReady();
    out.loss.dispose();
  }
  step.dispose();
  tree.dispose(state as unknown as JsTree<np.Array>);
  const judge: DigitJudge = { side, params, accuracy: 0, heldOut };
  const test = realDigits(testSample(heldOut), side);
  const verdict = await judgeDigits(judge, test.pixels, heldOut);
  judge.accuracy = verdict.predicted.reduce((n, c, i) => n + (c === test.labels[i] ? 1 : 0), 0) / heldOut;
  return judge;
}

/** The judge's classes (N) and features (N, 32) of N images (N, S, S) in [-1, 1], in calls of 256. Borrows the judge. */
export async function judgeDigits(
  judge: DigitJudge,
  pixels: Float32Array | Float64Array,
  count: number,
): Promise<{ predicted: Int32Array; features: Float64Array }> {
  const S = judge.side;
  if (pixels.length !== count * S * S)
    fail("judgeDigits", `pixels must hold count * ${S} * ${S} = ${count * S * S} values, got ${pixels.length}`);
  const run = jit((p: JudgeParams, x: np.Array): JsTree<np.Array> => {
    const { logits, features } = forward(p, x);
    return [np.argmax(logits, 1), features];
  });
  const predicted = new Int32Array(count);
  const features = new Float64Array(count * JUDGE_FEATURES);
  for (let b = 0; b < count; b += 256) {
    const n = Math.min(256, count - b);
    const x = constant(pixels.subarray(b * S * S, (b + n) * S * S), np.float32).reshape([n, S, S]);
    const [cls, f] = run(tree.ref(judge.params as unknown as JsTree<np.Array>) as never, x) as unknown as [np.Array, np.Array];
    predicted.set(await cls.data(), b);
    features.set(await f.data(), b * JUDGE_FEATURES);
  }
  run.dispose();
  return { predicted, features };
}

/** Frees the judge's parameters. */
export function disposeDigitJudge(judge: DigitJudge): void {
  tree.dispose(judge.params as unknown as JsTree<np.Array>);
}
