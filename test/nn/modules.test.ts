/** nn/ modules against their formulas, in float64 on the exact "cpu" device. */
import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, it } from "vitest";
import { type BlockConfig, block, initBlock } from "../../src/nn/block.js";
import { crossEntropy } from "../../src/nn/crossEntropy.js";
import { embed, initEmbedding, unembed } from "../../src/nn/embedding.js";
import { layerNorm } from "../../src/nn/layerNorm.js";
import { initLinear, linear } from "../../src/nn/linear.js";
import { initMlp, mlp } from "../../src/nn/mlp.js";
import { rmsNorm } from "../../src/nn/rmsNorm.js";
import { slopes } from "../../src/pe/alibi.js";
import { rng } from "../../src/pe/random.js";
import { init } from "../../src/runtime/init.js";
import { arr } from "../attention/reference.js";
import { randn, read } from "../gradcheck.js";
import { expectClose, FLOAT64_FORMULA } from "../tolerance.js";
import { geluTanh, refBlock, refLayerNorm, refLinear, refRmsNorm, silu } from "./reference.js";

beforeAll(async () => {
  await init({ device: "cpu" });
});

const f64 = np.float64;

describe("linear", () => {
  it("y = x W + b, W (in, out)", async () => {
    const p = initLinear(rng(1), 5, 3, { dtype: f64 });
    const x = randn([2, 4, 5], 2);
    const expected = refLinear(x.data, 8, 5, await read(p.w.ref), 3, await read(p.b!.ref));
    expectClose(await read(linear(p, arr(x))), expected, FLOAT64_FORMULA, "linear");
  });

  it("initialises as torch.nn.Linear: U(-1/sqrt(in), 1/sqrt(in)), seeded", async () => {
    const a = await read(initLinear(rng(3), 16, 64, { dtype: f64 }).w);
    const b = await read(initLinear(rng(3), 16, 64, { dtype: f64 }).w);
    const c = await read(initLinear(rng(4), 16, 64, { dtype: f64 }).w);
    const bound = 1 / Math.sqrt(16);
    expect(Math.max(...a.map(Math.abs))).toBeLessThanOrEqual(bound);
    // 1024 uniform draws: the extremes come within 1% of the bound
    expect(Math.max(...a.map(Math.abs))).toBeGreaterThan(0.99 * bound);
    expect(Array.from(b)).toEqual(Array.from(a));
    expect(Array.from(c)).not.toEqual(Array.from(a));
    expect(initLinear(rng(3), 4, 2, { bias: false }).b).toBeUndefined();
  });

  it("names the function and the shapes on a width mismatch", () => {
    const p = initLinear(rng(1), 5, 3, { dtype: f64 });
    expect(() => linear(p, np.zeros([2, 4], { dtype: f64 }))).toThrow("linear: x must end in the input width 5 of W (5, 3), got x (2, 4)");
  });
});

describe("norms", () => {
  const x = randn([2, 3, 6], 5, 2);
  const g = randn([6], 6);
  const b = randn([6], 7);
  it("LayerNorm: (x - mean) / sqrt(var + eps) * gamma + beta, biased variance", async () => {
    const y = await read(layerNorm({ gamma: arr(g), beta: arr(b) }, arr(x), 1e-5));
    expectClose(y, refLayerNorm(x.data, 6, g.data, b.data, 1e-5), FLOAT64_FORMULA, "layerNorm");
  });
  it("RMSNorm: x / sqrt(mean(x^2) + eps) * gamma", async () => {
    const y = await read(rmsNorm({ gamma: arr(g) }, arr(x), 1e-6));
    expectClose(y, refRmsNorm(x.data, 6, g.data, 1e-6), FLOAT64_FORMULA, "rmsNorm");
  });
});

describe("MLPs", () => {
  const x = randn([2, 3, 4], 8);
  it("SwiGLU: (SiLU(x Wgate) * (x Wup)) Wdown", async () => {
    const p = initMlp(rng(9), 4, { kind: "swiglu", hidden: 6 }, f64);
    if (!("gate" in p)) throw new Error("expected swiglu parameters");
    const [wg, wu, wd] = [await read(p.gate.w.ref), await read(p.up.w.ref), await read(p.down.w.ref)];
    const gate = refLinear(x.data, 6, 4, wg, 6).map(silu);
    const up = refLinear(x.data, 6, 4, wu, 6);
    const expected = refLinear(
      gate.map((v, i) => v * up[i]),
      6,
      6,
      wd,
      4,
    );
    expectClose(await read(mlp(p, arr(x), { kind: "swiglu", hidden: 6 })), expected, FLOAT64_FORMULA, "swiglu");
  });
  it("GELU MLP (tanh approximation): GELU(x W1 + b1) W2 + b2", async () => {
    const p = initMlp(rng(10), 4, { kind: "gelu", hidden: 8, approximate: true }, f64);
    if (!("fc" in p)) throw new Error("expected gelu parameters");
    const h = refLinear(x.data, 6, 4, await read(p.fc.w.ref), 8, await read(p.fc.b!.ref)).map(geluTanh);
    const expected = refLinear(h, 6, 8, await read(p.proj.w.ref), 4, await read(p.proj.b!.ref));
    expectClose(await read(mlp(p, arr(x), { kind: "gelu", hidden: 8, approximate: true })), expected, FLOAT64_FORMULA, "gelu mlp");
  });
});

describe("embedding and cross-entropy", () => {
  it("E[tokens] and the tied head x E^T", async () => {
    const p = initEmbedding(rng(11), 7, 3, { std: 0.5, dtype: f64 });
    const table = await read(p.table.ref);
    const tokens = [3, 0, 6, 3];
    const x = await read(embed(p, np.array(Int32Array.from(tokens)).reshape([2, 2])));
    expectClose(
      x,
      tokens.flatMap((t) => Array.from(table.subarray(t * 3, t * 3 + 3))),
      FLOAT64_FORMULA,
      "embed",
    );
    const h = randn([1, 2, 3], 12);
    const logits = await read(unembed(p, arr(h)));
    const expected = Array.from({ length: 14 }, (_, i) => {
      const [l, v] = [Math.floor(i / 7), i % 7];
      return [0, 1, 2].reduce((s, c) => s + h.data[l * 3 + c] * table[v * 3 + c], 0);
    });
    expectClose(logits, expected, FLOAT64_FORMULA, "unembed");
  });

  it("masked mean of -log softmax at the targets", async () => {
    const logits = randn([2, 3, 5], 13, 2);
    const targets = [4, 0, 2, 1, 1, 3];
    const mask = [1, 0, 1, 1, 1, 0];
    let total = 0;
    for (let r = 0; r < 6; r++) {
      const row = Array.from(logits.data.subarray(r * 5, r * 5 + 5));
      const lse = Math.log(row.reduce((s, v) => s + Math.exp(v), 0));
      total += mask[r] * (lse - row[targets[r]]);
    }
    const loss = await read(
      crossEntropy(arr(logits), np.array(Int32Array.from(targets)).reshape([2, 3]), np.array(Float64Array.from(mask)).reshape([2, 3])),
    );
    expectClose(loss, [total / 4], FLOAT64_FORMULA, "crossEntropy");
  });
});

describe("pre-norm transformer block", () => {
  it("equals the plain-JS block: LayerNorm, causal MHA with ALiBi, GELU MLP, residuals", async () => {
    const [L, C, H, hidden] = [5, 8, 2, 12];
    const config: BlockConfig = {
      width: C,
      heads: H,
      mlp: { kind: "gelu", hidden, approximate: true },
      norm: { type: "layer", eps: 1e-5 },
      pe: { type: "alibi" },
      causal: true,
      bias: true,
    };
    const p = initBlock(rng(14), config, f64);
    // non-trivial norm parameters, so that gamma and beta are exercised
    p.norm1 = { gamma: arr(randn([C], 15)), beta: arr(randn([C], 16)) };
    p.norm2 = { gamma: arr(randn([C], 17)), beta: arr(randn([C], 18)) };
    if (!("fc" in p.mlp) || !("beta" in p.norm1) || !("beta" in p.norm2)) throw new Error("expected LayerNorm and GELU parameters");
    const get = (a: np.Array | undefined) => read(a!.ref);
    const ref = {
      g1: await get(p.norm1.gamma),
      b1: await get(p.norm1.beta),
      wqkv: await get(p.qkv.w),
      bqkv: await get(p.qkv.b),
      wo: await get(p.proj.w),
      bo: await get(p.proj.b),
      g2: await get(p.norm2.gamma),
      b2: await get(p.norm2.beta),
      wfc: await get(p.mlp.fc.w),
      bfc: await get(p.mlp.fc.b),
      wproj: await get(p.mlp.proj.w),
      bproj: await get(p.mlp.proj.b),
    };
    const m = slopes(H);
    const x = randn([1, L, C], 19);
    const y = await read(block(p, arr(x), config));
    expectClose(
      y,
      refBlock(x.data, L, C, H, hidden, ref, 1e-5, (h, i, j) => -m[h] * Math.abs(i - j)),
      FLOAT64_FORMULA,
      "block",
    );
  });

  it("refuses a width mismatch, naming the function and shapes", () => {
    const config: BlockConfig = {
      width: 8,
      heads: 2,
      mlp: { kind: "swiglu", hidden: 8 },
      norm: { type: "rms", eps: 1e-6 },
      pe: { type: "none" },
      causal: true,
      bias: false,
    };
    const p = initBlock(rng(1), config, f64);
    expect(() => block(p, np.zeros([1, 3, 6], { dtype: f64 }), config)).toThrow("block: x must be (B, L, C) with C = 8, got (1, 3, 6)");
  });
});
