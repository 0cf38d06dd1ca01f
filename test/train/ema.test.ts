/** The parameter average against its recursion in float64, on the exact cpu device. */
import { type JsTree, numpy as np, tree } from "@jax-js/jax";
import { beforeAll, describe, expect, it } from "vitest";
import { init } from "../../src/runtime/init.js";
import { emaDecay, initEma, makeEmaUpdate } from "../../src/train/ema.js";
import { read } from "../gradcheck.js";
import { expectClose, FLOAT64_FORMULA } from "../tolerance.js";

beforeAll(async () => {
  await init({ device: "cpu" });
});

describe("exponential moving average", () => {
  it("d_n = min(decay, (1 + n) / (10 + n)); refuses bad arguments", () => {
    expect(emaDecay(0, 0.999)).toBe(0.1);
    expect(emaDecay(8, 0.999)).toBe(9 / 18);
    expect(emaDecay(100000, 0.999)).toBe(0.999);
    expect(() => emaDecay(-1, 0.9)).toThrow("emaDecay: update");
    expect(() => emaDecay(1, 1)).toThrow("emaDecay: decay must be a number in [0, 1), got 1");
  });

  it("follows ema <- d ema + (1 - d) theta over 5 updates of a pytree, leaving the parameters intact", async () => {
    const theta = (n: number) => ({ w: Float64Array.of(1 + n, -2 * n, 0.5), b: Float64Array.of(n * n) });
    const asArrays = (t: { w: Float64Array; b: Float64Array }) => ({ w: np.array(t.w).reshape([3]), b: np.array(t.b) });
    let params = asArrays(theta(0));
    let ema = initEma(params);
    const want = { w: Float64Array.from(theta(0).w), b: Float64Array.from(theta(0).b) };
    const update = makeEmaUpdate<typeof params>();
    for (let n = 1; n <= 5; n++) {
      tree.dispose(params as unknown as JsTree<np.Array>);
      params = asArrays(theta(n));
      const d = emaDecay(n - 1, 0.9);
      ema = update(ema, params, d);
      for (const k of ["w", "b"] as const) want[k] = want[k].map((e, i) => d * e + (1 - d) * theta(n)[k][i]);
    }
    update.dispose();
    expectClose(await read(ema.w), want.w, FLOAT64_FORMULA, "w");
    expectClose(await read(ema.b), want.b, FLOAT64_FORMULA, "b");
    expect(Array.from(await read(params.w))).toEqual(Array.from(theta(5).w));
    expect(() => makeEmaUpdate()(ema, params, 2)).toThrow("emaUpdate: d must be a number in [0, 1], got 2");
    params.b.dispose();
  });
});
