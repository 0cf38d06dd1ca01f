/**
 * Training and evaluating the lab's small language models: a seeded run of
 * the jitted AdamW step on a synthetic task with a warmup + cosine schedule,
 * and answer accuracy on fresh batches at any length. Shared by the
 * experiments (`length`, `stability`).
 */
import { defaultDevice, type JsTree, jit, numpy as np, tree } from "@jax-js/jax";
import { constant } from "../core/constant.js";
import { initLM, type LMConfig, type LMParams, lmForward } from "../nn/lm.js";
import { checkDevice } from "../runtime/deviceFault.js";
import { type AdamWConfig, initAdamW } from "../train/adamw.js";
import { syntheticBatch, type TaskConfig, type TokenBatch } from "../train/data/synthetic.js";
import { type LMStepOptions, makeLMStep } from "../train/lmStep.js";
import { learningRate } from "../train/schedule.js";
import { toBatch } from "../train/trainStep.js";
import type { ProgressSink } from "./progress.js";
import type { ResumableSettings } from "./savedRuns.js";

/**
 * Steps whose losses are read back together: the trainer reads losses and
 * gradient norms once per READ_EVERY steps (one wait, not one per step).
 */
export const READ_EVERY = 10;

/**
 * Steps that may be queued but unfinished, by device. jax-js allocates a
 * step's intermediates when the step is issued, so every step in flight holds
 * its buffers: on wasm and cpu ten pending steps of a kernelized LM of the
 * stability preset `quick` (about 530 MiB a step) passed the 4 GiB of
 * WebAssembly memory. There the trainer waits for each step before it builds
 * the next; on WebGPU for the step before (the device always has the next
 * step queued while the host builds one).
 */
export function stepsInFlight(device: string): number {
  return device === "webgpu" ? 2 : 1;
}

export interface TrainSettings {
  steps: number;
  batch: number;
  /** Peak learning rate (after a warmup of 5% of the steps, cosine to a tenth of it). */
  lr: number;
  clipNorm: number | null;
  adamw: AdamWConfig;
  /** The step's attention (train/lmStep.ts): fused kernels on WebGPU where the model allows ("auto", the default), or the composite. */
  attention?: LMStepOptions["attention"];
  /** The run's name in a live view of its losses (`ProgressSink.losses`). */
  name?: string;
}

/** Lab default: AdamW with decay on matrices only (nanoGPT), betas (0.9, 0.99). */
export const LAB_ADAMW: AdamWConfig = { beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.01, decay: "matrices" };

/** The size of the lab's language model. */
export interface LabModelSize {
  width: number;
  depth: number;
  heads: number;
}

/** Settings of a sweep of lab LM trainings (stability, accuracy): which variants and seeds, how long, at which size. */
export interface LabLMSweep extends LabModelSize, ResumableSettings {
  variants: string[];
  seeds: number;
  steps: number;
  batch: number;
  /** Random features M of the kernelized variants. */
  features: number;
  /** Batches of `batch` examples evaluated at the end of each training (validation loss, held-out accuracy). */
  evalBatches: number;
}

/**
 * The lab's language model: a pre-norm decoder with LayerNorm, a GELU MLP of
 * 4x the width, biases and tied embeddings; `pe`, `absolute` and `kernel`
 * are the variant's.
 */
export function labLM(vocabSize: number, size: LabModelSize, position: Pick<LMConfig, "pe" | "absolute" | "kernel">): LMConfig {
  return {
    vocabSize,
    width: size.width,
    depth: size.depth,
    heads: size.heads,
    mlp: { kind: "gelu", hidden: 4 * size.width, approximate: false },
    norm: { type: "layer", eps: 1e-5 },
    ...position,
    tied: true,
    bias: true,
    embedStd: 0.02,
  };
}

export interface TrainedLM {
  params: LMParams;
  /** Loss at every step (NaN once it diverged). */
  losses: number[];
  /** Global gradient norm at every step, before clipping. */
  gradNorms: number[];
  seconds: number;
}

/**
 * Trains `model` from the seed `init` on the batches `data(i)` (i = 0 ..
 * steps - 1, each `s.batch` examples); `positions(i)`, when given, are the
 * step's positions (randomized PE). Stops early when the loss is not finite.
 */
export async function trainLM(
  model: LMConfig,
  data: (step: number) => TokenBatch,
  s: TrainSettings,
  init: number,
  progress: ProgressSink,
  positions?: (step: number) => Float64Array,
): Promise<TrainedLM> {
  const t0 = performance.now();
  const step = makeLMStep(model, { adamw: s.adamw, clipNorm: s.clipNorm }, { attention: s.attention, positions: positions !== undefined });
  let params = initLM(model, init);
  let state = initAdamW(params);
  const schedule = { peak: s.lr, floor: s.lr / 10, warmup: Math.max(1, Math.round(0.05 * s.steps)), total: s.steps };
  const losses: number[] = [];
  const gradNorms: number[] = [];
  const maxInFlight = stepsInFlight(defaultDevice());
  // the losses of the steps in flight, oldest first: waited on (not read) to bound the buffers held
  const inFlight: np.Array[] = [];
  // the step's loss and norm stay on the device and are read READ_EVERY steps at a time
  let pending: { loss: np.Array; gradNorm: np.Array }[] = [];
  const read = async () => {
    const values = await Promise.all(pending.map(async (o) => [(await o.loss.data())[0], (await o.gradNorm.data())[0]]));
    pending = [];
    for (const [loss, norm] of values) {
      if (losses.length > 0 && !Number.isFinite(losses[losses.length - 1])) break; // steps past the divergence are not recorded
      losses.push(loss);
      gradNorms.push(norm);
    }
    checkDevice("trainLM");
    progress.losses?.(s.name ?? "", losses);
    return !Number.isFinite(losses[losses.length - 1]);
  };
  for (let i = 0; i < s.steps; i++) {
    await progress.gate?.();
    const batch = toBatch(data(i));
    const pos = positions ? { positions: constant(positions(i), np.float32) } : {};
    const out = await step(params, state, { ...batch, ...pos }, learningRate(i, schedule));
    ({ params, state } = out);
    pending.push({ loss: out.loss, gradNorm: out.gradNorm });
    inFlight.push(out.loss.ref);
    if (inFlight.length === maxInFlight) (await (inFlight.shift() as np.Array).blockUntilReady()).dispose();
    progress.tick(1);
    if ((pending.length === READ_EVERY || i === s.steps - 1) && (await read())) {
      progress.tick(s.steps - i - 1);
      break;
    }
  }
  for (const a of inFlight) a.dispose();
  tree.dispose(state as unknown as JsTree<np.Array>);
  step.dispose();
  return { params, losses, gradNorms, seconds: (performance.now() - t0) / 1000 };
}

/**
 * A model fits a task when its mean answer accuracy reaches this. `length`
 * ranks only variants that fit at the training length (only then do their
 * longer lengths speak to extrapolation); `accuracy` answers only when its
 * softmax reference fits.
 */
export const FIT_ACCURACY = 0.95;

export interface Accuracy {
  /** Fraction of answer tokens predicted right (argmax). */
  token: number;
  /** Fraction of examples whose whole answer is right. */
  sequence: number;
}

/**
 * Greedy next-token accuracy on the answer of `batches` fresh batches of
 * `task` (teacher forcing: every answer token is predicted from the true
 * prefix). Borrows the parameters.
 */
export async function evaluateLM(
  params: LMParams,
  model: LMConfig,
  task: TaskConfig,
  opts: { batch: number; batches: number; seed: number; positions?: (b: number, length: number) => Float64Array },
): Promise<Accuracy> {
  // positions, when given, are an argument of the compiled forward
  const forward = jit((p: LMParams, tokens: np.Array, positions?: np.Array) => lmForward(p, model, tokens, positions));
  let right = 0;
  let total = 0;
  let exact = 0;
  let examples = 0;
  for (let b = 0; b < opts.batches; b++) {
    const data = syntheticBatch(task, opts.batch, opts.seed + b);
    const { batch: B, length: T, vocabSize: V } = data;
    const p = tree.ref(params as unknown as JsTree<np.Array>) as unknown as LMParams;
    const tokens = np.array(data.tokens).reshape([B, T]);
    const logits = opts.positions ? forward(p, tokens, constant(opts.positions(b, T), np.float32)) : forward(p, tokens); // (B, T, V)
    const predicted = await np.argmax(logits.reshape([B * T, model.vocabSize]), 1).data(); // (B T)
    for (let e = 0; e < B; e++) {
      let all = true;
      for (let t = 0; t < T; t++) {
        const i = e * T + t;
        if (data.mask[i] === 0) continue;
        const ok = predicted[i] === data.targets[i] && data.targets[i] < V;
        right += ok ? 1 : 0;
        total += 1;
        all &&= ok;
      }
      exact += all ? 1 : 0;
      examples += 1;
    }
  }
  forward.dispose();
  return { token: right / total, sequence: exact / examples };
}
