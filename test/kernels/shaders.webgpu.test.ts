/**
 * The generated WGSL of a few kernel configurations, as `onShaderCompiled`
 * hands it over, against committed snapshots: a change to a shader generator
 * shows up here as a diff of the shader text (update with `npx vitest -u`
 * after reading it). Tilings follow the adapter's limits, so the snapshots are
 * those of the CI adapter (Mesa lavapipe). Also checks that the debug switch
 * sees every module.
 */
import { numpy as np } from "@jax-js/jax";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { flashAttention } from "../../src/kernels/webgpu/flashAttention.js";
import { kernelizedAttentionFused } from "../../src/kernels/webgpu/kernelizedAttention.js";
import { onShaderCompiled } from "../../src/kernels/webgpu/program.js";
import { rope } from "../../src/kernels/webgpu/rope.js";
import { init, teardown } from "../../src/runtime/init.js";

const compiled = new Map<string, string>();

beforeAll(async () => {
  await init({ device: "webgpu" });
  onShaderCompiled((fn, key, code) => compiled.set(`${fn} ${key}`, code));
});
afterAll(async () => {
  onShaderCompiled(null);
  await teardown();
});

const ones = (shape: number[]) => np.ones(shape, { dtype: np.float32 });

/** Runs `call`, then returns the modules it compiled, by kernel and configuration key. */
async function shadersOf(call: () => Promise<{ dispose(): void }>): Promise<Record<string, string>> {
  compiled.clear();
  (await call()).dispose();
  return Object.fromEntries([...compiled].sort(([a], [b]) => a.localeCompare(b)));
}

describe("generated WGSL", () => {
  it("rope: halves pairing, partial rotary (R = 4 of D = 8)", async () => {
    const shaders = await shadersOf(() => rope(ones([2, 5, 8]), { pairing: "halves", invFreq: [1, 0.1] }));
    expect(Object.keys(shaders)).toEqual(["rope 8:4:halves"]);
    expect(shaders).toMatchSnapshot();
  });

  it("flashAttention: causal with ALiBi, and RoPE (its rotation pass and the encoding-free kernel)", async () => {
    const alibi = await shadersOf(() =>
      flashAttention(ones([1, 2, 8, 8]), ones([1, 2, 8, 8]), ones([1, 2, 8, 8]), {
        causal: true,
        pe: { type: "bias", kind: "alibi", slopes: [0.5, 0.25] },
      }),
    );
    expect(Object.keys(alibi)).toHaveLength(1);
    expect(alibi).toMatchSnapshot();
    const rotary = await shadersOf(() =>
      flashAttention(ones([1, 2, 8, 8]), ones([1, 2, 8, 8]), ones([1, 2, 8, 8]), {
        pe: { type: "rotary", pairing: "interleaved", frequencies: { invFreq: [1, 0.1, 0.01, 0.001] } },
      }),
    );
    expect(Object.keys(rotary)).toHaveLength(2);
    expect(rotary).toMatchSnapshot();
  });

  it("kernelizedAttentionFused: causal elu + 1 features with a bias, L = 8", async () => {
    const shaders = await shadersOf(() =>
      kernelizedAttentionFused(ones([1, 1, 8, 4]), ones([1, 1, 8, 4]), ones([1, 1, 8, 2]), {
        features: { kind: "eluPlusOne" },
        qkNorm: "none",
        causal: true,
        rpe: Array.from({ length: 15 }, (_, i) => -0.1 * Math.abs(i - 7)),
      }),
    );
    expect(Object.keys(shaders).length).toBeGreaterThan(3);
    expect(shaders).toMatchSnapshot();
  });
});
