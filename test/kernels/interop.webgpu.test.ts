/**
 * Pins what `toJaxArray` relies on in jax-js (DESIGN: kernel output into a
 * jax-js array): a fresh array's buffer, written on the GPU before anything
 * reads the array, holds the values jax-js then reads, jits and
 * differentiates; no other array shares that buffer. Fails if a jax-js
 * version breaks it (Dawn; Mesa lavapipe in CI).
 */
import { getWebGPUDevice, grad, jit, numpy as np } from "@jax-js/jax";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GpuTensor, storageBuffer, toJaxArray } from "../../src/kernels/webgpu/gpuTensor.js";
import { init, teardown } from "../../src/runtime/init.js";

beforeAll(async () => {
  await init({ device: "webgpu" });
});
afterAll(teardown);

const values = Float32Array.from({ length: 24 }, (_, i) => (i - 7) / 4);
const tensor = (shape: number[]) => new GpuTensor(shape, storageBuffer(getWebGPUDevice(), values.byteLength, values));

describe("toJaxArray moves a GpuTensor into jax-js on the GPU", () => {
  it("gives the tensor's values, shape and dtype, and leaves other arrays of that shape alone", async () => {
    const before = np.zeros([2, 3, 4], { dtype: np.float32 });
    const a = await toJaxArray(tensor([2, 3, 4]));
    const after = np.zeros([2, 3, 4], { dtype: np.float32 });
    expect([a.shape, a.dtype, a.device]).toEqual([[2, 3, 4], np.float32, "webgpu"]);
    expect(Array.from(await a.data())).toEqual(Array.from(values));
    expect(Array.from(await before.data()).every((x) => x === 0)).toBe(true);
    expect(Array.from(await after.data()).every((x) => x === 0)).toBe(true);
  });

  it("its output is read by jitted functions and differentiated", async () => {
    const f = (x: np.Array) => np.sum(np.multiply(x.ref, x)); // sum x^2
    const a = await toJaxArray(tensor([4, 6]));
    expect((await jit(f)(a.ref).data())[0]).toBeCloseTo(
      values.reduce((s, x) => s + x * x, 0),
      4,
    );
    expect(Array.from(await grad(f)(a).data())).toEqual(Array.from(values, (x) => 2 * x));
  });

  it("an empty tensor gives an empty array", async () => {
    const a = await toJaxArray(new GpuTensor([0, 3], storageBuffer(getWebGPUDevice(), 16)));
    expect(a.shape).toEqual([0, 3]);
    a.dispose();
  });
});
