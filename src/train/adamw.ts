/**
 * AdamW: Adam with decoupled weight decay, bias-corrected, step for step as
 * torch.optim.AdamW (amsgrad = false, maximize = false):
 *
 *   t     = t + 1
 *   p     = p - lr * lambda * p                         (decoupled decay, before the moments)
 *   m     = beta1 m + (1 - beta1) g
 *   v     = beta2 v + (1 - beta2) g^2
 *   p     = p - lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)
 *
 * torch writes the last line as p - (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps),
 * the same number up to rounding. The state (step count, m, v) is a pytree of
 * arrays and the learning rate may be an array, so a jitted step does not
 * recompile when the schedule moves.
 *
 * Reference: Loshchilov & Hutter (2019), https://arxiv.org/abs/1711.05101;
 * https://pytorch.org/docs/stable/generated/torch.optim.AdamW.html
 */
import { type JsTree, numpy as np, tree } from "@jax-js/jax";
import { fail, finite, oneOf, record } from "../core/validate.js";

export interface AdamWConfig {
  beta1: number;
  beta2: number;
  eps: number;
  /** Decoupled weight decay lambda (torch default 0.01). */
  weightDecay: number;
  /** Which parameters decay: all of them (torch's default), or only those with >= 2 axes (nanoGPT: matrices and embeddings, not biases and norms). */
  decay: "all" | "matrices";
}

/** Throws `fn: <field>...` unless `config` is an AdamWConfig: betas in [0, 1), eps and weight decay >= 0 (as torch). */
export function checkAdamW(fn: string, field: string, config: unknown): AdamWConfig {
  const c = record(fn, field, config, "{ beta1, beta2, eps, weightDecay, decay }");
  for (const beta of ["beta1", "beta2"]) {
    const b = finite(fn, `${field}.${beta}`, c[beta]);
    if (b < 0 || b >= 1) fail(fn, `${field}.${beta} must be in [0, 1), got ${b}`);
  }
  if (finite(fn, `${field}.eps`, c.eps) < 0) fail(fn, `${field}.eps must be >= 0, got ${c.eps}`);
  if (finite(fn, `${field}.weightDecay`, c.weightDecay) < 0) fail(fn, `${field}.weightDecay must be >= 0, got ${c.weightDecay}`);
  oneOf(fn, `${field}.decay`, c.decay, ["all", "matrices"]);
  return config as AdamWConfig;
}

/** torch.optim.AdamW's defaults. */
export const TORCH_ADAMW: Readonly<AdamWConfig> = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, decay: "all" };

export interface AdamWState<T> {
  /** () number of steps taken, in the parameters' float dtype. */
  step: np.Array;
  /** First moments, shaped as the parameters. */
  m: T;
  /** Second moments, shaped as the parameters. */
  v: T;
}

/** Zero moments and step count for `params`. Borrows the parameters. */
export function initAdamW<T>(params: T): AdamWState<T> {
  const leaves = tree.leaves(params as JsTree<np.Array>) as np.Array[];
  if (leaves.length === 0) fail("initAdamW", "params has no arrays");
  const zeros = () => tree.map((p: np.Array) => np.zeros(p.shape, { dtype: p.dtype }), params as JsTree<np.Array>) as T;
  return { step: np.zeros([], { dtype: leaves[0].dtype }), m: zeros(), v: zeros() };
}

/**
 * One AdamW update. Consumes params, grads, state and an array `lr`; returns
 * the new parameters and state.
 */
export function adamwUpdate<T>(
  params: T,
  grads: T,
  state: AdamWState<T>,
  lr: np.Array | number,
  config: AdamWConfig,
): { params: T; state: AdamWState<T> } {
  const [ps, def] = tree.flatten(params as JsTree<np.Array>) as [np.Array[], ReturnType<typeof tree.structure>];
  const [gs, gdef] = tree.flatten(grads as JsTree<np.Array>) as [np.Array[], ReturnType<typeof tree.structure>];
  const ms = tree.leaves(state.m as JsTree<np.Array>) as np.Array[];
  const vs = tree.leaves(state.v as JsTree<np.Array>) as np.Array[];
  if (!def.equals(gdef) || ms.length !== ps.length || vs.length !== ps.length) {
    const shapes = (xs: np.Array[]) => xs.map((x) => `(${x.shape.join(", ")})`).join(" ");
    for (const x of [...ps, ...gs, ...ms, ...vs, state.step]) x.dispose();
    if (typeof lr !== "number") lr.dispose();
    fail(
      "adamwUpdate",
      `params and grads (and the state's moments) must have the same structure, got params ${shapes(ps)} and grads ${shapes(gs)}`,
    );
  }
  const { beta1, beta2, eps, weightDecay } = config;
  const t = np.add(state.step, 1); // ()
  const bc1 = np.subtract(1, np.exp(np.multiply(t.ref, Math.log(beta1)))); // () 1 - beta1^t
  const bc2 = np.subtract(1, np.exp(np.multiply(t.ref, Math.log(beta2)))); // () 1 - beta2^t
  const lrOf = () => (typeof lr === "number" ? lr : lr.ref);
  const outP: np.Array[] = [];
  const outM: np.Array[] = [];
  const outV: np.Array[] = [];
  for (let i = 0; i < ps.length; i++) {
    let p = ps[i];
    const g = gs[i];
    if (weightDecay !== 0 && (config.decay === "all" || p.ndim >= 2)) {
      p = np.multiply(p, np.subtract(1, np.multiply(lrOf(), weightDecay))); // p (1 - lr lambda)
    }
    const m = np.add(np.multiply(ms[i], beta1), np.multiply(g.ref, 1 - beta1));
    const v = np.add(np.multiply(vs[i], beta2), np.multiply(np.square(g), 1 - beta2));
    const mHat = np.divide(m.ref, bc1.ref);
    const vHat = np.divide(v.ref, bc2.ref);
    const update = np.divide(mHat, np.add(np.sqrt(vHat), eps));
    outP.push(np.subtract(p, np.multiply(update, lrOf())));
    outM.push(m);
    outV.push(v);
  }
  bc1.dispose();
  bc2.dispose();
  if (typeof lr !== "number") lr.dispose();
  const build = (xs: np.Array[]) => tree.unflatten(def, xs) as unknown as T;
  return { params: build(outP), state: { step: t, m: build(outM), v: build(outV) } };
}
