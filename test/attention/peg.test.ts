import { jit, numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, it } from "vitest";
import { peg } from "../../src/attention/peg.js";
import { peg as pegReference } from "../../src/pe/peg.js";
import { init } from "../../src/runtime/init.js";
import { fixture } from "../fixtures.js";
import { checkGradients, type Input, randn, read } from "../gradcheck.js";
import { expectClose, FLOAT64_FORMULA } from "../tolerance.js";

beforeAll(async () => {
  await init({ device: "cpu" });
});

const arr = (x: Input) => np.array(x.data).reshape(x.shape);

describe("attention.peg (jax-js) equals timm's Twins PosConv (float64 fixture)", () => {
  const f = fixture<{ height: number; width: number; channels: number; weight: number[]; bias: number[]; x: number[]; y: number[] }>(
    "twins_peg",
  );
  for (const c of f.cases) {
    it(`${c.height}x${c.width}x${c.channels}`, async () => {
      const N = c.height * c.width;
      const out = peg(
        np.array(Float64Array.from(c.x)).reshape([1, N, c.channels]),
        np.array(Float64Array.from(c.weight)).reshape([c.channels, 3, 3]),
        np.array(Float64Array.from(c.bias)),
        { height: c.height, width: c.width },
      );
      expectClose(await read(out), c.y, FLOAT64_FORMULA);
    });
  }
});

describe("attention.peg equals pe/peg, batched", () => {
  for (const [H, W, C] of [
    [4, 5, 3],
    [1, 1, 2],
    [6, 2, 4],
  ]) {
    it(`2 x ${H}x${W}x${C}, eager and jit`, async () => {
      const x = randn([2, H * W, C], H * 100 + W);
      const w = randn([C, 3, 3], 7);
      const b = randn([C], 8);
      const expected = new Float64Array(2 * H * W * C);
      for (let i = 0; i < 2; i++)
        expected.set(
          pegReference(x.data.subarray(i * H * W * C, (i + 1) * H * W * C), w.data, b.data, { height: H, width: W }),
          i * H * W * C,
        );
      expectClose(await read(peg(arr(x), arr(w), arr(b), { height: H, width: W })), expected, FLOAT64_FORMULA, "eager");
      const jitted = jit((xa: np.Array, wa: np.Array, ba: np.Array) => peg(xa, wa, ba, { height: H, width: W }));
      expectClose(await read(jitted(arr(x), arr(w), arr(b))), expected, FLOAT64_FORMULA, "jit");
      jitted.dispose();
    });
  }

  it("is differentiable in x, weight and bias", async () => {
    await checkGradients((x, w, b) => peg(x, w, b, { height: 3, width: 4 }), [randn([2, 12, 3], 1), randn([3, 3, 3], 2), randn([3], 3)]);
  });

  it("rejects bad shapes and grids, consuming its arguments", () => {
    const z = (s: number[]) => np.zeros(s, { dtype: np.float64 });
    const cases: [np.Array[], { height: number; width: number }, RegExp][] = [
      [
        [z([1, 10, 2]), z([2, 3, 3]), z([2])],
        { height: 2, width: 3 },
        /pegLayer: x must be \(B, H \* W, C\) = \(B, 6, C\) for grid 2x3, got \(1, 10, 2\)/,
      ],
      [
        [z([1, 6, 2]), z([2, 1, 3, 3]), z([2])],
        { height: 2, width: 3 },
        /pegLayer: weight must be \(C, 3, 3\) = \(2, 3, 3\), got \(2, 1, 3, 3\)/,
      ],
      [[z([1, 6, 2]), z([2, 3, 3]), z([3])], { height: 2, width: 3 }, /pegLayer: bias must be \(C\) = \(2\), got \(3\)/],
      [[z([1, 6, 2]), z([2, 3, 3]), z([2])], { height: 2.5, width: 3 }, /pegLayer: grid.height must be an integer >= 1, got 2.5/],
    ];
    for (const [[x, w, b], grid, message] of cases) {
      expect(() => peg(x, w, b, grid)).toThrow(message);
      expect([x.refCount, w.refCount, b.refCount]).toEqual([0, 0, 0]);
    }
  });
});
