/**
 * Kernelized attention in float32 on WebAssembly at long sequences, against
 * the float64 formula evaluated in plain JS on the same (float32) inputs.
 */
// biome-ignore-all assist/source/organizeImports: wasmMemory must be imported before jax-js creates its memory
import { stopRecordingWasmMemory, wasmMemories } from "../../src/lab/wasmMemory.js"; // first: before jax-js creates its memory
import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, it } from "vitest";
import { kernelizedAttention, kernelizedAttentionInChunks, planKernelized } from "../../src/attention/kernelized.js";
import { fftLength } from "../../src/attention/toeplitz.js";
import { rng } from "../../src/pe/random.js";
import { init } from "../../src/runtime/init.js";
import { FLOAT32_EPS } from "../tolerance.js";
import { attentionReference, worstRatio } from "./kernelizedReference.js";

beforeAll(async () => {
  await init({ device: "wasm" });
  stopRecordingWasmMemory();
  expect(wasmMemories.length).toBe(1);
});

/**
 * Arrays of up to the chunk size alive at once in one chunk of the FFT
 * Toeplitz product: jax-js allocates the buffers of all the operations it has
 * been given before it runs them; one chunk makes ~16 (outer product, the two
 * packed halves, forward and inverse transform outputs, spectrum products, the
 * cut and transposed result, the contraction). 24 leaves room for the
 * allocator's size classes.
 */
const ARRAYS_PER_CHUNK = 24;

describe("memory", () => {
  it("kernelizedAttentionInChunks keeps WebAssembly memory within one chunk's arrays, however many chunks there are", async () => {
    const B = 1,
      H = 2,
      L = 512,
      M = 16,
      Dv = 15;
    const chunkBytes = 32 * 1024;
    const plan = planKernelized("test", B, H, L, M, Dv, np.float32, { maxBufferBytes: 2 ** 32 - 1, chunkBytes });
    const chunks = plan.heads.length * plan.features.length * plan.values.length;
    expect(chunks).toBe(32);
    const r = rng(3);
    const make = (n: number, f: () => number) => np.array(Float32Array.from({ length: n }, f));
    const inputs = () => {
      const arrays = [
        make(B * H * L * M, () => Math.exp(r.normal())).reshape([B, H, L, M]),
        make(B * H * L * M, () => Math.exp(r.normal())).reshape([B, H, L, M]),
        make(B * H * L * Dv, () => r.normal()).reshape([B, H, L, Dv]),
        make(H * (2 * L - 1), () => r.normal()).reshape([H, 2 * L - 1]),
      ];
      return Promise.all(arrays.map((a) => a.blockUntilReady()));
    };
    const io = 4 * (2 * B * H * L * M + B * H * L * Dv + H * (2 * L - 1) + 2 * B * H * L * (Dv + 1)); // inputs, output and its denominator
    const bound = ARRAYS_PER_CHUNK * chunkBytes + 2 * io;
    const memory = wasmMemories[0];

    let [q, k, v, b] = await inputs();
    let before = memory.buffer.byteLength;
    const z = await kernelizedAttentionInChunks(q, k, v, { rpe: b, causal: true, memory: { chunkBytes } });
    await z.data();
    const chunked = memory.buffer.byteLength - before;
    expect(chunked, `grew by ${chunked} bytes over ${chunks} chunks`).toBeLessThanOrEqual(bound);

    // The same call without waiting between chunks allocates all of them at once:
    // what the bound above would catch.
    [q, k, v, b] = await inputs();
    before = memory.buffer.byteLength;
    await kernelizedAttention(q, k, v, { rpe: b, causal: true, memory: { chunkBytes } }).data();
    const all = memory.buffer.byteLength - before;
    console.log(
      `WebAssembly memory growth over ${chunks} chunks of ${chunkBytes} bytes: ${chunked} waiting for each chunk, ${all} without; bound ${bound}`,
    );
    expect(all).toBeGreaterThan(bound);
  });
});

/**
 * The typical (not worst-case) FFT error: the rounding errors of the
 * log2(n) stages add up like a random walk, to about u sqrt(log2 n) relative
 * to the RMS of the transformed channel, whose scale is the RMS over rows of
 * the denominators times (RMS of v + |z|). Relative to row i that is
 * (RMS den / den_i) times larger: the first rows of causal attention, whose
 * denominators are small, get the largest relative error. 4: the maximum of
 * L Dv roughly Gaussian errors is about 4 standard deviations.
 */
const FFT_TYPICAL = 4;

/**
 * Typical local rounding besides the FFT, in units of u (max|v| + |z|): the
 * contraction of M positive terms (M), the outer product, the division and
 * exp(b - max b) of the weights that matter, whose |b - max b| is a few units (8).
 */
const LOCAL_TYPICAL_EXTRA = 8;

async function check(dims: { H: number; L: number; M: number; Dv: number }, causal: boolean, decay: number, seed: number) {
  const { H, L, M, Dv } = dims;
  const B = 1;
  const r = rng(seed);
  // float32 inputs; the reference takes the same rounded values
  const features = () => Float32Array.from({ length: B * H * L * M }, () => Math.exp(r.normal()) / Math.sqrt(M));
  const phiQ = features();
  const phiK = features();
  const v = Float32Array.from({ length: B * H * L * Dv }, () => r.normal());
  const rpe = Float32Array.from({ length: H * (2 * L - 1) }, (_, i) => 0.5 * r.normal() - decay * Math.abs((i % (2 * L - 1)) - (L - 1)));
  const got = await kernelizedAttention(
    np.array(phiQ).reshape([B, H, L, M]),
    np.array(phiK).reshape([B, H, L, M]),
    np.array(v).reshape([B, H, L, Dv]),
    { rpe: np.array(rpe).reshape([H, 2 * L - 1]), causal },
  ).data();
  expect(got).toBeInstanceOf(Float32Array);
  const ref = attentionReference({ phiQ, phiK, v, rpe, B, H, L, M, Dv, causal });

  // 1. the rigorous bound derived from float32 rounding (kernelizedReference.ts)
  const rigorous = worstRatio(got, ref.z, ref.bound(FLOAT32_EPS));
  expect(rigorous.ratio, `rigorous bound, index ${rigorous.at}`).toBeLessThanOrEqual(1);

  // 2. the typical FFT error, row by row, plus typical local rounding
  const typical = new Float64Array(ref.z.length);
  const sqrtLog = Math.sqrt(Math.log2(fftLength(L)));
  const rms = (x: ArrayLike<number>) => {
    let s = 0;
    for (let i = 0; i < x.length; i++) s += x[i] * x[i];
    return Math.sqrt(s / x.length);
  };
  for (let h = 0; h < H; h++) {
    const vh = v.subarray(h * L * Dv, (h + 1) * L * Dv);
    const vRms = rms(vh);
    const vMax = vh.reduce((a, b) => Math.max(a, Math.abs(b)), 0);
    const denRms = rms(ref.den.subarray(h * L, (h + 1) * L));
    for (let i = 0; i < L; i++) {
      for (let d = 0; d < Dv; d++) {
        const idx = (h * L + i) * Dv + d;
        const z = Math.abs(ref.z[idx]);
        typical[idx] =
          FLOAT32_EPS * (FFT_TYPICAL * sqrtLog * (denRms / ref.den[h * L + i]) * (vRms + z) + (M + LOCAL_TYPICAL_EXTRA) * (vMax + z));
      }
    }
  }
  const t = worstRatio(got, ref.z, typical);
  expect(t.ratio, `typical FFT error, row ${Math.floor(t.at / Dv)}: got ${got[t.at]}, expected ${ref.z[t.at]}`).toBeLessThanOrEqual(1);
  return { rigorous: rigorous.ratio, typical: t.ratio };
}

describe("kernelizedAttention in float32 on wasm matches the float64 formula to float32 rounding", () => {
  for (const [L, H] of [
    [4096, 1],
    [1023, 2],
  ] as const) {
    for (const causal of [false, true]) {
      it(`L=${L}, H=${H}, ${causal ? "causal" : "bidirectional"}, biases with and without a decay`, async () => {
        for (const decay of [0, 0.05]) {
          const ratios = await check({ H, L, M: 8, Dv: 4 }, causal, decay, L + (causal ? 1 : 0) + (decay ? 2 : 0));
          console.log(
            `L=${L} causal=${causal} decay=${decay}: worst error / bound: rigorous ${ratios.rigorous.toFixed(5)}, typical ${ratios.typical.toFixed(3)}`,
          );
        }
      });
    }
  }
});
