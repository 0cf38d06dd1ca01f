import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, it } from "vitest";
import { lepe } from "../../src/attention/lepe.js";
import { init } from "../../src/runtime/init.js";
import { checkGradients, type Input, randn, read } from "../gradcheck.js";
import { expectClose, FLOAT64_FORMULA } from "../tolerance.js";
import { blockConv } from "./cswinReference.js";

beforeAll(async () => {
  await init({ device: "cpu" });
});

const arr = (x: Input) => np.array(x.data).reshape(x.shape);

describe("lepe: depthwise 3x3 convolution of V inside each window", () => {
  // [H, W, windowHeight, windowWidth]: dividing windows, truncated ones (padding), CSWin stripes, one window, 1x1 windows
  for (const [H, W, wh, ww] of [
    [4, 6, 2, 3],
    [5, 7, 2, 3],
    [5, 4, 5, 1],
    [3, 5, 3, 5],
    [3, 3, 1, 1],
    [2, 3, 9, 9],
  ]) {
    it(`${H}x${W} grid, ${wh}x${ww} windows`, async () => {
      const C = 3;
      const v = randn([2, H * W, C], H * 10 + W);
      const w = randn([C, 3, 3], 5);
      const b = randn([C], 6);
      const expected = new Float64Array(v.data.length);
      const block = (r: number, c: number) => Math.floor(r / wh) * 1000 + Math.floor(c / ww);
      blockConv(v.data, w.data, b.data, { batch: 2, height: H, width: W, channels: C }, 0, C, block, expected);
      const out = lepe(arr(v), arr(w), arr(b), { height: H, width: W, windowHeight: wh, windowWidth: ww });
      expectClose(await read(out), expected, FLOAT64_FORMULA);
    });
  }

  it("with windows that do not divide the grid, equals the convolution of each truncated window on its own", async () => {
    // 3x5 grid, 2x2 windows: the bottom-right window holds only cell (2, 4)
    const v = randn([1, 15, 1], 3);
    const w = randn([1, 3, 3], 4);
    const b = { data: Float64Array.of(0.25), shape: [1] };
    const out = await read(lepe(arr(v), arr(w), arr(b), { height: 3, width: 5, windowHeight: 2, windowWidth: 2 }));
    // alone in its window, the cell sees only itself: the centre tap
    expect(out[14]).toBeCloseTo(0.25 + w.data[4] * v.data[14], 14);
  });

  it("is differentiable in v, weight and bias (padded windows)", async () => {
    await checkGradients(
      (v, w, b) => lepe(v, w, b, { height: 3, width: 5, windowHeight: 2, windowWidth: 2 }),
      [randn([2, 15, 2], 1), randn([2, 3, 3], 2), randn([2], 3)],
    );
  });

  it("rejects bad shapes and windows, consuming its arguments", () => {
    const z = (s: number[]) => np.zeros(s, { dtype: np.float64 });
    const g = { height: 2, width: 3, windowHeight: 2, windowWidth: 1 };
    const cases: [np.Array[], typeof g, RegExp][] = [
      [[z([1, 5, 2]), z([2, 3, 3]), z([2])], g, /lepe: v must be \(B, H \* W, C\) = \(B, 6, C\) for grid 2x3, got \(1, 5, 2\)/],
      [[z([1, 6, 2]), z([3, 3, 3]), z([2])], g, /lepe: weight must be \(C, 3, 3\) = \(2, 3, 3\), got \(3, 3, 3\)/],
      [[z([1, 6, 2]), z([2, 3, 3]), z([1, 2])], g, /lepe: bias must be \(C\) = \(2\), got \(1, 2\)/],
      [[z([1, 6, 2]), z([2, 3, 3]), z([2])], { ...g, windowWidth: 0 }, /lepe: windows.windowWidth must be an integer >= 1, got 0/],
    ];
    for (const [[v, w, b], windows, message] of cases) {
      expect(() => lepe(v, w, b, windows)).toThrow(message);
      expect([v.refCount, w.refCount, b.refCount]).toEqual([0, 0, 0]);
    }
  });
});
