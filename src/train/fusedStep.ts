/**
 * A training step through posenc's fused attention kernels on WebGPU.
 *
 * jax-js has no custom_vjp, so a fused kernel cannot sit inside one jitted,
 * differentiated step. The model is instead a chain (`Chain`): segments of
 * jax-js code joined by n attention calls,
 *
 *   c_0, qkv_0 = first(p_0, batch)
 *   o_i        = attention(qkv_i)                          fused kernel, row statistics kept
 *   c_i, qkv_i = middle(p_i, c_{i-1}, o_{i-1})             i = 1 .. n - 1
 *   loss       = last(p_n, c_{n-1}, o_{n-1}, batch)
 *
 * and the step runs it forward, then backward, with every segment jitted
 * (one compiled program serves all the middle segments, which differ only in
 * their parameters):
 *
 *   forward:   first, then (attention, middle) n - 1 times, then attention;
 *   backward:  last's value and VJP in one jitted call; then for each
 *              attention from the top, the fused backward (dq, dk, dv), and
 *              the jitted VJP of the segment before it, which recomputes that
 *              segment's forward (the price of having no custom_vjp: one more
 *              forward of the non-attention code, no attention recomputed but
 *              P inside the backward kernels);
 *   update:    gradients merged (leaves shared by segments, the tied
 *              embedding, are added), clipped by the global norm and applied
 *              by AdamW, in one jitted call.
 *
 * No value leaves the GPU: kernel outputs are written into fresh jax-js
 * arrays, and the loss is a () array the caller reads when it wants. The
 * composite step (trainStep.ts) computes the same function; test/train/
 * fusedStep.webgpu.test.ts holds the two loss curves together.
 *
 * Reference: Chen et al. (2016), "Training Deep Nets with Sublinear Memory
 * Cost" (recomputation), https://arxiv.org/abs/1604.06174; Dao,
 * FlashAttention-2, https://arxiv.org/abs/2307.08691.
 */
import { type JsTree, jit, numpy as np, tree, vjp } from "@jax-js/jax";
import { constant } from "../core/constant.js";
import { describe, fail, integer, positive, record } from "../core/validate.js";
import { type FlashAttentionOptions, flashAttentionWithStats } from "../kernels/webgpu/flashAttention.js";
import { flashAttentionBackward } from "../kernels/webgpu/flashBackward.js";
import type { GpuTensor } from "../kernels/webgpu/gpuTensor.js";
import { type AdamWState, adamwUpdate, checkAdamW } from "./adamw.js";
import { clipByGlobalNorm, globalNorm } from "./clip.js";
import type { StepResult, TrainConfig } from "./trainStep.js";

/** What a segment hands on: the residual stream and the next attention's inputs. */
export interface Handoff {
  /** The segment's output that the next segment reads besides the attention output (the residual stream). */
  carry: np.Array;
  /** (B, H, L, D) */
  q: np.Array;
  /** (B, Hkv, S, D) */
  k: np.Array;
  /** (B, Hkv, S, Dv) */
  v: np.Array;
}

/**
 * A model as segments between its attention calls (module header). Segment functions consume their
 * arguments (parameters are passed as new references) and are traced by `jit`.
 */
export interface Chain<P, B> {
  /** Attention calls n >= 1. */
  layers: number;
  /** The fused attention's options, the same for every call (no jax-js arrays: they are reused every step). */
  attention: FlashAttentionOptions;
  /** The n + 1 segments' parameters: subtrees of `params` holding its arrays (no new references). */
  split(params: P): object[];
  /** The full gradient from the n + 1 segments' gradients (consumed), adding leaves that segments share. */
  merge(grads: object[]): P;
  first(p: object, batch: B): Handoff;
  middle(p: object, carry: np.Array, o: np.Array): Handoff;
  /** () loss. */
  last(p: object, carry: np.Array, o: np.Array, batch: B): np.Array;
}

/** A step that runs on the GPU asynchronously: the fused kernels are dispatched as their inputs' buffers are ready. */
export interface AsyncTrainStep<P, B> {
  /** Consumes params, state and the batch; `lr` is a JS number. */
  (params: P, state: AdamWState<P>, batch: B, lr: number): Promise<StepResult<P>>;
  /** Frees the compiled programs. */
  dispose(): void;
}

/** The parts of a chain step, in the order they run (a part repeats per layer). */
export type ChainPhase = "segment forward" | "attention forward" | "loss and last VJP" | "attention backward" | "segment VJP" | "update";

export interface ChainStepOptions {
  /**
   * Called after each part of the step with the arrays it produced (borrowed), and awaited: a profiler
   * synchronises there and reads the clock (bench/train.ts --profile). Absent: the step never waits on a part.
   */
  phase?: (name: ChainPhase, outputs: np.Array[]) => Promise<void>;
}

type Tree = JsTree<np.Array>;
const asTree = (x: unknown) => x as Tree;

/**
 * The handoff with its carry as a value of its own (carry + 0), for `vjp`: jax-js 0.1.25's vjp fails
 * ("Invalid atom type: undefined") on a function that returns a nonlinear intermediate which another
 * output also uses, as the residual stream is used by q, k and v (test/train/fusedStep.webgpu.test.ts pins it).
 */
const distinct = (h: Handoff): Tree => asTree({ ...h, carry: np.add(h.carry, 0) });

/** The step of a chain (module header): same result as `makeStep` of the chain's composite loss, attention fused. */
export function makeChainStep<P, B>(chain: Chain<P, B>, train: TrainConfig, options: ChainStepOptions = {}): AsyncTrainStep<P, B> {
  if (train.clipNorm !== null) positive("makeChainStep", "train.clipNorm", train.clipNorm);
  checkAdamW("makeChainStep", "train.adamw", train.adamw);
  const c = record("makeChainStep", "chain", chain, "a Chain object");
  for (const f of ["split", "merge", "first", "middle", "last"])
    if (typeof c[f] !== "function") fail("makeChainStep", `chain.${f} must be a function, got ${describe(c[f])}`);
  record("makeChainStep", "chain.attention", c.attention, "FlashAttentionOptions");
  const n = integer("makeChainStep", "chain.layers", chain.layers, 1);
  const opts = chain.attention;
  const handoff = (h: Handoff) => asTree(h);
  const firstF = jit((p: Tree, batch: Tree) => handoff(chain.first(p, batch as B)));
  const middleF = jit((p: Tree, c: np.Array, o: np.Array) => handoff(chain.middle(p, c, o)));
  // backward of a segment: its VJP, recomputing its forward
  const lastB = jit((p: Tree, c: np.Array, o: np.Array, batch: Tree) => {
    const [loss, pull] = vjp((pp: Tree, cc: np.Array, oo: np.Array) => chain.last(pp, cc, oo, batch as B), [p, c, o]);
    const [gp, gc, go] = pull(np.ones([], { dtype: loss.dtype }));
    return asTree({ loss, gp, gc, go });
  });
  const middleB = jit((p: Tree, c: np.Array, o: np.Array, ct: Tree) => {
    const [out, pull] = vjp((pp: Tree, cc: np.Array, oo: np.Array) => distinct(chain.middle(pp, cc, oo)), [p, c, o]);
    tree.dispose(out);
    const [gp, gc, go] = pull(ct);
    return asTree({ gp, gc, go });
  });
  const firstB = jit((p: Tree, batch: Tree, ct: Tree) => {
    const [out, pull] = vjp((pp: Tree) => distinct(chain.first(pp, batch as B)), [p]);
    tree.dispose(out);
    const [gp] = pull(ct);
    return gp;
  });
  const update = jit((params: Tree, state: Tree, grads: Tree, lr: np.Array) => {
    let g = chain.merge(grads as unknown as object[]);
    let norm: np.Array;
    if (train.clipNorm !== null) ({ grads: g, norm } = clipByGlobalNorm(g, train.clipNorm));
    else norm = globalNorm(g);
    const next = adamwUpdate(params as P, g, state as unknown as AdamWState<P>, lr, train.adamw);
    return asTree({ params: next.params, state: next.state, gradNorm: norm });
  });

  const leaves = (x: unknown) => tree.leaves(asTree(x)) as np.Array[];
  const phase = async (name: ChainPhase, outputs: unknown) => {
    if (options.phase) await options.phase(name, leaves(outputs));
  };
  const step = async (params: P, state: AdamWState<P>, batch: B, lr: number): Promise<StepResult<P>> => {
    if (typeof lr !== "number" || !Number.isFinite(lr) || lr < 0) fail("trainStep", `lr must be a finite number >= 0, got ${describe(lr)}`);
    const segments = chain.split(params).map(asTree);
    const ref = (i: number) => tree.ref(segments[i]);
    // forward: segment inputs kept for the backward
    const saved: { carry: np.Array; q: np.Array; k: np.Array; v: np.Array; out: np.Array; stats: GpuTensor }[] = [];
    let h = firstF(ref(0), tree.ref(asTree(batch))) as unknown as Handoff;
    await phase("segment forward", h);
    for (let i = 0; i < n; i++) {
      const { out, stats } = await flashAttentionWithStats(h.q.ref, h.k.ref, h.v.ref, opts);
      await phase("attention forward", [out]);
      saved.push({ ...h, out, stats });
      if (i < n - 1) {
        h = middleF(ref(i + 1), h.carry.ref, out.ref) as unknown as Handoff;
        await phase("segment forward", h);
      }
    }
    // backward, from the loss down
    const top = saved[n - 1];
    const grads: Tree[] = new Array(n + 1);
    const last = lastB(ref(n), top.carry, top.out.ref, tree.ref(asTree(batch))) as unknown as {
      loss: np.Array;
      gp: Tree;
      gc: np.Array;
      go: np.Array;
    };
    await phase("loss and last VJP", last);
    grads[n] = last.gp;
    let dCarry = last.gc;
    let dOut = last.go;
    for (let i = n - 1; i >= 0; i--) {
      const s = saved[i];
      const d = await flashAttentionBackward(s.q, s.k, s.v, s.out, s.stats, dOut, opts);
      s.stats.dispose();
      await phase("attention backward", d);
      const ct = asTree({ carry: dCarry, q: d.dq, k: d.dk, v: d.dv });
      if (i === 0) {
        grads[0] = firstB(ref(0), asTree(batch), ct) as Tree;
        await phase("segment VJP", grads[0]);
        break;
      }
      const below = saved[i - 1];
      const b = middleB(ref(i), below.carry, below.out.ref, ct) as unknown as { gp: Tree; gc: np.Array; go: np.Array };
      await phase("segment VJP", b);
      grads[i] = b.gp;
      dCarry = b.gc;
      dOut = b.go;
    }
    const dtype = (tree.leaves(asTree(params)) as np.Array[])[0].dtype;
    const next = update(asTree(params), asTree(state), grads as unknown as Tree, constant([lr], dtype).reshape([])) as unknown as {
      params: P;
      state: AdamWState<P>;
      gradNorm: np.Array;
    };
    await phase("update", next);
    return { params: next.params, state: next.state, loss: last.loss, gradNorm: next.gradNorm };
  };
  return Object.assign(step, {
    dispose: () => {
      for (const f of [firstF, middleF, lastB, middleB, firstB, update]) f.dispose();
    },
  });
}
