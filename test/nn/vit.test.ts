/** The ViT classifier: shapes, seeding, gradients (float64, "cpu"), other grids, PEG, FLOPs, refusals; training on digits (wasm). */
import { type JsTree, numpy as np, tree } from "@jax-js/jax";
import { beforeAll, describe, expect, it } from "vitest";
import { resizeBilinear } from "../../src/nn/bilinear.js";
import { type ImageBatch, paramCount } from "../../src/nn/classifier.js";
import { initVit, type VitConfig, type VitParams, type VitPE, vitFlops, vitForward, vitLoss } from "../../src/nn/vit.js";
import { init } from "../../src/runtime/init.js";
import { tinyVit } from "../configs.js";
import { checkGradients, packedParams, randn, read } from "../gradcheck.js";
import { expectClose, FLOAT64_FORMULA } from "../tolerance.js";
import { digitLossDrop } from "./digitTraining.js";

beforeAll(async () => {
  await init({ device: "cpu" });
});

const f64 = np.float64;
const PES: VitPE[] = [
  { type: "none" },
  { type: "learned" },
  { type: "sincos2d" },
  { type: "rope2d", convention: "lang", interpolate: false },
  { type: "rope2d", convention: "pixel", maxRes: 16, interpolate: true },
];
const tiny = tinyVit;
const images = (size: number, seed: number, batch = 2) =>
  np.array(randn([batch, size, size, 1], seed).data).reshape([batch, size, size, 1]);
const dispose = (p: unknown) => tree.dispose(p as JsTree<np.Array>);
const leaves = async (p: unknown) =>
  Promise.all((tree.leaves(p as JsTree<np.Array>) as np.Array[]).map(async (x) => Array.from(await read(x.ref))));
const label = (pe: VitPE) => (pe.type === "rope2d" ? `rope2d ${pe.convention}` : pe.type);

/**
 * All parameter leaves as one gradcheck input z = SCALE * theta (concatenated), and the
 * tree rebuilt from z: the check then steps along one random direction over every
 * parameter, two forward passes in all (the "cpu" device runs these models slowly).
 * SCALE keeps that step short in theta: a step eps along an unnormalised N(0, 1)
 * direction over ~10^3 entries is long enough for the loss's curvature to put the
 * central difference's truncation error above GRAD_CHECK.atol (as in gradients.test.ts).
 */
const SCALE = 64;
const packed = (params: unknown) => packedParams(params, SCALE);

describe("ViT", () => {
  it.each(PES.map((pe, i) => [label(pe), i % 2 ? "class" : "mean", pe] as const))(
    "%s, pool %s: logits (B, K), finite",
    async (_, pool, pe) => {
      const config = tiny(pe, { pool, depth: 2 });
      const p = initVit(config, 1, f64);
      const logits = vitForward(p, config, images(4, 2));
      expect(logits.shape).toEqual([2, 3]);
      expect((await read(logits)).every(Number.isFinite)).toBe(true);
      dispose(p);
    },
  );

  it("same seed, same parameters and logits; another seed, others", async () => {
    const config = tiny({ type: "learned" }, { pool: "class", peg: true });
    const [a, b, c] = [initVit(config, 5, f64), initVit(config, 5, f64), initVit(config, 6, f64)];
    expect(await leaves(b)).toEqual(await leaves(a));
    expect(await leaves(c)).not.toEqual(await leaves(a));
    const [ya, yb, yc] = [
      await read(vitForward(a, config, images(4, 3))),
      await read(vitForward(b, config, images(4, 3))),
      await read(vitForward(c, config, images(4, 3))),
    ];
    expect(Array.from(yb)).toEqual(Array.from(ya));
    expect(Array.from(yc)).not.toEqual(Array.from(ya));
    expect(JSON.parse(JSON.stringify(config))).toEqual(config);
    for (const p of [a, b, c]) dispose(p);
  });

  it("gradients: 2-D RoPE, class token, PEG on a 2x2 grid: images and every parameter", async () => {
    // GELU's tanh form: the cpu device's erf is an approximation whose slope is not exp(-x^2) 2/sqrt(pi) to 1e-6
    const mlp = { kind: "gelu", hidden: 16, approximate: true } as const;
    const config = tiny({ type: "rope2d", convention: "lang", interpolate: false }, { pool: "class", peg: true, mlp });
    const p = initVit(config, 7, f64);
    // an O(1) class token: at its N(0, 1e-12) init, LayerNorm's curvature at a near-zero input swamps the difference quotient
    p.cls!.dispose();
    p.cls = np.array(randn([8], 6).data);
    const { input, unpack } = await packed(p);
    await checkGradients(
      (x, z) => {
        const params = unpack(z) as VitParams;
        const y = vitForward(params, config, x);
        dispose(params);
        return y;
      },
      [randn([2, 4, 4, 1], 8), input],
    );
  });

  it("gradients: learned 2x2 table resampled to a 3x3 grid, SwiGLU, RMSNorm, mean pool, through the loss: every parameter", async () => {
    const config = tiny({ type: "learned" }, { mlp: { kind: "swiglu", hidden: 8 }, norm: { type: "rms", eps: 1e-6 } });
    const p = initVit(config, 9, f64);
    p.pos!.dispose();
    p.pos = np.array(randn([4, 8], 10).data).reshape([4, 8]); // O(1) entries, so that the table matters
    const { input, unpack } = await packed(p);
    const labels = Int32Array.of(2, 0);
    await checkGradients(
      (z) => {
        const params = unpack(z) as VitParams;
        const loss = vitLoss(params, config, { images: images(6, 11), labels: np.array(labels) });
        dispose(params);
        return loss;
      },
      [input],
    );
  });

  it("runs on a larger grid than trained: none, sincos2d, rope2d, PEG; a learned table is resampled bilinearly", async () => {
    for (const pe of PES.filter((e) => e.type !== "learned")) {
      const config = tiny(pe, { peg: true, pool: "class" });
      const p = initVit(config, 12, f64);
      const y = await read(vitForward(p, config, images(8, 13)));
      expect(y.length).toBe(6);
      expect(y.every(Number.isFinite), label(pe)).toBe(true);
      dispose(p);
    }
    // A model trained on 4x4 images (2x2 grid) run on 8x8 images (4x4 grid) equals a model trained
    // on 8x8 whose table is the 2x2 table resized to 4x4 image-wise (host code, src/nn/bilinear.ts).
    const config = tiny({ type: "learned" });
    const p = initVit(config, 14, f64);
    const table = await read(p.pos!.ref);
    const big = await read(vitForward(p, config, images(8, 15)));
    p.pos!.dispose();
    p.pos = np.array(resizeBilinear(table, 2, 2, 8, 4, 4)).reshape([16, 8]);
    const trained = await read(vitForward(p, { ...config, image: [8, 8] }, images(8, 15)));
    expectClose(big, trained, FLOAT64_FORMULA, "resampled table");
    dispose(p);
  });

  it("PEG: zero weights give the model without PEG; it makes a PE-free, mean-pooled ViT see where the patches are", async () => {
    const base = tiny({ type: "none" });
    const withPeg = { ...base, peg: true };
    const p = initVit(withPeg, 16, f64);
    const x = randn([1, 4, 4, 1], 17);
    // the same image with its top-left and bottom-right 2x2 patches swapped
    const swapped = Float64Array.from(x.data);
    for (let r = 0; r < 2; r++)
      for (let c = 0; c < 2; c++) [swapped[r * 4 + c], swapped[(r + 2) * 4 + c + 2]] = [x.data[(r + 2) * 4 + c + 2], x.data[r * 4 + c]];
    const run = async (config: VitConfig, params: VitParams, data: Float64Array) =>
      read(vitForward(params, config, np.array(data).reshape([1, 4, 4, 1])));
    const { peg, ...noPeg } = p;
    expect(peg).toBeDefined();
    expectClose(await run(base, noPeg, swapped), await run(base, noPeg, x.data), FLOAT64_FORMULA, "no PE, no PEG: a bag of patches");
    expect(Array.from(await run(withPeg, p, swapped))).not.toEqual(Array.from(await run(withPeg, p, x.data)));
    const zero = { ...p, peg: { weight: np.zeros([8, 3, 3], { dtype: f64 }), bias: np.zeros([8], { dtype: f64 }) } };
    expectClose(await run(withPeg, zero, x.data), await run(base, noPeg, x.data), FLOAT64_FORMULA, "zero PEG");
    dispose(p);
    dispose(zero.peg);
  });

  it("FLOPs and parameters: the hand count of a tiny config", () => {
    // 4x4 image, patch 2: N = 4 patches, T = 5 tokens with the class token, C = 8, one block, GELU hidden 16, PEG, K = 3.
    const config = tiny({ type: "sincos2d" }, { pool: "class", peg: true });
    const patch = 4 * (2 * 2 * 1) * 8; // N p^2 Cin C = 128
    const qkvProj = 5 * 8 * 24 + 5 * 8 * 8; // 960 + 320
    const scores = 2 * 5 * 5 * 8; // q k^T and attention times v: 400
    const mlpMacs = 5 * 8 * 16 + 5 * 16 * 8; // 1280
    const pegMacs = 9 * 4 * 8; // 288
    const head = 8 * 3; // 24
    expect(vitFlops(config)).toBe(2 * (patch + qkvProj + scores + mlpMacs + pegMacs + head));
    // parameters: patch 4 * 8 + 8, block (norms 2 * 16, qkv 8 * 24 + 24, proj 8 * 8 + 8, MLP 8 * 16 + 16 + 16 * 8 + 8),
    // class token 8, PEG 8 * 9 + 8, final norm 16, head 8 * 3 + 3
    const p = initVit(config, 1);
    expect(paramCount(p)).toBe(40 + (32 + 216 + 72 + 280) + 8 + 80 + 16 + 27);
    dispose(p);
    // on a 4x4 grid (8x8 images): N = 16, T = 17
    expect(vitFlops(config, [4, 4])).toBe(2 * (16 * 4 * 8 + 17 * 8 * 32 + 2 * 17 * 17 * 8 + 2 * 17 * 8 * 16 + 9 * 16 * 8 + 24));
  });

  it("refuses bad configs and images, naming the function, argument and shapes", () => {
    const config = tiny({ type: "none" });
    expect(() => initVit({ ...config, heads: 3 }, 1)).toThrow("initVit: config.width (8) must be a multiple of config.heads (3)");
    expect(() => initVit({ ...config, image: [5, 4] }, 1)).toThrow("initVit: config.image 5x4 must be divisible by config.patch 2");
    expect(() => initVit({ ...config, width: 8, heads: 4, pe: { type: "rope2d", convention: "lang", interpolate: false } }, 1)).toThrow(
      'initVit: config.pe "rope2d" needs the head dim width / heads = 8/4 divisible by 4',
    );
    const p = initVit(config, 1, f64);
    expect(() => vitForward(p, config, images(5, 1))).toThrow(
      "vitForward: images (2, 5, 5, 1): height 5 and width 5 must be multiples of the patch 2",
    );
    expect(() => vitForward(p, config, np.zeros([2, 4, 4, 3], { dtype: f64 }))).toThrow(
      "vitForward: images must be (B, H, W, 1), got (2, 4, 4, 3)",
    );
    expect(() => vitForward(p, { ...config, pool: "class" }, images(4, 1))).toThrow('vitForward: config.pool "class" needs params.cls');
    dispose(p);
  });
});

describe("ViT training on digits (wasm, jitted step)", () => {
  beforeAll(async () => {
    await init({ device: "wasm" });
  });

  it("ten AdamW steps on 14x14 digits bring the held-out loss well below the initial loss", async () => {
    const config: VitConfig = {
      image: [14, 14],
      channels: 1,
      patch: 7,
      width: 16,
      depth: 1,
      heads: 2,
      mlp: { kind: "gelu", hidden: 32, approximate: false },
      norm: { type: "layer", eps: 1e-5 },
      pool: "mean",
      pe: { type: "learned" },
      peg: false,
      classes: 10,
      bias: true,
    };
    const transform = { downsample: 2 };
    const { before, after } = await digitLossDrop((p: VitParams, b: ImageBatch) => vitLoss(p, config, b), initVit(config, 0), transform, {
      steps: 10,
      lr: 1e-2,
    });
    expect(after, `held-out loss ${before} -> ${after}`).toBeLessThan(before - 0.5);
  });
});
