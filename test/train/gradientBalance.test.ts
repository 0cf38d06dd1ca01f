/**
 * HWT / WriteViT gradient balancing against a PyTorch re-enactment of their
 * generator step (float64 fixture), the std formula, jit, errors.
 */
import { jit, nn, numpy as np, vjp } from "@jax-js/jax";
import { beforeAll, describe, expect, it } from "vitest";
import { init } from "../../src/runtime/init.js";
import {
  balancedImageGradient,
  gradientBalanceWeight,
  HWT_GRADIENT_BALANCE,
  WRITEVIT_GRADIENT_BALANCE,
} from "../../src/train/gradientBalance.js";
import { fixture } from "../fixtures.js";
import { randn, read } from "../gradcheck.js";
import { expectClose, FLOAT64_FORMULA, JIT_VS_EAGER } from "../tolerance.js";

beforeAll(async () => {
  await init({ device: "cpu" });
});

interface Case {
  procedure: "writevit" | "hwt";
  theta: number[];
  shape: number[];
  wd: number[];
  t1: number[];
  w2: number[];
  adversarialWeight: number;
  alpha: number[];
  eps: number;
  gradAdvImage: number[];
  gradAuxImage: number[][];
  weights: number[];
  losses: number[];
  paramGrads: number[][];
  accumulated: number[];
  intended: number[];
}

const f64 = (data: ArrayLike<number>, shape: number[]) => np.array(Float64Array.from(data)).reshape(shape);

/** The fixture's toy losses of the image x (B, H, W, C), as the generator wrote them in torch. */
function losses(c: Case) {
  const [, H, W, C] = c.shape;
  const wd = f64(c.wd, [H, W, C]);
  const t1 = f64(c.t1, c.shape);
  const w2 = f64(c.w2, [H, W, C]);
  const adversarial = (x: np.Array) => np.negative(np.mean(np.sum(np.multiply(x, wd.ref), [1, 2, 3]))); // -mean_b sum x_b wd
  const ocr = (x: np.Array) => np.mean(np.square(np.subtract(x, t1.ref)));
  const writer = (x: np.Array) => np.mean(nn.softplus(np.multiply(x, w2.ref)));
  return {
    adversarial,
    auxiliary: c.procedure === "writevit" ? [ocr, writer] : [ocr],
    dispose: () => [wd, t1, w2].forEach((a) => a.dispose()),
  };
}

describe("balancedImageGradient equals the HWT / WriteViT generator step in PyTorch (float64 fixture)", () => {
  const f = fixture<Case>("gradient_balance");
  for (const c of f.cases) {
    it(`${c.procedure}: image gradients, weights a_k, and the gradient of L_G pulled back through the generator`, async () => {
      const options = c.procedure === "writevit" ? WRITEVIT_GRADIENT_BALANCE : HWT_GRADIENT_BALANCE;
      expect([options.adversarialWeight, options.eps]).toEqual([c.adversarialWeight, c.eps]);
      for (const a of c.alpha) expect(options.alpha).toBe(a);
      const { adversarial, auxiliary, dispose } = losses(c);
      const [image, pullback] = vjp((theta: np.Array) => np.tanh(theta), [f64(c.theta, c.shape)]);
      const b = balancedImageGradient(image, adversarial, auxiliary, options);
      // Each step is a handful of float64 roundings on O(1) values: FLOAT64_FORMULA.
      expectClose(await read(b.adversarial), [c.losses[0]], FLOAT64_FORMULA, "L_adv");
      for (const [k, loss] of b.auxiliary.entries()) expectClose(await read(loss), [c.losses[k + 1]], FLOAT64_FORMULA, `L_${k}`);
      const weights = await Promise.all(b.weights.map((w) => read(w)));
      expectClose(
        weights.map((w) => w[0]),
        c.weights,
        FLOAT64_FORMULA,
        "a_k",
      );
      const expectedTotal = c.adversarialWeight * c.losses[0] + c.weights.reduce((s, a, k) => s + a * c.losses[k + 1], 0);
      expectClose(await read(b.total), [expectedTotal], FLOAT64_FORMULA, "L_G");
      const [g] = pullback(b.gradient) as np.Array[];
      pullback.dispose();
      expectClose(await read(g), c.intended, FLOAT64_FORMULA, "d L_G / d theta");
      dispose();
    });

    it(`${c.procedure}: the official sequence of backward calls accumulates ${c.procedure === "writevit" ? "5 L_adv + (1 + 2a) L_OCR + (1 + 2b) L_W" : "3 L_adv + (1 + 2a) L_OCR"}`, () => {
      const coefficients = [c.procedure === "writevit" ? 5 : 3, ...c.weights.map((a) => 1 + 2 * a)];
      const predicted = c.accumulated.map((_, i) => coefficients.reduce((s, w, k) => s + w * c.paramGrads[k][i], 0));
      expectClose(predicted, c.accumulated, FLOAT64_FORMULA, "accumulated theta.grad");
      const gap = Math.max(...c.accumulated.map((a, i) => Math.abs(a - c.intended[i])));
      expect(gap).toBeGreaterThan(0.01); // not the gradient of the L_G the code defines
    });
  }
});

describe("gradientBalanceWeight", () => {
  it("a = alpha std(gAdv) / (eps + std(gAux)), std unbiased (torch.std)", async () => {
    const gA = randn([3, 4, 5], 1, 0.01);
    const gR = randn([3, 4, 5], 2, 3);
    const std = (x: Float64Array) => {
      const m = x.reduce((s, a) => s + a, 0) / x.length;
      return Math.sqrt(x.reduce((s, a) => s + (a - m) ** 2, 0) / (x.length - 1));
    };
    const expected = (0.3 * std(gA.data)) / (1e-3 + std(gR.data));
    const a = gradientBalanceWeight(f64(gA.data, gA.shape), f64(gR.data, gR.shape), 0.3, 1e-3);
    expectClose(await read(a), [expected], FLOAT64_FORMULA, "a");
  });

  it("rejects mismatched shapes, a single entry and negative constants, disposing both", () => {
    const z = (s: number[]) => np.zeros(s, { dtype: np.float64 });
    const cases: [number[], number[], number, RegExp][] = [
      [[2, 3], [3, 2], 0.7, /gradientBalanceWeight: gradAdv and gradAux must have the same shape, got \(2, 3\) and \(3, 2\)/],
      [[1], [1], 0.7, /gradientBalanceWeight: the unbiased std needs at least 2 entries, got \(1\)/],
      [[2], [2], -1, /gradientBalanceWeight: alpha must be a finite number >= 0, got -1/],
    ];
    for (const [sa, sb, alpha, message] of cases) {
      const [a, b] = [z(sa), z(sb)];
      expect(() => gradientBalanceWeight(a, b, alpha)).toThrow(message);
      expect([a.refCount, b.refCount]).toEqual([0, 0]);
    }
  });
});

describe("balancedImageGradient", () => {
  const x = randn([2, 3, 4, 1], 7);
  const t = randn([2, 3, 4, 1], 8);
  const target = () => f64(t.data, t.shape);
  const adversarial = (a: np.Array) => np.negative(np.mean(a));
  const auxiliary = [(a: np.Array) => np.mean(np.square(np.subtract(a, target())))];

  it("jit equals eager", async () => {
    const eager = balancedImageGradient(f64(x.data, x.shape), adversarial, auxiliary);
    const f = jit((a: np.Array) => {
      const b = balancedImageGradient(a, adversarial, auxiliary, HWT_GRADIENT_BALANCE);
      return [b.gradient, b.total, ...b.weights, b.adversarial, ...b.auxiliary];
    });
    const [gradient, total, weight, ...rest] = f(f64(x.data, x.shape)) as np.Array[];
    expectClose(await read(gradient), await read(eager.gradient), JIT_VS_EAGER, "gradient");
    expectClose(await read(total), await read(eager.total), JIT_VS_EAGER, "total");
    expectClose(await read(weight), await read(eager.weights[0]), JIT_VS_EAGER, "weight");
    for (const a of [...rest, eager.adversarial, ...eager.auxiliary]) a.dispose();
    f.dispose();
  });

  it("consumes the image", async () => {
    const image = f64(x.data, x.shape);
    const b = balancedImageGradient(image, adversarial, auxiliary);
    expect(image.refCount).toBe(0);
    for (const a of [b.gradient, b.total, b.adversarial, ...b.weights, ...b.auxiliary]) a.dispose();
  });

  it("names the function and the argument on errors, disposing the image", () => {
    const cases: [unknown, unknown, object, RegExp][] = [
      [adversarial, [], {}, /balancedImageGradient: auxiliary must be a non-empty array of functions of the image, got \[\]/],
      ["loss", auxiliary, {}, /balancedImageGradient: adversarial must be a function of the image, got "loss"/],
      [
        adversarial,
        auxiliary,
        { alpha: [0.7, 0.7] },
        /balancedImageGradient: options.alpha must be a number or one number per auxiliary loss \(1\), got \[0.7,0.7\]/,
      ],
      [adversarial, auxiliary, { eps: -1 }, /balancedImageGradient: options.eps must be a finite number >= 0, got -1/],
      [(a: np.Array) => a, auxiliary, {}, /balancedImageGradient: adversarial must return a \(\) loss, got \(2, 3, 4, 1\)/],
    ];
    for (const [adv, aux, options, message] of cases) {
      const image = f64(x.data, x.shape);
      const kept = image.ref; // a reference the caller keeps must survive the error
      expect(() => balancedImageGradient(image, adv as (a: np.Array) => np.Array, aux as ((a: np.Array) => np.Array)[], options)).toThrow(
        message,
      );
      expect(kept.refCount).toBe(1);
      kept.dispose();
    }
  });
});
