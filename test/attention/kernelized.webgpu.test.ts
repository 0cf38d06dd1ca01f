/**
 * Kernelized RPE attention runs on WebGPU (Dawn; lavapipe on CI), where
 * float64 arrays do not exist: the projection and numeric biases are made in
 * float32 directly. Checked against the float64 formula on the same
 * float32-rounded inputs.
 */
import { numpy as np } from "@jax-js/jax";
import { afterAll, describe, expect, it } from "vitest";
import { projection } from "../../src/attention/featureMaps.js";
import { kernelizedRpeAttention } from "../../src/attention/kernelized.js";
import { gaussianOrthogonalProjection } from "../../src/pe/orthogonalFeatures.js";
import { init, teardown } from "../../src/runtime/init.js";
import { randn } from "../gradcheck.js";
import { expectClose, FLOAT32_EPS } from "../tolerance.js";
import { attentionReference, prfReference } from "./kernelizedReference.js";

/**
 * float32 on WebGPU against float64: features exp(.) of arguments <~ 10 carry
 * WGSL's exp error (3 + 2|x| ulps) and D-term dot products; the FFT Toeplitz
 * products add O(log2 n) ulps of the channel norms (kernelizedReference.ts);
 * the ratio of numerator and denominator keeps the relative error. Outputs are
 * averages of |v| <~ 3: 2^12 ulps of 1 (2.4e-4) absolute covers the sum with
 * margin at L = 7 while a wrong bias, mask or feature moves outputs by O(0.1).
 */
const FLOAT32_KERNELIZED_GPU = { rtol: 2 ** 10 * FLOAT32_EPS, atol: 2 ** 12 * FLOAT32_EPS };

afterAll(async () => {
  await teardown();
});

describe("kernelizedRpeAttention on webgpu (float32)", () => {
  it("PRF features from a float32 projection and a numeric bias, causal: the float64 formula", async () => {
    const rt = await init({ device: "webgpu" });
    expect(rt.device).toBe("webgpu");
    const [B, H, L, D, M] = [1, 2, 7, 4, 6];
    const r32 = (x: Float64Array) => Float64Array.from(Float32Array.from(x));
    const [q, k, v] = [1, 2, 3].map((s) => r32(randn([B, H, L, D], s).data));
    const bias = r32(randn([H * (2 * L - 1)], 4, 0.5).data);
    const W = r32(gaussianOrthogonalProjection(M, D, { seed: 9, scaling: "chi" }));
    const arr = (x: Float64Array, shape: number[]) => np.array(Float32Array.from(x)).reshape(shape);
    const out = kernelizedRpeAttention(arr(q, [B, H, L, D]), arr(k, [B, H, L, D]), arr(v, [B, H, L, D]), {
      features: { kind: "prf", projection: projection(M, D, { seed: 9, scaling: "chi", dtype: np.float32 }), inputScale: "softmax" },
      qkNorm: "none",
      causal: true,
      rpe: Array.from(bias),
    });
    expect(out.dtype).toBe(np.float32);
    const scale = D ** -0.25;
    const rows = (x: Float64Array, h: number) => x.subarray(h * L * D, (h + 1) * L * D);
    const phiQ = new Float64Array(H * L * M);
    const phiK = new Float64Array(H * L * M);
    for (let h = 0; h < H; h++) {
      phiQ.set(prfReference(rows(q, h), L, D, W, M, "query", scale), h * L * M);
      phiK.set(prfReference(rows(k, h), L, D, W, M, "key", scale), h * L * M);
    }
    const { z } = attentionReference({ phiQ, phiK, v, rpe: bias, B, H, L, M, Dv: D, causal: true });
    expectClose(Float64Array.from(await out.data()), z, FLOAT32_KERNELIZED_GPU);
  });
});
