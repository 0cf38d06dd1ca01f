/**
 * One jitted training step of the language model:
 *
 *   loss, g = valueAndGrad(lmLoss)(params; batch, positions)
 *   g, n    = clipByGlobalNorm(g, maxNorm)                 (when clipping)
 *   params, state = adamwUpdate(params, g, state, lr)
 *
 * The step has no randomness of its own: a run is determined by the model's
 * init seed and the data (and position) seeds. The learning rate is passed as
 * an array, so the schedule does not cause recompilation.
 *
 * Reference: nanoGPT `train.py`; jax-js `jit`, `valueAndGrad`.
 */
import { jit, numpy as np, tree, valueAndGrad, type JsTree } from "@jax-js/jax";
import { constant } from "../attention/constant.js";
import { lmLoss, type Batch, type LMConfig, type LMParams } from "../nn/lm.js";
import { positive } from "../pe/validate.js";
import { adamwUpdate, type AdamWConfig, type AdamWState } from "./adamw.js";
import { clipByGlobalNorm, globalNorm } from "./clip.js";

export interface TrainConfig {
  adamw: AdamWConfig;
  /** Global gradient-norm limit; null for no clipping. */
  clipNorm: number | null;
}

/** A batch with, optionally, (L) positions for the PE (randomized positions). */
export type StepBatch = Batch & { positions?: np.Array };

export interface StepResult {
  params: LMParams;
  state: AdamWState<LMParams>;
  /** () mean masked cross-entropy before the update. */
  loss: np.Array;
  /** () global gradient norm before clipping. */
  gradNorm: np.Array;
}

export interface TrainStep {
  /** Consumes params, state and the batch; `lr` is a JS number. */
  (params: LMParams, state: AdamWState<LMParams>, batch: StepBatch, lr: number): StepResult;
  /** Frees the compiled program. */
  dispose(): void;
}

export function makeTrainStep(model: LMConfig, train: TrainConfig): TrainStep {
  if (train.clipNorm !== null) positive("makeTrainStep", "train.clipNorm", train.clipNorm);
  const loss = (p: LMParams, batch: StepBatch): np.Array => {
    const { positions, ...rest } = batch;
    const l = lmLoss(p, model, rest, positions); // ()
    tree.dispose(p as unknown as JsTree<np.Array>);
    if (positions) positions.dispose();
    return l;
  };
  const compiled = jit((params: LMParams, state: AdamWState<LMParams>, batch: StepBatch, lr: np.Array): JsTree<np.Array> => {
    const [value, grads] = valueAndGrad(loss)(tree.ref(params as unknown as JsTree<np.Array>) as unknown as LMParams, batch);
    let g = grads as LMParams;
    let norm: np.Array;
    if (train.clipNorm !== null) ({ grads: g, norm } = clipByGlobalNorm(g, train.clipNorm));
    else norm = globalNorm(g);
    const next = adamwUpdate(params, g, state, lr, train.adamw);
    const out: StepResult = { params: next.params, state: next.state, loss: value, gradNorm: norm };
    return out as unknown as JsTree<np.Array>;
  });
  const step = ((params, state, batch, lr) => {
    const dtype = (tree.leaves(params as unknown as JsTree<np.Array>) as np.Array[])[0].dtype;
    return compiled(params, state, batch, constant([lr], dtype).reshape([])) as unknown as StepResult;
  }) as TrainStep;
  step.dispose = () => compiled.dispose();
  return step;
}

/** Arrays of a host batch (tokens and targets int32, mask float32). */
export function toBatch(b: { batch: number; length: number; tokens: Int32Array; targets: Int32Array; mask: Float32Array }): Batch {
  const shape = [b.batch, b.length];
  return { tokens: np.array(b.tokens).reshape(shape), targets: np.array(b.targets).reshape(shape), mask: np.array(b.mask).reshape(shape) };
}
