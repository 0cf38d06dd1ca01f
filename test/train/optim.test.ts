/** AdamW against torch.optim.AdamW's update written out in float64, the schedule and clipping against their formulas. "cpu" device. */
import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, it } from "vitest";
import { init } from "../../src/runtime/init.js";
import { type AdamWConfig, adamwUpdate, initAdamW, TORCH_ADAMW } from "../../src/train/adamw.js";
import { clipByGlobalNorm, globalNorm } from "../../src/train/clip.js";
import { learningRate } from "../../src/train/schedule.js";
import { arr } from "../attention/reference.js";
import { randn, read } from "../gradcheck.js";
import { expectClose, FLOAT64_FORMULA } from "../tolerance.js";

beforeAll(async () => {
  await init({ device: "cpu" });
});

/**
 * torch.optim.AdamW, single-tensor path (torch/optim/adamw.py `_single_tensor_adamw`,
 * amsgrad=False, maximize=False), in float64 JS:
 *   step += 1
 *   param *= 1 - lr * weight_decay
 *   exp_avg.lerp_(grad, 1 - beta1)                      (m = beta1 m + (1 - beta1) g)
 *   exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1 - beta2)
 *   bias_correction1 = 1 - beta1 ** step;  bias_correction2 = 1 - beta2 ** step
 *   step_size = lr / bias_correction1
 *   denom = exp_avg_sq.sqrt() / sqrt(bias_correction2) + eps
 *   param.addcdiv_(exp_avg, denom, value=-step_size)
 */
function torchAdamW(
  p: Float64Array,
  grads: Float64Array[],
  lrs: number[],
  c: { beta1: number; beta2: number; eps: number; wd: number },
): Float64Array {
  const x = Float64Array.from(p);
  const m = new Float64Array(p.length);
  const v = new Float64Array(p.length);
  grads.forEach((g, s) => {
    const step = s + 1;
    const lr = lrs[s];
    const bc1 = 1 - c.beta1 ** step;
    const bc2 = 1 - c.beta2 ** step;
    for (let i = 0; i < x.length; i++) {
      x[i] *= 1 - lr * c.wd;
      m[i] = c.beta1 * m[i] + (1 - c.beta1) * g[i];
      v[i] = c.beta2 * v[i] + (1 - c.beta2) * g[i] * g[i];
      const denom = Math.sqrt(v[i]) / Math.sqrt(bc2) + c.eps;
      x[i] += (-lr / bc1) * (m[i] / denom);
    }
  });
  return x;
}

describe("AdamW", () => {
  it("matches torch.optim.AdamW over 4 steps with a changing learning rate; decay on matrices only", async () => {
    const config: AdamWConfig = { beta1: 0.8, beta2: 0.95, eps: 1e-3, weightDecay: 0.1, decay: "matrices" };
    const w = randn([3, 4], 1);
    const b = randn([4], 2);
    const lrs = [0.1, 0.05, 0.2, 0.01];
    const gw = lrs.map((_, s) => randn([3, 4], 10 + s).data);
    const gb = lrs.map((_, s) => randn([4], 20 + s, 1e-3).data); // small gradients: eps matters
    let params = { w: arr(w), b: arr(b) };
    let state = initAdamW(params);
    for (let s = 0; s < lrs.length; s++) {
      const lr = s % 2 === 0 ? lrs[s] : np.array(Float64Array.of(lrs[s])).reshape([]);
      ({ params, state } = adamwUpdate(params, { w: np.array(gw[s]).reshape([3, 4]), b: np.array(gb[s]) }, state, lr, config));
    }
    const c = { beta1: 0.8, beta2: 0.95, eps: 1e-3 };
    expectClose(await read(params.w), torchAdamW(w.data, gw, lrs, { ...c, wd: 0.1 }), FLOAT64_FORMULA, "w");
    expectClose(await read(params.b), torchAdamW(b.data, gb, lrs, { ...c, wd: 0 }), FLOAT64_FORMULA, "b (no decay)");
    expect(Array.from(await read(state.step))).toEqual([4]);
  });

  it("torch defaults decay every parameter", async () => {
    const b = randn([5], 3);
    const g = [randn([5], 4).data, randn([5], 5).data];
    let params = [arr(b)];
    let state = initAdamW(params);
    for (const gs of g) ({ params, state } = adamwUpdate(params, [np.array(gs)], state, 0.01, TORCH_ADAMW));
    expectClose(
      await read(params[0]),
      torchAdamW(b.data, g, [0.01, 0.01], { beta1: 0.9, beta2: 0.999, eps: 1e-8, wd: 0.01 }),
      FLOAT64_FORMULA,
      "b",
    );
  });

  it("refuses gradients of another structure, naming the shapes", () => {
    const params = { w: np.zeros([2, 2], { dtype: np.float64 }) };
    const state = initAdamW(params);
    expect(() =>
      adamwUpdate(
        params,
        { w: np.zeros([2, 2], { dtype: np.float64 }), extra: np.zeros([3], { dtype: np.float64 }) } as typeof params,
        state,
        0.1,
        TORCH_ADAMW,
      ),
    ).toThrow(
      "adamwUpdate: params and grads (and the state's moments) must have the same structure, got params (2, 2) and grads (2, 2) (3)",
    );
  });
});

describe("cosine schedule with linear warmup", () => {
  const s = { peak: 1e-3, floor: 1e-4, warmup: 10, total: 110 };
  it("equals its formula at every step, reaches peak at the end of warmup and the floor at total", () => {
    for (let step = 0; step <= 130; step++) {
      let expected: number;
      if (step < 10) expected = (1e-3 * (step + 1)) / 11;
      else if (step > 110) expected = 1e-4;
      else expected = 1e-4 + 0.5 * (1e-3 - 1e-4) * (1 + Math.cos((Math.PI * (step - 10)) / 100));
      expect(learningRate(step, s)).toBeCloseTo(expected, 15);
    }
    expect(learningRate(10, s)).toBe(1e-3);
    expect(learningRate(60, s)).toBeCloseTo(5.5e-4, 15); // half way: the mean of peak and floor
    expect(learningRate(110, s)).toBeCloseTo(1e-4, 15);
  });
  it("refuses inconsistent settings", () => {
    expect(() => learningRate(0, { ...s, total: 10 })).toThrow("learningRate: schedule.total (10) must be > schedule.warmup (10)");
    expect(() => learningRate(0, { ...s, floor: 2e-3 })).toThrow("learningRate: schedule.floor must be in [0, peak = 0.001], got 0.002");
    expect(() => learningRate(-1, s)).toThrow("learningRate: step must be an integer >= 0, got -1");
  });
});

describe("global-norm clipping", () => {
  const a = randn([3, 2], 6, 3);
  const b = randn([4], 7, 3);
  const norm = Math.sqrt([...a.data, ...b.data].reduce((s, x) => s + x * x, 0));
  it("the norm is sqrt of the sum of squares over every array", async () => {
    expectClose(await read(globalNorm({ a: arr(a), b: [arr(b)] })), [norm], FLOAT64_FORMULA, "norm");
  });
  it("scales by maxNorm / (norm + 1e-6) when above, leaves the gradients when below", async () => {
    const clipped = clipByGlobalNorm({ a: arr(a), b: arr(b) }, 1);
    expectClose(await read(clipped.norm), [norm], FLOAT64_FORMULA, "norm before clipping");
    const f = 1 / (norm + 1e-6);
    expectClose(await read(globalNorm(clipped.grads)), [norm * f], FLOAT64_FORMULA, "norm after clipping"); // borrows the tree
    expectClose(
      await read(clipped.grads.a),
      a.data.map((x) => x * f),
      FLOAT64_FORMULA,
      "a",
    );
    const kept = clipByGlobalNorm({ a: arr(a), b: arr(b) }, 2 * norm);
    expectClose(await read(kept.grads.b), b.data, FLOAT64_FORMULA, "b unclipped");
  });
});
