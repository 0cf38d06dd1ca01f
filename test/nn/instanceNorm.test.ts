/** instanceNorm against torch's nn.InstanceNorm2d(C) (float64 fixture), gradients, jit, errors. */
import { jit, numpy as np, vjp } from "@jax-js/jax";
import { beforeAll, describe, expect, it } from "vitest";
import { instanceNorm } from "../../src/nn/instanceNorm.js";
import { init } from "../../src/runtime/init.js";
import { fixture } from "../fixtures.js";
import { checkGradients, randn, read } from "../gradcheck.js";
import { expectClose, FLOAT64_FORMULA, JIT_VS_EAGER } from "../tolerance.js";

beforeAll(async () => {
  await init({ device: "cpu" });
});

interface Case {
  shape: [number, number, number, number];
  eps: number;
  x: number[];
  y: number[];
  cotangent: number[];
  gradX: number[];
}

/** torch's (B, C, H, W) data as posenc's channel-last (B, H, W, C) array. */
const channelLast = (data: number[], [B, C, H, W]: number[]) =>
  np.array(Float64Array.from(data)).reshape([B, C, H, W]).transpose([0, 2, 3, 1]);
/** A channel-last result back in torch's (B, C, H, W) order. */
const channelFirst = (y: np.Array) => read(y.transpose([0, 3, 1, 2]));

describe("instanceNorm equals torch's nn.InstanceNorm2d(C) (float64 fixture)", () => {
  const f = fixture<Case>("instance_norm");
  for (const c of f.cases) {
    it(`${c.shape.join("x")} (B, C, H, W), eps ${c.eps}: values and the gradient w.r.t. x`, async () => {
      // Outputs are O(1): centering (x - mean) cancels |mean| <= 10 to ~1e-15, well inside FLOAT64_FORMULA.
      expectClose(await channelFirst(instanceNorm(channelLast(c.x, c.shape), c.eps)), c.y, FLOAT64_FORMULA, "y");
      const [y, pullback] = vjp((x: np.Array) => instanceNorm(x, c.eps), [channelLast(c.x, c.shape)]);
      y.dispose();
      const [g] = pullback(channelLast(c.cotangent, c.shape)) as np.Array[];
      pullback.dispose();
      expectClose(await channelFirst(g), c.gradX, FLOAT64_FORMULA, "d <y, cotangent> / dx");
    });
  }
});

describe("instanceNorm", () => {
  it("normalises every (sample, channel) over H and W: mean 0 and biased variance 1 (eps 0)", async () => {
    const x = randn([2, 3, 4, 5], 4, 3);
    const y = await read(instanceNorm(np.array(x.data).reshape(x.shape), 0));
    for (let b = 0; b < 2; b++)
      for (let c = 0; c < 5; c++) {
        const v: number[] = [];
        for (let i = 0; i < 12; i++) v.push(y[(b * 12 + i) * 5 + c]);
        const mean = v.reduce((s, a) => s + a, 0) / 12;
        const variance = v.reduce((s, a) => s + (a - mean) ** 2, 0) / 12;
        expect(Math.abs(mean)).toBeLessThan(1e-14);
        expect(Math.abs(variance - 1)).toBeLessThan(1e-14);
      }
  });

  it("is differentiable (float64 central differences)", async () => {
    await checkGradients((x) => instanceNorm(x), [randn([2, 3, 2, 4], 9)]);
  });

  it("jit equals eager", async () => {
    const x = randn([2, 4, 3, 6], 11, 2);
    const f = jit((a: np.Array) => instanceNorm(a, 1e-3));
    const eager = await read(instanceNorm(np.array(x.data).reshape(x.shape), 1e-3));
    expectClose(await read(f(np.array(x.data).reshape(x.shape))), eager, JIT_VS_EAGER, "jit");
    f.dispose();
  });

  it("rejects a non-4-D x and a bad eps, disposing x", () => {
    const a = np.zeros([2, 3, 4], { dtype: np.float64 });
    expect(() => instanceNorm(a)).toThrow("instanceNorm: x must be (B, H, W, C), got (2, 3, 4)");
    expect(a.refCount).toBe(0);
    const b = np.zeros([1, 2, 2, 1], { dtype: np.float64 });
    expect(() => instanceNorm(b, -1)).toThrow("instanceNorm: eps must be a finite number >= 0, got -1");
    expect(b.refCount).toBe(0);
  });
});
