/**
 * One jitted training step, of any model or of the language model:
 *
 *   loss, g = valueAndGrad(loss)(params; batch)              (lmLoss with positions for the LM)
 *   g, n    = clipByGlobalNorm(g, maxNorm)                 (when clipping)
 *   params, state = adamwUpdate(params, g, state, lr)
 *
 * The step has no randomness of its own: a run is determined by the model's
 * init seed and the data (and position) seeds. The learning rate is passed as
 * an array, so the schedule does not cause recompilation.
 *
 * Reference: nanoGPT `train.py`; jax-js `jit`, `valueAndGrad`.
 */
import { type JsTree, jit, numpy as np, tree, valueAndGrad } from "@jax-js/jax";
import { constant } from "../core/constant.js";
import { describe, fail, positive } from "../core/validate.js";
import { type Batch, type LMConfig, type LMParams, lmLoss } from "../nn/lm.js";
import { type AdamWConfig, type AdamWState, adamwUpdate, checkAdamW } from "./adamw.js";
import { clipByGlobalNorm, globalNorm } from "./clip.js";

export interface TrainConfig {
  adamw: AdamWConfig;
  /** Global gradient-norm limit; null for no clipping. */
  clipNorm: number | null;
}

/** A batch with, optionally, (L) positions for the PE (randomized positions). */
export type StepBatch = Batch & { positions?: np.Array };

export interface StepResult<P = LMParams> {
  params: P;
  state: AdamWState<P>;
  /** () mean loss before the update. */
  loss: np.Array;
  /** () global gradient norm before clipping. */
  gradNorm: np.Array;
}

export interface TrainStep<P = LMParams, B = StepBatch> {
  /** Consumes params, state and the batch; `lr` is a JS number. */
  (params: P, state: AdamWState<P>, batch: B, lr: number): StepResult<P>;
  /** Frees the compiled program. */
  dispose(): void;
}

/**
 * The jitted step of any model: `loss(params, batch)` returns a () array,
 * borrowing the parameters and consuming the batch (a pytree of arrays).
 */
export function makeStep<P, B>(loss: (params: P, batch: B) => np.Array, train: TrainConfig): TrainStep<P, B> {
  if (train.clipNorm !== null) positive("makeStep", "train.clipNorm", train.clipNorm);
  checkAdamW("makeStep", "train.adamw", train.adamw);
  const owned = (p: P, batch: B): np.Array => {
    const l = loss(p, batch); // ()
    tree.dispose(p as unknown as JsTree<np.Array>);
    return l;
  };
  const compiled = jit((params: P, state: AdamWState<P>, batch: B, lr: np.Array): JsTree<np.Array> => {
    const [value, grads] = valueAndGrad(owned as unknown as (p: JsTree<np.Array>, batch: JsTree<np.Array>) => np.Array)(
      tree.ref(params as unknown as JsTree<np.Array>),
      batch as unknown as JsTree<np.Array>,
    );
    let g = grads as unknown as P;
    let norm: np.Array;
    if (train.clipNorm !== null) ({ grads: g, norm } = clipByGlobalNorm(g, train.clipNorm));
    else norm = globalNorm(g);
    const next = adamwUpdate(params, g, state, lr, train.adamw);
    const out: StepResult<P> = { params: next.params, state: next.state, loss: value, gradNorm: norm };
    return out as unknown as JsTree<np.Array>;
  });
  const step = ((params, state, batch, lr) => {
    // refused before anything is consumed: the caller keeps its model and state
    if (typeof lr !== "number" || !Number.isFinite(lr) || lr < 0) fail("trainStep", `lr must be a finite number >= 0, got ${describe(lr)}`);
    const dtype = (tree.leaves(params as unknown as JsTree<np.Array>) as np.Array[])[0].dtype;
    return (compiled as unknown as (...a: unknown[]) => StepResult<P>)(params, state, batch, constant([lr], dtype).reshape([]));
  }) as TrainStep<P, B>;
  step.dispose = () => compiled.dispose();
  return step;
}

/** The language model's step (`lmLoss`, with the batch's positions when given). */
export function makeTrainStep(model: LMConfig, train: TrainConfig): TrainStep {
  return makeStep((p: LMParams, batch: StepBatch): np.Array => {
    const { positions, ...rest } = batch;
    const l = lmLoss(p, model, rest, positions); // ()
    if (positions) positions.dispose();
    return l;
  }, train);
}

/** Arrays of a host batch (tokens and targets int32, mask float32). */
export function toBatch(b: { batch: number; length: number; tokens: Int32Array; targets: Int32Array; mask: Float32Array }): Batch {
  const shape = [b.batch, b.length];
  return { tokens: np.array(b.tokens).reshape(shape), targets: np.array(b.targets).reshape(shape), mask: np.array(b.mask).reshape(shape) };
}
