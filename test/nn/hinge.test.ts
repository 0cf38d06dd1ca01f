/** Hinge GAN losses against their float64 formula, gradients, jit, errors. */
import { grad, jit, numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, it } from "vitest";
import { hingeDiscriminatorLoss, hingeGeneratorLoss } from "../../src/nn/hinge.js";
import { init } from "../../src/runtime/init.js";
import { checkGradients, randn, read } from "../gradcheck.js";
import { expectClose, FLOAT64_FORMULA, JIT_VS_EAGER } from "../tolerance.js";

beforeAll(async () => {
  await init({ device: "cpu" });
});

const f64 = (data: ArrayLike<number>, shape: number[]) => np.array(Float64Array.from(data)).reshape(shape);
const mean = (x: ArrayLike<number>) => Array.from(x).reduce((s, a) => s + a, 0) / x.length;
const relu = (x: number) => Math.max(x, 0);

describe("hinge GAN losses (BigGAN / HWT loss_hinge_dis, loss_hinge_gen)", () => {
  const real = randn([4, 1], 1, 1.5);
  const fake = randn([3, 5], 2, 1.5); // per-patch scores: any shape, mean over all of them

  it("L_D = mean(relu(1 - real)) + mean(relu(1 + fake)); L_G = -mean(fake)", async () => {
    const expectedD = mean(real.data.map((r) => relu(1 - r))) + mean(fake.data.map((f) => relu(1 + f)));
    expectClose(
      await read(hingeDiscriminatorLoss(f64(real.data, real.shape), f64(fake.data, fake.shape))),
      [expectedD],
      FLOAT64_FORMULA,
      "L_D",
    );
    expectClose(await read(hingeGeneratorLoss(f64(fake.data, fake.shape))), [-mean(fake.data)], FLOAT64_FORMULA, "L_G");
  });

  it("is 0 for the discriminator once real >= 1 and fake <= -1, with zero gradients there", async () => {
    const r = [1, 2.5, 7];
    const f = [-1, -3];
    expect(Array.from(await read(hingeDiscriminatorLoss(f64(r, [3]), f64(f, [2]))))).toEqual([0]);
    const g = grad((a: np.Array) => hingeDiscriminatorLoss(a, f64(f, [2])))(f64(r, [3]));
    expect(Array.from(await read(g))).toEqual([0, 0, 0]);
    // Inside the margin: d L_D / d real = -1 / n_real, d L_D / d fake = 1 / n_fake.
    const gr = grad((a: np.Array) => hingeDiscriminatorLoss(a, f64([0], [1])))(f64([0.5, -2], [2]));
    expectClose(await read(gr), [-0.5, -0.5], FLOAT64_FORMULA, "d / d real");
  });

  it("is differentiable (float64 central differences; scores away from the kinks)", async () => {
    await checkGradients((r, f) => hingeDiscriminatorLoss(r, f), [randn([6], 3), randn([2, 3], 4)]);
    await checkGradients((f) => hingeGeneratorLoss(f), [randn([5, 2], 5)]);
  });

  it("jit equals eager", async () => {
    const d = jit((r: np.Array, f: np.Array) => hingeDiscriminatorLoss(r, f));
    const eager = await read(hingeDiscriminatorLoss(f64(real.data, real.shape), f64(fake.data, fake.shape)));
    expectClose(await read(d(f64(real.data, real.shape), f64(fake.data, fake.shape))), eager, JIT_VS_EAGER, "L_D");
    d.dispose();
  });

  it("consumes its scores and rejects empty ones by name", () => {
    const r = f64([0.2], [1]);
    const f = f64([0.1, 0.3], [2]);
    hingeDiscriminatorLoss(r, f).dispose();
    expect([r.refCount, f.refCount]).toEqual([0, 0]);
    const e = np.zeros([0], { dtype: np.float64 });
    const k = f64([1], [1]);
    expect(() => hingeDiscriminatorLoss(k, e)).toThrow("hingeDiscriminatorLoss: fakeScores must hold at least one score, got (0)");
    expect([e.refCount, k.refCount]).toEqual([0, 0]);
    const e2 = np.zeros([2, 0], { dtype: np.float64 });
    expect(() => hingeGeneratorLoss(e2)).toThrow("hingeGeneratorLoss: fakeScores must hold at least one score, got (2, 0)");
  });
});
