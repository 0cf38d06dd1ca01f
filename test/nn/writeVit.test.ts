/**
 * WriteViT's networks: nearest upsampling against its index formula, the
 * position encodings of a ViT stage (without one a stage is equivariant to
 * permutations of its tokens, with a PEG or a sincos table it is not), the
 * cross-attention block's use of its source, the four networks' shapes and
 * ranges, spectral normalisation of the discriminator and config errors.
 */
import { grad, type JsTree, jit, numpy as np, tree } from "@jax-js/jax";
import { beforeAll, describe, expect, it } from "vitest";
import { crossBlock, initCrossBlock } from "../../src/nn/crossBlock.js";
import { discriminatorPowerIteration, initDiscriminatorSpectral, spectralDiscriminator } from "../../src/nn/discriminator.js";
import { recognize } from "../../src/nn/recognizer.js";
import { upsampleNearest } from "../../src/nn/upsample.js";
import { initVitStage, type StagePE, vitStage } from "../../src/nn/vitStage.js";
import { identifyWriter } from "../../src/nn/writerIdentifier.js";
import { checkWriteVit, initWriteVit, noiseShape, recognizerConfig, wordWidth, writerConfig, writeWords } from "../../src/nn/writeVit.js";
import { rng } from "../../src/pe/random.js";
import { init } from "../../src/runtime/init.js";
import { TINY_WRITEVIT } from "../configs.js";
import { randn, read } from "../gradcheck.js";
import { expectClose, FLOAT64_FORMULA } from "../tolerance.js";

beforeAll(async () => {
  await init({ device: "cpu" });
});

const f64 = (data: ArrayLike<number>, shape: number[]) => np.array(Float64Array.from(data)).reshape(shape);

const CONFIG = TINY_WRITEVIT;

describe("upsampleNearest", () => {
  it("y[b, i, j, c] = x[b, floor(i / f), floor(j / f), c], and its gradient sums each f x f block", async () => {
    const x = randn([2, 2, 3, 2], 1);
    const y = await read(upsampleNearest(f64(x.data, x.shape), 3));
    const expected = new Float64Array(2 * 6 * 9 * 2);
    for (let b = 0; b < 2; b++)
      for (let i = 0; i < 6; i++)
        for (let j = 0; j < 9; j++)
          for (let c = 0; c < 2; c++)
            expected[((b * 6 + i) * 9 + j) * 2 + c] = x.data[((b * 2 + Math.floor(i / 3)) * 3 + Math.floor(j / 3)) * 2 + c];
    expect(Array.from(y)).toEqual(Array.from(expected));
    const w = randn([2, 6, 9, 2], 2);
    const g = await read(grad((a: np.Array) => np.sum(np.multiply(upsampleNearest(a, 3), f64(w.data, w.shape))))(f64(x.data, x.shape)));
    const sums = new Float64Array(x.data.length);
    for (let k = 0; k < expected.length; k++) {
      const c = k % 2;
      const j = Math.floor(k / 2) % 9;
      const i = Math.floor(k / 18) % 6;
      const b = Math.floor(k / 108);
      sums[((b * 2 + Math.floor(i / 3)) * 3 + Math.floor(j / 3)) * 2 + c] += w.data[k];
    }
    expectClose(g, sums, FLOAT64_FORMULA, "gradient");
  });

  it("refuses a non-grid input and a non-integer factor", () => {
    expect(() => upsampleNearest(np.zeros([2, 3]), 2)).toThrow(/upsampleNearest: x must be \(B, H, W, C\), got \(2, 3\)/);
    expect(() => upsampleNearest(np.zeros([1, 2, 2, 1]), 1.5)).toThrow(/upsampleNearest: factor must be an integer >= 1, got 1.5/);
  });
});

describe("a ViT stage's position encodings", () => {
  const grid = { height: 3, width: 4 };
  const N = 12;
  const C = 8;
  const x = randn([1, N, C], 3);
  // a permutation of the tokens: reverse the grid's order
  const perm = Array.from({ length: N }, (_, i) => N - 1 - i);
  const permute = (d: Float64Array) => {
    const out = new Float64Array(d.length);
    perm.forEach((src, dst) => out.set(d.subarray(src * C, (src + 1) * C), dst * C));
    return out;
  };
  const run = async (pe: StagePE, data: ArrayLike<number>) => {
    const config = { width: C, heads: 2, depth: 2, pe };
    const p = initVitStage(rng(4), config, np.float64);
    const y = await read(vitStage(p, config, f64(data, [1, N, C]), grid));
    tree.dispose(p as unknown as JsTree<np.Array>);
    return y;
  };

  it('"none" is equivariant to permutations of the tokens: a bag of patches', async () => {
    expectClose(
      await run("none", permute(Float64Array.from(x.data))),
      permute(await run("none", x.data)),
      { rtol: 1e-9, atol: 1e-9 },
      "none",
    );
  });

  for (const pe of ["peg", "sincos2d"] as const) {
    it(`"${pe}" is not: the tokens know where they are`, async () => {
      const a = await run(pe, permute(Float64Array.from(x.data)));
      const b = permute(await run(pe, x.data));
      expect(Math.max(...a.map((v, i) => Math.abs(v - b[i])))).toBeGreaterThan(1e-3);
    });
  }

  it("refuses an unknown encoding, naming the field", () => {
    expect(() => initVitStage(rng(1), { width: 8, heads: 2, depth: 1, pe: "rope" as never })).toThrow(/initVitStage: config.pe/);
  });
});

describe("crossBlock", () => {
  it("reads its source: invariant to the order of the source tokens, not to their values", async () => {
    const p = initCrossBlock(rng(5), 8, 6, np.float64);
    const x = randn([2, 3, 8], 6);
    const s = randn([2, 4, 6], 7);
    const out = async (src: ArrayLike<number>) => read(crossBlock(p, f64(x.data, x.shape), f64(src, s.shape), 2));
    const reversed = new Float64Array(s.data.length);
    for (let b = 0; b < 2; b++)
      for (let t = 0; t < 4; t++) reversed.set(s.data.slice((b * 4 + t) * 6, (b * 4 + t + 1) * 6), (b * 4 + 3 - t) * 6);
    const base = await out(s.data);
    expectClose(await out(reversed), base, { rtol: 1e-9, atol: 1e-9 }, "source order");
    const other = await out(s.data.map((v) => v * 2 + 1));
    expect(Math.max(...other.map((v, i) => Math.abs(v - base[i])))).toBeGreaterThan(1e-3);
    tree.dispose(p as unknown as JsTree<np.Array>);
  });
});

describe("the four networks", () => {
  const W = wordWidth(CONFIG);
  const B = 2;
  const images = () => f64(randn([B, 32, W, 1], 8).data.map(Math.tanh), [B, 32, W, 1]);

  it("shapes: style tokens (B, 8 x 4n, C), words (B, 32, 16n, 1) in [-1, 1], recognizer (B, 2n, 53)", async () => {
    const p = initWriteVit(CONFIG, 1, np.float64);
    const { tokens, logits } = identifyWriter(p.writer, writerConfig(CONFIG), images());
    expect(tokens.shape).toEqual([B, 8 * 4 * CONFIG.maxChars, CONFIG.width]);
    expect(logits.shape).toEqual([B, CONFIG.writers]);
    tokens.dispose();
    logits.dispose();
    const glyphs = f64(
      randn([B, 3, 256], 9).data.map((v) => (v > 0 ? 1 : 0)),
      [B, 3, 256],
    );
    const noise = f64(randn(noiseShape(CONFIG, B), 10).data, noiseShape(CONFIG, B));
    // jitted: the eager float64 generator takes over a minute on a loaded 2-core machine
    const write = jit((pp: typeof p, x: np.Array, g: np.Array, z: np.Array) => writeWords(pp, CONFIG, x, g, z));
    const words = await read(write(tree.ref(p as unknown as JsTree<np.Array>) as never, images(), glyphs, noise));
    write.dispose();
    expect(words.length).toBe(B * 32 * W);
    expect(Math.max(...words.map(Math.abs))).toBeLessThanOrEqual(1);
    const logitsR = recognize(p.recognizer, recognizerConfig(CONFIG), images());
    expect(logitsR.shape).toEqual([B, 2 * CONFIG.maxChars, 53]);
    logitsR.dispose();
    tree.dispose(p as unknown as JsTree<np.Array>);
  }, 240_000);

  it("the discriminator's normalised weights have spectral norm 1 once the power iteration has converged", async () => {
    const p = initWriteVit(CONFIG, 2, np.float64).discriminator;
    let s = initDiscriminatorSpectral(rng(3), p);
    for (let i = 0; i < 60; i++) s = discriminatorPowerIteration(p, s); // convergence is gap-limited: 60 iterations leave ~2e-5 (measured)
    const d = spectralDiscriminator(p, s);
    for (const w of [d.blocks[1].a.w, d.blocks[3].b.w, d.out.w]) {
      const [n, m] = w.shape;
      const a = await read(w.ref);
      // largest singular value by 500 power iterations on A^T A, in plain float64
      let v = Float64Array.from({ length: m }, (_, i) => 1 + i);
      let sigma = 0;
      for (let it = 0; it < 500; it++) {
        const av = Float64Array.from({ length: n }, (_, i) => v.reduce((t, vj, j) => t + a[i * m + j] * vj, 0));
        const atav = Float64Array.from({ length: m }, (_, j) => av.reduce((t, x, i) => t + a[i * m + j] * x, 0));
        const norm = Math.hypot(...atav);
        sigma = Math.sqrt(norm / Math.hypot(...v));
        v = atav.map((x) => x / norm);
      }
      expect(Math.abs(sigma - 1), `weight (${n}, ${m})`).toBeLessThan(1e-4);
    }
    tree.dispose([p, s, d] as unknown as JsTree<np.Array>);
  });
});

describe("checkWriteVit", () => {
  const bad = (patch: Record<string, unknown>, message: RegExp) =>
    expect(() => checkWriteVit("f", "config", { ...CONFIG, ...patch })).toThrow(message);
  it("names the field and the value", () => {
    bad({ widht: 32 }, /f: config has an unknown field "widht"/);
    bad({ width: 48 }, /f: config.width must be a multiple of 32/);
    bad({ heads: 3 }, /f: config.heads \(3\) must divide/);
    bad({ pe: "rope2d" }, /f: config.pe/);
    bad({ maxChars: 0 }, /f: config.maxChars/);
    expect(() => initWriteVit({ ...CONFIG, writers: 1 }, 0)).toThrow(/initWriteVit: config.writers/);
  });
});
