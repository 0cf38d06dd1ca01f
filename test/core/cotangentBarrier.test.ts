/**
 * The cotangent barrier is the identity in values and in gradients, eager
 * and jitted, and keeps the shape and dtype of its input.
 */
import { grad, jit, numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, it } from "vitest";
import { cotangentBarrier } from "../../src/core/cotangentBarrier.js";
import { init } from "../../src/runtime/init.js";
import { randn } from "../gradcheck.js";
import { expectClose, FLOAT64_FORMULA } from "../tolerance.js";

beforeAll(async () => {
  await init({ device: "cpu" });
});

describe("cotangentBarrier", () => {
  const x = () => np.array(randn([2, 3, 4], 1).data, { dtype: np.float64 }).reshape([2, 3, 4]);
  // f(x) = sum(relu(x) * c): its gradient is an elementwise expression, the kind the barrier writes out
  const c = randn([2, 3, 4], 2).data;
  const f = (barrier: boolean) => (a: np.Array) => {
    const y = np.multiply(np.maximum(a, 0), np.array(c, { dtype: np.float64 }).reshape([2, 3, 4]));
    return np.sum(barrier ? cotangentBarrier(y) : y);
  };

  it("returns its input's values, shape and dtype", async () => {
    const y = cotangentBarrier(x());
    expect(y.shape).toEqual([2, 3, 4]);
    expect(y.dtype).toBe(np.float64);
    expectClose(await y.data(), randn([2, 3, 4], 1).data, FLOAT64_FORMULA);
  });

  it("has the identity's gradient, eager and jitted", async () => {
    const want = await grad(f(false))(x()).data();
    expectClose(await grad(f(true))(x()).data(), want, FLOAT64_FORMULA);
    const jitted = jit(grad(f(true)));
    expectClose(await jitted(x()).data(), want, FLOAT64_FORMULA);
    jitted.dispose();
  });
});
