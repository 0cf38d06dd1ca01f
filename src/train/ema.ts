/**
 * Exponential moving average of the parameters (Polyak averaging), the
 * weights diffusion models sample with (DiT keeps one at decay 0.9999):
 *
 *   ema_0 = theta_0,   ema <- d_n ema + (1 - d_n) theta_n,   d_n = min(decay, (1 + n) / (10 + n))
 *
 * at update n = 0, 1, ... The warm-up of d_n (TensorFlow's
 * `ExponentialMovingAverage` with `num_updates`) lets a short training's
 * average forget its random initialisation: at decay 0.999 the average of
 * 2000 steps would otherwise still hold 0.999^2000 = 13% of theta_0.
 *
 * Reference: Polyak & Juditsky (1992); Peebles & Xie, DiT,
 * https://arxiv.org/abs/2212.09748 (`update_ema`); TensorFlow
 * `tf.train.ExponentialMovingAverage`.
 */
import { type JsTree, jit, numpy as np, tree } from "@jax-js/jax";
import { constant } from "../core/constant.js";
import { fail, integer } from "../core/validate.js";

/** d_n = min(decay, (1 + n) / (10 + n)). */
export function emaDecay(update: number, decay: number): number {
  const fn = "emaDecay";
  const n = integer(fn, "update", update, 0);
  if (!(typeof decay === "number" && decay >= 0 && decay < 1)) fail(fn, `decay must be a number in [0, 1), got ${decay}`);
  return Math.min(decay, (1 + n) / (10 + n));
}

/** A copy of the parameters to average into (ema_0 = theta_0). Borrows params. */
export function initEma<P>(params: P): P {
  return tree.map((a: np.Array) => np.multiply(a.ref, 1), params as unknown as JsTree<np.Array>) as unknown as P;
}

/** One averaging update: consumes ema, borrows params; d is d_n (`emaDecay`). */
export interface EmaUpdate<P> {
  (ema: P, params: P, d: number): P;
  dispose(): void;
}

/** The update, jitted once per parameter structure. */
export function makeEmaUpdate<P>(): EmaUpdate<P> {
  const compiled = jit((ema: JsTree<np.Array>, params: JsTree<np.Array>, d: np.Array) => {
    const out = tree.map((e: np.Array, p: np.Array) => np.add(np.multiply(e, d.ref), np.multiply(p, np.subtract(1, d.ref))), ema, params);
    d.dispose();
    return out;
  });
  const update = ((ema: P, params: P, d: number) => {
    if (!(typeof d === "number" && d >= 0 && d <= 1)) fail("emaUpdate", `d must be a number in [0, 1], got ${d}`);
    const dtype = (tree.leaves(params as unknown as JsTree<np.Array>) as np.Array[])[0].dtype;
    return compiled(
      ema as unknown as JsTree<np.Array>,
      tree.ref(params as unknown as JsTree<np.Array>),
      constant([d], dtype).reshape([]),
    ) as unknown as P;
  }) as EmaUpdate<P>;
  update.dispose = () => compiled.dispose();
  return update;
}
