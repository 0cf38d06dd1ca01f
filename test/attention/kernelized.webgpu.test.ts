/**
 * Kernelized attention with RPE on WebGPU (Dawn; lavapipe on CI), float32:
 * the FFT Toeplitz product, the attention against the float64 formula, work
 * split under a simulated small device, and the PRF features. Fails (never
 * skips) when no adapter can be found.
 */
import { numpy as np } from "@jax-js/jax";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { prf } from "../../src/attention/featureMaps.js";
import { kernelizedAttention } from "../../src/attention/kernelized.js";
import { toeplitzMatmul } from "../../src/attention/toeplitz.js";
import { gaussianOrthogonalProjection } from "../../src/pe/orthogonalFeatures.js";
import { rng } from "../../src/pe/random.js";
import { init, runtime, teardown } from "../../src/runtime/init.js";
import { expectClose, FLOAT32_EPS } from "../tolerance.js";
import { attentionReference, prfReference, toeplitzReference, worstRatio } from "./kernelizedReference.js";

beforeAll(async () => {
  const rt = await init({ device: "webgpu" });
  expect(rt.device).toBe("webgpu");
});

afterAll(async () => {
  await teardown();
});

const f32 = (n: number, f: () => number) => {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = f();
  return out;
};
const arr = (data: Float32Array, shape: number[]) => np.array(data).reshape(shape);

/**
 * PRF features in float32 against the float64 formula on the same inputs:
 * the D-term dot products (~D u relative to the exponent's scale) and exp of
 * an argument of magnitude up to ~10 after the stabiliser (|argument| u
 * relative, which WebGPU's exp approximation stays within): 32 u.
 */
const PRF_FLOAT32 = { rtol: 32 * FLOAT32_EPS, atol: 0 };

describe("kernelized attention on webgpu (float32)", () => {
  it("FFT Toeplitz product equals the dense product, L odd and even, causal and not", async () => {
    const r = rng(1);
    for (const L of [15, 64]) {
      for (const causal of [false, true]) {
        const B = 2, H = 2, N = 3;
        const c = f32(H * (2 * L - 1), () => r.normal());
        const x = f32(B * H * L * N, () => r.normal());
        const got = await toeplitzMatmul(arr(c, [H, 2 * L - 1]), arr(x, [B, H, L, N]), { causal }).data();
        const ref = toeplitzReference(c, x, { B, H, L, N }, causal);
        const { ratio, at } = worstRatio(got, ref.y, ref.bound(FLOAT32_EPS));
        expect(ratio, `L=${L} causal=${causal}: index ${at}`).toBeLessThanOrEqual(1);
      }
    }
  });

  it("kernelizedAttention equals the float64 formula, with and without RPE, and when split under a small device limit", async () => {
    const r = rng(2);
    const B = 1, H = 2, L = 33, M = 4, Dv = 3;
    const phiQ = f32(B * H * L * M, () => Math.exp(r.normal()) / 2);
    const phiK = f32(B * H * L * M, () => Math.exp(r.normal()) / 2);
    const v = f32(B * H * L * Dv, () => r.normal());
    const rpe = f32(H * (2 * L - 1), () => r.normal());
    for (const causal of [false, true]) {
      for (const withRpe of [true, false]) {
        for (const memory of [undefined, { maxBufferBytes: 4 * B * H * L * (Dv + 1) }]) {
          const got = await kernelizedAttention(arr(phiQ, [B, H, L, M]), arr(phiK, [B, H, L, M]), arr(v, [B, H, L, Dv]), {
            rpe: withRpe ? arr(rpe, [H, 2 * L - 1]) : undefined, causal, memory,
          }).data();
          const ref = attentionReference({ phiQ, phiK, v, rpe: withRpe ? rpe : undefined, B, H, L, M, Dv, causal });
          const { ratio, at } = worstRatio(got, ref.z, ref.bound(FLOAT32_EPS));
          expect(ratio, `causal=${causal} rpe=${withRpe} memory=${JSON.stringify(memory)}: index ${at} got ${got[at]}, expected ${ref.z[at]}`).toBeLessThanOrEqual(1);
        }
      }
    }
  });

  it("checks sizes against the adapter's maxStorageBufferBindingSize", () => {
    const limit = runtime().limits.maxStorageBufferBindingSize;
    // (1, 1, L, 1) float32 output with its denominator: 8 L bytes
    const L = Math.floor(limit / 8) + 1;
    const big = () => np.zeros([1, 1, L, 1], { dtype: np.float32 });
    expect(() => kernelizedAttention(big(), big(), big(), { causal: false })).toThrow(
      new RegExp(`kernelizedAttention: the output with its denominator \\(1, 1, ${L}, 2\\) float32 needs ${8 * L} bytes, more than the device allows for one array \\(maxBufferBytes ${limit}\\)`),
    );
  });

  it("PRF features equal the formula", async () => {
    const D = 8, M = 16, L = 20;
    const r = rng(3);
    const x = f32(L * D, () => r.normal());
    const W = gaussianOrthogonalProjection(M, D, { seed: 4, scaling: "chi" });
    for (const role of ["query", "key"] as const) {
      const got = await prf(arr(x, [L, D]), np.array(Float32Array.from(W)).reshape([M, D]), { role, inputScale: "softmax" }).data();
      const ref = prfReference(x, L, D, Float32Array.from(W), M, role, D ** -0.25);
      expectClose(got, ref, PRF_FLOAT32, `${role} features`);
    }
  });
});
