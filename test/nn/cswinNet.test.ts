/** The CSWin classifier and its convolutions: shapes, seeding, gradients (float64, "cpu"), other sizes, PEG, FLOPs, refusals; training on digits (wasm). */
import { type JsTree, numpy as np, tree } from "@jax-js/jax";
import { beforeAll, describe, expect, it } from "vitest";
import { type ImageBatch, paramCount } from "../../src/nn/classifier.js";
import { type ConvConfig, conv2d, initConv } from "../../src/nn/conv.js";
import {
  type CswinNetConfig,
  type CswinNetParams,
  cswinNetFlops,
  cswinNetForward,
  cswinNetLoss,
  initCswinNet,
} from "../../src/nn/cswinNet.js";
import { rng } from "../../src/pe/random.js";
import { init } from "../../src/runtime/init.js";
import { checkGradients, type Input, packedParams, randn, read } from "../gradcheck.js";
import { expectClose, FLOAT64_FORMULA } from "../tolerance.js";
import { digitLossDrop } from "./digitTraining.js";

beforeAll(async () => {
  await init({ device: "cpu" });
});

const f64 = np.float64;
const tiny = (over: Partial<CswinNetConfig> = {}): CswinNetConfig => ({
  image: [8, 8],
  channels: 1,
  stem: { kernel: 2, stride: 2, padding: 0 },
  stages: [
    { width: 4, depth: 1, heads: 2, stripeWidth: 2 },
    { width: 8, depth: 1, heads: 1, stripeWidth: "global" },
  ],
  mlp: { ratio: 2, approximate: true },
  norm: { type: "layer", eps: 1e-5 },
  qkvBias: true,
  peg: false,
  classes: 3,
  ...over,
});
const images = (size: number, seed: number, batch = 2) =>
  np.array(randn([batch, size, size, 1], seed).data).reshape([batch, size, size, 1]);
const dispose = (p: unknown) => tree.dispose(p as JsTree<np.Array>);
const leaves = async (p: unknown) =>
  Promise.all((tree.leaves(p as JsTree<np.Array>) as np.Array[]).map(async (x) => Array.from(await read(x.ref))));

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

/** PyTorch Conv2d written out: x (B, H, W, Cin), w (k k Cin, Cout) rows (i, j, c), b (Cout). */
function refConv(x: Input, w: Float64Array, b: Float64Array, cout: number, c: ConvConfig): { data: Float64Array; shape: number[] } {
  const [B, H, W, Cin] = x.shape;
  const { kernel: k, stride: s, padding: q } = c;
  const [Ho, Wo] = [Math.floor((H + 2 * q - k) / s) + 1, Math.floor((W + 2 * q - k) / s) + 1];
  const y = new Float64Array(B * Ho * Wo * cout);
  for (let n = 0; n < B; n++)
    for (let o = 0; o < Ho; o++)
      for (let r = 0; r < Wo; r++)
        for (let co = 0; co < cout; co++) {
          let acc = b[co];
          for (let i = 0; i < k; i++)
            for (let j = 0; j < k; j++) {
              const [h, v] = [s * o + i - q, s * r + j - q];
              if (h < 0 || h >= H || v < 0 || v >= W) continue;
              for (let ci = 0; ci < Cin; ci++) acc += x.data[((n * H + h) * W + v) * Cin + ci] * w[((i * k + j) * Cin + ci) * cout + co];
            }
          y[((n * Ho + o) * Wo + r) * cout + co] = acc;
        }
  return { data: y, shape: [B, Ho, Wo, cout] };
}

describe("conv2d (im2col + Linear)", () => {
  it.each([
    ["3x3 stride 2 padding 1 (merging), even grid", 6, { kernel: 3, stride: 2, padding: 1 }],
    ["3x3 stride 2 padding 1 (merging), odd grid", 7, { kernel: 3, stride: 2, padding: 1 }],
    ["7x7 stride 4 padding 2 (the paper's stem)", 9, { kernel: 7, stride: 4, padding: 2 }],
    ["2x2 patches (reshape path)", 6, { kernel: 2, stride: 2, padding: 0 }],
    ["2x2 stride 2 on an odd grid (drops the last row and column)", 5, { kernel: 2, stride: 2, padding: 0 }],
  ] as const)("%s equals the written-out convolution", async (_, size, c) => {
    const p = initConv(rng(1), 3, 4, c, f64);
    const x = randn([2, size, size, 3], 2);
    const expected = refConv(x, await read(p.w.ref), await read(p.b!.ref), 4, c);
    const y = conv2d(p, np.array(x.data).reshape(x.shape), c);
    expect(y.shape).toEqual(expected.shape);
    expectClose(await read(y), expected.data, FLOAT64_FORMULA, "conv2d");
    dispose(p);
  });
});

describe("CSWin classifier", () => {
  it("logits (B, K) on the training size, a larger one, and one the stripes do not divide", async () => {
    const config = tiny({ peg: true });
    const p = initCswinNet(config, 1, f64);
    for (const size of [8, 12, 10]) {
      const y = cswinNetForward(p, config, images(size, size));
      expect(y.shape, `${size}x${size}`).toEqual([2, 3]);
      expect((await read(y)).every(Number.isFinite), `${size}x${size}`).toBe(true);
    }
    dispose(p);
  });

  it("same seed, same parameters and logits; another seed, others", async () => {
    const config = tiny();
    const [a, b, c] = [initCswinNet(config, 5, f64), initCswinNet(config, 5, f64), initCswinNet(config, 6, f64)];
    expect(await leaves(b)).toEqual(await leaves(a));
    expect(await leaves(c)).not.toEqual(await leaves(a));
    const run = async (p: CswinNetParams) => Array.from(await read(cswinNetForward(p, config, images(8, 3))));
    const [ya, yb, yc] = [await run(a), await run(b), await run(c)];
    expect(yb).toEqual(ya);
    expect(yc).not.toEqual(ya);
    expect(JSON.parse(JSON.stringify(config))).toEqual(config);
    for (const p of [a, b, c]) dispose(p);
  });

  it("gradients on a 6x6 image (3x3 grid, stripes of 2 padded; merged to 2x2, global), PEG: images and every parameter", async () => {
    // GELU's tanh form (tiny()): the cpu device's erf is an approximation whose slope is not exp(-x^2) 2/sqrt(pi) to 1e-6
    const config = tiny({ image: [6, 6], peg: true });
    const { input, unpack } = await packed(initCswinNet(config, 7, f64));
    await checkGradients(
      (x, z) => {
        const params = unpack(z) as CswinNetParams;
        const y = cswinNetForward(params, config, x);
        dispose(params);
        return y;
      },
      [randn([2, 6, 6, 1], 8), input],
    );
  });

  it("PEG: zero weights give the model without PEG, other weights change the logits", async () => {
    const config = tiny({ peg: true });
    const p = initCswinNet(config, 9, f64);
    const { peg, ...noPeg } = p;
    expect(peg).toBeDefined();
    const without = await read(cswinNetForward(noPeg, { ...config, peg: false }, images(8, 10)));
    expect(Array.from(await read(cswinNetForward(p, config, images(8, 10))))).not.toEqual(Array.from(without));
    const zero = { ...p, peg: { weight: np.zeros([4, 3, 3], { dtype: f64 }), bias: np.zeros([4], { dtype: f64 }) } };
    expectClose(await read(cswinNetForward(zero, config, images(8, 10))), without, FLOAT64_FORMULA, "zero PEG");
    dispose(p);
    dispose(zero.peg);
  });

  it("FLOPs and parameters: the hand count of a tiny config", () => {
    // 8x8 image, 2x2 stem: 4x4 grid, C = 4, stripes of 2; merged to 2x2, C = 8, global; MLP ratio 2; K = 3.
    const stem = 16 * (2 * 2 * 1) * 4; // 256
    const stage0 =
      16 * 4 * 12 + // qkv: 768
      2 * (2 * 8 ** 2 + 2 * 8 ** 2) * 2 + // two branches of two 4x2 (2x4) stripes, 8 cells, C/2 = 2 channels: 1024
      9 * 16 * 4 + // LePE: 576
      16 * 4 * 4 + // proj: 256
      2 * 16 * 4 * 8; // MLP 4 -> 8 -> 4: 1024
    const stage1 =
      4 * 9 * 4 * 8 + // merge: 1152
      4 * 8 * 24 + // qkv: 768
      2 * 4 * 4 * 8 + // global attention over 4 tokens: 256
      9 * 4 * 8 + // LePE: 288
      4 * 8 * 8 + // proj: 256
      2 * 4 * 8 * 16; // MLP: 1024
    const head = 8 * 3;
    expect(cswinNetFlops(tiny())).toBe(2 * (stem + stage0 + stage1 + head));
    expect(cswinNetFlops(tiny({ peg: true }))).toBe(2 * (stem + stage0 + stage1 + head + 9 * 16 * 4));
    // parameters: stem 4 * 4 + 4 and norm 8; block of width 4: norms 2 * 8, qkv 4 * 12 + 12, LePE 4 * 9 + 4,
    // proj 4 * 4 + 4, MLP 4 * 8 + 8 + 8 * 4 + 4; merge 36 * 8 + 8 and norm 16; block of width 8: norms 2 * 16,
    // qkv 8 * 24 + 24, LePE 8 * 9 + 8, proj 8 * 8 + 8, MLP 8 * 16 + 16 + 16 * 8 + 8; final norm 16; head 8 * 3 + 3
    const p = initCswinNet(tiny(), 1);
    expect(paramCount(p)).toBe(28 + (16 + 60 + 40 + 20 + 76) + 312 + (32 + 216 + 80 + 72 + 280) + 16 + 27);
    dispose(p);
  });

  it("refuses bad configs and images, naming the function, argument and shapes", () => {
    const config = tiny();
    const stage = config.stages[0];
    expect(() => initCswinNet({ ...config, stages: [{ ...stage, heads: 3, width: 6 }] }, 1)).toThrow(
      'initCswinNet: config.stages[0].heads (3) must be even with cross-shaped windows (stripeWidth 2); use stripeWidth "global" for odd heads',
    );
    expect(() => initCswinNet({ ...config, stages: [stage, { ...config.stages[1], heads: 3 }] }, 1)).toThrow(
      "initCswinNet: config.stages[1].width (8) must be a multiple of config.stages[1].heads (3)",
    );
    expect(() => initCswinNet({ ...config, stages: [] }, 1)).toThrow("initCswinNet: config.stages must hold at least one stage");
    const p = initCswinNet(config, 1, f64);
    expect(() => cswinNetForward(p, config, np.zeros([2, 8, 8, 3], { dtype: f64 }))).toThrow(
      "cswinNetForward: images must be (B, H, W, 1), got (2, 8, 8, 3)",
    );
    expect(() => cswinNetForward(p, config, np.zeros([2, 8, 1], { dtype: f64 }))).toThrow(
      "cswinNetForward: images must be (B, H, W, 1), got (2, 8, 1)",
    );
    expect(() => cswinNetForward(p, config, images(1, 1))).toThrow(
      "cswinNetForward: a grid of 1 cells is smaller than the kernel 2 with padding 0",
    );
    dispose(p);
  });
});

describe("CSWin training on digits (wasm, jitted step)", () => {
  beforeAll(async () => {
    await init({ device: "wasm" });
  });

  it("ten AdamW steps on 12x12 digits bring the held-out loss well below the initial loss", async () => {
    // 4x4 patches: a 3x3 grid in stripes of 1, merged to 2x2 with global attention
    const config: CswinNetConfig = {
      image: [12, 12],
      channels: 1,
      stem: { kernel: 4, stride: 4, padding: 0 },
      stages: [
        { width: 16, depth: 1, heads: 2, stripeWidth: 1 },
        { width: 32, depth: 1, heads: 2, stripeWidth: "global" },
      ],
      mlp: { ratio: 2, approximate: false },
      norm: { type: "layer", eps: 1e-5 },
      qkvBias: true,
      peg: false,
      classes: 10,
    };
    const transform = { downsample: 2, crop: { size: 12, random: false } };
    const { before, after } = await digitLossDrop(
      (p: CswinNetParams, b: ImageBatch) => cswinNetLoss(p, config, b),
      initCswinNet(config, 0),
      transform,
      { steps: 10, lr: 1e-2 },
    );
    expect(after, `held-out loss ${before} -> ${after}`).toBeLessThan(before - 0.5);
  });
});
