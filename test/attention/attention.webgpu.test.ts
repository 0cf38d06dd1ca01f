/** Softmax attention on WebGPU (Dawn; Mesa lavapipe in CI) in float32 against the float64 formula. */
import { numpy as np } from "@jax-js/jax";
import { afterAll, beforeAll, describe, it } from "vitest";
import { attention } from "../../src/attention/attention.js";
import type { AttentionPE } from "../../src/attention/spec.js";
import { slopes } from "../../src/pe/alibi.js";
import { transform as fireTransform } from "../../src/pe/fire.js";
import { kernel as kerpleKernel } from "../../src/pe/kerple.js";
import { applyRope, tables } from "../../src/pe/rope/apply.js";
import { inverseFrequencies } from "../../src/pe/rope/frequencies.js";
import { relativeBucket } from "../../src/pe/t5.js";
import { init, teardown } from "../../src/runtime/init.js";
import { type Input, randn } from "../gradcheck.js";
import { expectClose, FLOAT32_EPS } from "../tolerance.js";
import { referenceAttention } from "./reference.js";

beforeAll(async () => {
  await init({ device: "webgpu" });
});
afterAll(teardown);

/** float32 inputs, logits and softmax on the GPU, with approximate exp/sin/cos: ~1e-6 relative on O(1) outputs. */
const WEBGPU_FLOAT32 = { rtol: 32 * FLOAT32_EPS, atol: 32 * FLOAT32_EPS };

const B = 1,
  H = 4,
  L = 33,
  D = 8;
const q = randn([B, H, L, D], 1, 0.5);
const k = randn([B, 2, L, D], 2, 0.5);
const v = randn([B, 2, L, D], 3);
const f32 = (x: Input) => np.array(Float32Array.from(x.data)).reshape(x.shape);
const exact = (x: Input): Input => ({ data: Float64Array.from(Float32Array.from(x.data)), shape: x.shape });

async function check(pe: AttentionPE, bias: ((h: number, i: number, j: number) => number) | undefined, qr = exact(q), kr = exact(k)) {
  const out = attention(f32(q), f32(k), f32(v), { causal: true, pe, scale: 0.3 });
  expectClose(
    Float64Array.from(await out.data()),
    referenceAttention(qr, kr, exact(v), { scale: 0.3, causal: true, bias }),
    WEBGPU_FLOAT32,
    pe.type,
  );
}

describe("attention on webgpu", () => {
  it("ALiBi", async () => {
    const m = slopes(H);
    await check({ type: "bias", kind: "alibi", slopes: m }, (h, i, j) => -m[h] * Math.abs(i - j));
  });
  it("T5 buckets", async () => {
    const table = randn([16, H], 4);
    await check({ type: "bias", kind: "t5", table: f32(table), bidirectional: false, numBuckets: 16, maxDistance: 32 }, (h, i, j) =>
      Math.fround(table.data[relativeBucket(j - i, { bidirectional: false, numBuckets: 16, maxDistance: 32 }) * H + h]),
    );
  });
  it("RoPE", async () => {
    const inv = inverseFrequencies(D, 10000);
    const rot = (x: Input) => {
      const t = tables(L, inv, { pairing: "halves" });
      const out = new Float64Array(x.data.length);
      for (let bh = 0; bh < x.data.length / (L * D); bh++)
        out.set(applyRope(x.data.subarray(bh * L * D, (bh + 1) * L * D), t, { pairing: "halves", headDim: D }), bh * L * D);
      return { data: out, shape: x.shape };
    };
    await check({ type: "rotary", pairing: "halves", frequencies: { invFreq: inv } }, undefined, rot(exact(q)), rot(exact(k)));
  });
  it("KERPLE, learned table and dynamic MLP bias", async () => {
    const r1 = [0.5, 1, 1.5, 2],
      r2 = [0.3, 0.6, 0.9, 1.2];
    await check(
      { type: "bias", kind: "kerple", variant: "log", r1: np.array(Float32Array.from(r1)), r2: np.array(Float32Array.from(r2)) },
      (h, i, j) => kerpleKernel("log", Math.fround(r1[h]), Math.fround(r2[h]), i - j),
    );
    const table = randn([H, 9], 5);
    await check({ type: "bias", kind: "table", table: f32(table), maxDistance: 4 }, (h, i, j) =>
      Math.fround(table.data[h * 9 + Math.max(-4, Math.min(4, j - i)) + 4]),
    );
    const w1 = randn([1, 3], 6),
      b1 = randn([3], 7),
      w2 = randn([3, H], 8),
      b2 = randn([H], 9);
    const g = (x: Input) => Float64Array.from(Float32Array.from(x.data));
    await check(
      { type: "bias", kind: "mlp", logDistance: false, mlp: { w1: f32(w1), b1: f32(b1), w2: f32(w2), b2: f32(b2) } },
      (h, i, j) => {
        let y = g(b2)[h];
        for (let u = 0; u < 3; u++) {
          const z = (j - i) * g(w1)[u] + g(b1)[u];
          y += (z / (1 + Math.exp(-z))) * g(w2)[u * H + h];
        }
        return y;
      },
    );
  });
  it("FIRE", async () => {
    const w1 = randn([1, 4], 10),
      b1 = randn([4], 11),
      w2 = randn([4, H], 12),
      b2 = randn([H], 13);
    const g = (x: Input) => Float64Array.from(Float32Array.from(x.data));
    const t = fireTransform({ c: Math.fround(0.2), threshold: 8, eps: 1e-6 }, L, L);
    await check(
      {
        type: "bias",
        kind: "fire",
        mlp: { w1: f32(w1), b1: f32(b1), w2: f32(w2), b2: f32(b2) },
        c: np.array(Float32Array.of(0.2)).reshape([]),
        threshold: np.array(Float32Array.of(8)).reshape([]),
        eps: 1e-6,
      },
      (h, i, j) => {
        let y = g(b2)[h];
        for (let u = 0; u < 4; u++) y += Math.max(0, t[i * L + j] * g(w1)[u] + g(b1)[u]) * g(w2)[u * H + h];
        return y;
      },
    );
  });
});
