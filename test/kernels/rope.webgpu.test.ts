/**
 * The one-pass WebGPU RoPE kernel against `rotaryTables` + `applyRotary` run
 * on the same device in float32 (Dawn; Mesa lavapipe in CI).
 */
import { numpy as np } from "@jax-js/jax";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyRotary, rotaryTables } from "../../src/attention/rotary.js";
import { GpuTensor, toJaxArray } from "../../src/kernels/webgpu/gpuTensor.js";
import { type RopeKernelOptions, rope, ropePipelineCount } from "../../src/kernels/webgpu/rope.js";
import { inverseFrequencies } from "../../src/pe/rope/frequencies.js";
import type { Pairing } from "../../src/pe/rope/pairing.js";
import { init, teardown } from "../../src/runtime/init.js";
import { type Input, randn } from "../gradcheck.js";
import { expectClose, FLOAT32_EPS } from "../tolerance.js";

beforeAll(async () => {
  await init({ device: "webgpu" });
});
afterAll(teardown);

/**
 * Same float32 steps on both sides (angle = p * invFreq, the device's cos/sin,
 * times the factor, x cos + rot(x) sin): they differ only where the shader
 * compiler contracts a multiply and an add into an FMA, one rounding of the
 * O(|x|) terms, so 4 ulps relative with an absolute floor of 4 eps for
 * outputs that cancel to near zero.
 */
const ROPE_FLOAT32 = { rtol: 4 * FLOAT32_EPS, atol: 4 * FLOAT32_EPS };

const f32 = (x: Input) => np.array(Float32Array.from(x.data)).reshape(x.shape);

async function expected(
  x: Input,
  o: { pairing: Pairing; invFreq: ArrayLike<number>; attentionFactor?: number; positions?: number[]; offset?: number },
) {
  const L = x.shape[x.shape.length - 2];
  const p = o.positions ?? Array.from({ length: L }, (_, l) => (o.offset ?? 0) + l);
  const t = rotaryTables(np.array(Float32Array.from(p)), o.invFreq, { pairing: o.pairing, attentionFactor: o.attentionFactor });
  return applyRotary(f32(x), t.cos, t.sin, o.pairing).data();
}

async function compare(shape: number[], o: Omit<RopeKernelOptions, "positions"> & { positions?: number[] }, what: string, seed = 1) {
  const x = randn(shape, seed);
  const out = await rope(f32(x), o);
  expect(out.shape).toEqual(shape);
  const got = await out.data();
  out.dispose();
  expectClose(got, await expected(x, o), ROPE_FLOAT32, what);
}

describe("rope kernel on webgpu equals applyRotary", () => {
  const inv = inverseFrequencies(16, 10000);
  const invPartial = inverseFrequencies(8, 10000);
  for (const pairing of ["halves", "interleaved"] as const) {
    it(`${pairing}: full and partial rotary, attention factor, offset, explicit positions`, async () => {
      await compare([2, 3, 37, 16], { pairing, invFreq: inv }, `${pairing} full`);
      await compare([2, 3, 37, 16], { pairing, invFreq: invPartial, attentionFactor: 1.3 }, `${pairing} partial`);
      await compare([1, 2, 5, 16], { pairing, invFreq: inv, offset: 290 }, `${pairing} offset`);
      await compare([4, 9, 16], { pairing, invFreq: invPartial, positions: [0, 7, 3, 100, 250, 1, 2, 9, 11] }, `${pairing} positions, 3-D`);
      await compare([1, 1, 300, 64], { pairing, invFreq: inverseFrequencies(64, 10000) }, `${pairing} D=64, L=300`);
    });
  }

  it("element count just above one workgroup (256 + 8) and below it", async () => {
    await compare([1, 1, 33, 8], { pairing: "halves", invFreq: [1, 0.5, 0.25, 0.125] }, "264 elements");
    await compare([1, 1, 3, 6], { pairing: "interleaved", invFreq: [1, 0.1] }, "18 elements, D = 6, R = 4");
  });

  it("chains on the GPU: a GpuTensor input is read and left to its owner; toJaxArray brings the result back", async () => {
    const x = randn([1, 2, 10, 8], 3);
    const once = await rope(f32(x), { pairing: "halves", invFreq: [1, 0.1] });
    const twice = await rope(once, { pairing: "halves", invFreq: [1, 0.1], offset: 10 });
    expect(once.buffer).toBeDefined();
    once.dispose();
    // rotating by p then by p + 10 rotates by 2p + 10
    const back = await toJaxArray(twice);
    const p2 = Array.from({ length: 10 }, (_, l) => 2 * l + 10);
    // angles (l + l + 10) theta are summed in float32 on one side and rotated twice on the other: a few ulps of the angle
    expectClose(
      await back.data(),
      await expected(x, { pairing: "halves", invFreq: [1, 0.1], positions: p2 }),
      { rtol: 1e-5, atol: 1e-5 },
      "twice",
    );
  });

  it("caches one pipeline per (D, R, pairing)", async () => {
    const before = ropePipelineCount();
    await compare([1, 1, 4, 10], { pairing: "halves", invFreq: [1, 0.1] }, "cache 1");
    await compare([2, 1, 7, 10], { pairing: "halves", invFreq: [0.5, 0.01], offset: 3 }, "cache 2");
    expect(ropePipelineCount()).toBe(before + 1);
  });
});

describe("rope kernel refuses bad input", () => {
  const x = () => f32(randn([1, 2, 4, 8], 1));
  it("names the function and the shapes", async () => {
    await expect(rope(x(), { pairing: "halves", invFreq: [1, 2, 3, 4, 5] })).rejects.toThrow(
      "rope: invFreq must hold 1..D/2 = 4 frequencies for x (1, 2, 4, 8), got 5",
    );
    await expect(rope(x(), { pairing: "halves", invFreq: [1], positions: [0, 1] })).rejects.toThrow(
      "rope: options.positions must hold L = 4 positions for x (1, 2, 4, 8), got 2",
    );
    await expect(rope(x(), { pairing: "rotate" as Pairing, invFreq: [1] })).rejects.toThrow(
      'rope: options.pairing must be "halves" or "interleaved"',
    );
    await expect(rope(f32(randn([8], 1)), { pairing: "halves", invFreq: [1] })).rejects.toThrow(
      "rope: x must be (..., L, D), got shape (8)",
    );
    await expect(rope(np.zeros([1, 4, 8], { dtype: np.int32 }), { pairing: "halves", invFreq: [1] })).rejects.toThrow(
      "rope: x must be float32, got int32 (shape (1, 4, 8))",
    );
  });
  it("refuses buffers over the storage-buffer limit (planted small limit)", async () => {
    // x is 1 * 2 * 4 * 8 * 4 = 256 bytes
    await expect(rope(x(), { pairing: "halves", invFreq: [1], limits: { maxStorageBufferBindingSize: 255 } })).rejects.toThrow(
      "rope: x (1, 2, 4, 8) float32 needs 256 bytes, more than the device allows for one storage buffer (maxStorageBufferBindingSize 255",
    );
    const ok = await rope(x(), { pairing: "halves", invFreq: [1], limits: { maxBufferSize: 256 } });
    ok.dispose();
  });
  it("a disposed GpuTensor cannot be used", async () => {
    const t = await rope(x(), { pairing: "halves", invFreq: [1] });
    t.dispose();
    expect(t).toBeInstanceOf(GpuTensor);
    await expect(rope(t, { pairing: "halves", invFreq: [1] })).rejects.toThrow("GpuTensor: used after dispose(), shape (1, 2, 4, 8)");
  });
});
