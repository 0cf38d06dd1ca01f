/** Kernelized attention as a block's attention layer, and RoPE context-extension scaling in the model's PE config. */
import { type JsTree, numpy as np, tree } from "@jax-js/jax";
import { beforeAll, describe, expect, it } from "vitest";
import { projection } from "../../src/attention/featureMaps.js";
import { kernelizedRpeAttention } from "../../src/attention/kernelized.js";
import { type BlockConfig, block, initBlock } from "../../src/nn/block.js";
import { initKernelizedLayer, KERNELIZED_EPS, type KernelizedLayerConfig, kernelizedLayer } from "../../src/nn/kernelizedLayer.js";
import { rotaryFrequencies } from "../../src/nn/positional.js";
import { rng } from "../../src/pe/random.js";
import { inverseFrequencies } from "../../src/pe/rope/frequencies.js";
import { ropeFrequencies } from "../../src/pe/rope/scaling.js";
import { init } from "../../src/runtime/init.js";
import { checkGradients, randn, read } from "../gradcheck.js";
import { expectClose, FLOAT64_FORMULA } from "../tolerance.js";

beforeAll(async () => {
  await init({ device: "cpu" });
});

const config: KernelizedLayerConfig = { features: 6, featureMap: "prf", rpe: { maxDistance: 2 }, qkNorm: "none", seed: 3 };

describe("kernelizedLayer", () => {
  it("equals kernelizedRpeAttention with b_{j-i} = table[clip(j - i, -R, R)] and the seeded projection", async () => {
    const [B, H, L, D] = [1, 2, 5, 4];
    const table = randn([H, 5], 1);
    const q = randn([B, H, L, D], 2);
    const k = randn([B, H, L, D], 3);
    const v = randn([B, H, L, D], 4);
    const arr = (x: { data: Float64Array; shape: number[] }) => np.array(x.data).reshape(x.shape);
    const got = kernelizedLayer(config, { rpe: arr(table) }, arr(q), arr(k), arr(v), true);
    const b = new Float64Array(H * (2 * L - 1));
    for (let h = 0; h < H; h++)
      for (let o = -(L - 1); o <= L - 1; o++) b[h * (2 * L - 1) + o + L - 1] = table.data[h * 5 + Math.min(Math.max(o, -2), 2) + 2];
    const want = kernelizedRpeAttention(arr(q), arr(k), arr(v), {
      features: { kind: "prf", projection: projection(6, D, { seed: 3, scaling: "chi", dtype: np.float64 }), inputScale: "softmax" },
      qkNorm: "none",
      causal: true,
      rpe: np.array(b).reshape([H, 2 * L - 1]),
      eps: KERNELIZED_EPS,
    });
    expectClose(await read(got), await read(want), FLOAT64_FORMULA);
    for (const evaluation of ["fft", "dense"] as const) {
      const other = kernelizedLayer({ ...config, evaluation }, { rpe: arr(table) }, arr(q), arr(k), arr(v), true);
      expectClose(
        await read(other),
        await read(kernelizedLayer(config, { rpe: arr(table) }, arr(q), arr(k), arr(v), true)),
        FLOAT64_FORMULA,
      );
    }
  });

  it("elu + 1 features: the layer is kernelizedRpeAttention with eluPlusOne (no projection drawn)", async () => {
    const [B, H, L, D] = [1, 2, 5, 4];
    const [q, k, v] = [randn([B, H, L, D], 5), randn([B, H, L, D], 6), randn([B, H, L, D], 7)];
    const arr = (x: { data: Float64Array; shape: number[] }) => np.array(x.data).reshape(x.shape);
    const elu: KernelizedLayerConfig = { ...config, featureMap: "eluPlusOne", rpe: null };
    const got = kernelizedLayer(elu, {}, arr(q), arr(k), arr(v), true);
    const want = kernelizedRpeAttention(arr(q), arr(k), arr(v), {
      features: { kind: "eluPlusOne" },
      qkNorm: "none",
      causal: true,
      eps: KERNELIZED_EPS,
    });
    expectClose(await read(got), await read(want), FLOAT64_FORMULA);
  });

  it("starts as plain linear attention (b = 0) and refuses an RPE config without its table", () => {
    const p = initKernelizedLayer(config, 3, np.float64);
    expect(p.rpe?.shape).toEqual([3, 5]);
    expect(Array.from(p.rpe!.dataSync())).toEqual(new Array(15).fill(0));
    expect(initKernelizedLayer({ ...config, rpe: null }, 3)).toEqual({});
    const x = () => np.zeros([1, 1, 3, 4], { dtype: np.float64 });
    expect(() => kernelizedLayer(config, {}, x(), x(), x(), true)).toThrow(/kernelizedLayer: config.rpe needs params.rpe/);
    expect(() => initKernelizedLayer({ ...config, featureMap: "exp" as never }, 2)).toThrow(/initKernelizedLayer: config.featureMap/);
    expect(() => initKernelizedLayer({ ...config, evaluation: "quadratic" as never }, 2)).toThrow(/initKernelizedLayer: config.evaluation/);
  });

  it("a block with kernelized attention: gradient check of x and every parameter (float64)", async () => {
    const bc: BlockConfig = {
      width: 4,
      heads: 2,
      mlp: { kind: "gelu", hidden: 4, approximate: true },
      norm: { type: "layer", eps: 1e-5 },
      pe: { type: "none" },
      causal: true,
      bias: false,
      kernel: { ...config, features: 3 },
    };
    const p = initBlock(rng(5), bc, np.float64);
    tree.dispose(p.kernel as JsTree<np.Array>);
    p.kernel = { rpe: np.array(randn([2, 5], 6, 0.5).data).reshape([2, 5]) };
    const [leaves, def] = tree.flatten(p as unknown as JsTree<np.Array>);
    const inputs = [];
    for (const a of leaves as np.Array[]) inputs.push({ data: await read(a.ref), shape: [...a.shape] });
    tree.dispose(p as unknown as JsTree<np.Array>);
    await checkGradients(
      (x, ...ls) => {
        const params = tree.unflatten(def, ls) as unknown as typeof p;
        const y = block(params, x, bc);
        tree.dispose(params as unknown as JsTree<np.Array>);
        return y;
      },
      [randn([1, 4, 4], 7), ...inputs],
    );
  });

  it("a block refuses a PE besides the kernel's and positions", () => {
    const bc: BlockConfig = {
      width: 8,
      heads: 2,
      mlp: { kind: "gelu", hidden: 8, approximate: true },
      norm: { type: "layer", eps: 1e-5 },
      pe: { type: "alibi" },
      causal: true,
      bias: true,
      kernel: config,
    };
    expect(() => initBlock(rng(1), bc)).toThrow(
      /initBlock: config.kernel carries its own relative bias: config.pe must be "none", got "alibi"/,
    );
    const ok = { ...bc, pe: { type: "none" } as const };
    const p = initBlock(rng(1), ok, np.float64);
    expect(() => block(p, np.zeros([1, 3, 8], { dtype: np.float64 }), ok, [0, 1, 2])).toThrow(
      /block: kernelized attention uses index offsets/,
    );
  });
});

describe("rotaryFrequencies (test-time RoPE scaling)", () => {
  const rope = { type: "rotary", pairing: "halves", base: 10000 } as const;
  it("none: base^(-2i/d); linear: theta / s; ntk: base s^(d/(d-2)); yarn: transformers' YaRN with its defaults", () => {
    expect(Array.from(rotaryFrequencies(rope, 8).invFreq)).toEqual(Array.from(inverseFrequencies(8, 10000)));
    const pi = rotaryFrequencies({ ...rope, scaling: { type: "linear", factor: 4 } }, 8);
    expectClose(
      pi.invFreq,
      inverseFrequencies(8, 10000).map((f) => f / 4),
      FLOAT64_FORMULA,
    );
    const ntk = rotaryFrequencies({ ...rope, rotaryDim: 6, scaling: { type: "ntk", factor: 4 } }, 8);
    expectClose(
      ntk.invFreq,
      Float64Array.from([0, 1, 2], (i) => (10000 * 4 ** (6 / 4)) ** (-(2 * i) / 6)),
      FLOAT64_FORMULA,
    );
    const yarn = rotaryFrequencies({ ...rope, scaling: { type: "yarn", factor: 4, originalMaxPositions: 16 } }, 8);
    const ref = ropeFrequencies({
      type: "yarn",
      factor: 4,
      originalMaxPositions: 16,
      base: 10000,
      rotaryDim: 8,
      betaFast: 32,
      betaSlow: 1,
      mscale: null,
      mscaleAllDim: null,
      attentionFactor: null,
      truncate: true,
    });
    expect(Array.from(yarn.invFreq)).toEqual(Array.from(ref.invFreq));
    expect(yarn.attentionFactor).toBeCloseTo(0.1 * Math.log(4) + 1, 12);
    expect(() => rotaryFrequencies({ ...rope, scaling: { type: "linear", factor: 0 } }, 8)).toThrow(
      /rotaryFrequencies: config.scaling.factor/,
    );
  });
});
