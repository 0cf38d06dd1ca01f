import { jit, numpy as np } from "@jax-js/jax";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { type CrossShapedWindowOptions, crossShapedWindowAttention, cswinAttention } from "../../src/attention/crossShapedWindow.js";
import { init } from "../../src/runtime/init.js";
import { fixture } from "../fixtures.js";
import { checkGradients, type Input, randn, read } from "../gradcheck.js";
import { expectClose, FLOAT64_FORMULA } from "../tolerance.js";
import { type CswinShape, maskedAttentionReference } from "./cswinReference.js";

beforeAll(async () => {
  await init({ device: "cpu" });
});

const arr = (x: Input | { data: ArrayLike<number>; shape: number[] }) => np.array(Float64Array.from(x.data)).reshape(x.shape);
const f64 = (d: number[] | null | undefined, shape: number[]) => (d ? np.array(Float64Array.from(d)).reshape(shape) : undefined);

function options(s: CswinShape): CrossShapedWindowOptions {
  const grid = { height: s.height, width: s.width, heads: s.heads, scale: s.scale };
  return s.mode === "cross" ? { ...grid, mode: "cross", stripeWidth: s.stripeWidth } : { ...grid, mode: "global" };
}

interface CswinBlockCase {
  batch: number;
  height: number;
  width: number;
  dim: number;
  heads: number;
  splitSize: number;
  branches: 1 | 2;
  lastStageArgument: boolean;
  scale: number;
  x: number[];
  norm1Weight: number[];
  norm1Bias: number[];
  qkvWeight: number[];
  qkvBias: number[] | null;
  lepeWeight: number[];
  lepeBias: number[];
  projWeight: number[];
  projBias: number[];
  q: number[];
  k: number[];
  v: number[];
  attended: number[];
  afterAttention: number[];
}

/** LayerNorm over the last axis in plain float64 (PyTorch: biased variance, eps inside the square root). */
function layerNorm(x: number[], C: number, weight: number[], bias: number[], eps = 1e-5): Float64Array {
  const out = new Float64Array(x.length);
  for (let n = 0; n < x.length / C; n++) {
    const row = x.slice(n * C, (n + 1) * C);
    const mean = row.reduce((a, b) => a + b, 0) / C;
    const variance = row.reduce((a, b) => a + (b - mean) ** 2, 0) / C;
    for (let c = 0; c < C; c++) out[n * C + c] = ((row[c] - mean) / Math.sqrt(variance + eps)) * weight[c] + bias[c];
  }
  return out;
}

describe("crossShapedWindowAttention equals the official CSWinBlock (microsoft/CSWin-Transformer, float64)", () => {
  const f = fixture<CswinBlockCase>("cswin_block");
  for (const c of f.cases) {
    const label = `${c.height}x${c.width}, C ${c.dim}, ${c.heads} heads, split_size ${c.splitSize}, ${c.branches === 2 ? "two branches" : `one global branch (last_stage=${c.lastStageArgument})`}`;
    const shape = [c.batch, c.height * c.width, c.dim];
    const opts: CrossShapedWindowOptions =
      c.branches === 2
        ? { mode: "cross", stripeWidth: c.splitSize, height: c.height, width: c.width, heads: c.heads }
        : { mode: "global", height: c.height, width: c.width, heads: c.heads };

    it(`${label}: LePEAttention branches, concatenated (the input of proj)`, async () => {
      expect(c.scale).toBe((c.dim / c.heads) ** -0.5);
      const out = crossShapedWindowAttention(
        f64(c.q, shape)!,
        f64(c.k, shape)!,
        f64(c.v, shape)!,
        f64(c.lepeWeight, [c.dim, 3, 3])!,
        f64(c.lepeBias, [c.dim])!,
        opts,
      );
      expectClose(await read(out), c.attended, FLOAT64_FORMULA, "attended");
    });

    it(`${label}: x + proj(attention(qkv(norm1(x))))`, async () => {
      const normed = layerNorm(c.x, c.dim, c.norm1Weight, c.norm1Bias);
      const out = cswinAttention(
        np.array(normed).reshape(shape),
        {
          qkvWeight: f64(c.qkvWeight, [3 * c.dim, c.dim])!,
          qkvBias: f64(c.qkvBias, [3 * c.dim]),
          lepeWeight: f64(c.lepeWeight, [c.dim, 3, 3])!,
          lepeBias: f64(c.lepeBias, [c.dim])!,
          projWeight: f64(c.projWeight, [c.dim, c.dim])!,
          projBias: f64(c.projBias, [c.dim])!,
        },
        opts,
      );
      const y = await read(np.add(out, f64(c.x, shape)!));
      expectClose(y, c.afterAttention, FLOAT64_FORMULA, "afterAttention");
    });
  }
});

/** Seeded q, k, v, LePE weights for a shape. */
function inputs(s: CswinShape, seed: number): Input[] {
  const shape = [s.batch, s.height * s.width, s.channels];
  return [
    randn(shape, seed),
    randn(shape, seed + 1),
    randn(shape, seed + 2),
    randn([s.channels, 3, 3], seed + 3, 0.5),
    randn([s.channels], seed + 4, 0.5),
  ];
}

async function composite(s: CswinShape, xs: Input[]): Promise<Float64Array> {
  const [q, k, v, w, b] = xs.map(arr);
  return read(crossShapedWindowAttention(q, k, v, w, b, options(s)));
}

describe("crossShapedWindowAttention is full attention under the stripe mask", () => {
  it("property: any grid, stripe width (dividing or not), heads, head dim and mode (float64)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          batch: fc.integer({ min: 1, max: 2 }),
          height: fc.integer({ min: 1, max: 6 }),
          width: fc.integer({ min: 1, max: 6 }),
          halfHeads: fc.integer({ min: 1, max: 2 }),
          headDim: fc.integer({ min: 1, max: 3 }),
          stripeWidth: fc.integer({ min: 1, max: 7 }),
          global: fc.boolean(),
          seed: fc.integer({ min: 0, max: 10_000 }),
        }),
        async (p) => {
          const heads = 2 * p.halfHeads;
          const s: CswinShape = {
            batch: p.batch,
            height: p.height,
            width: p.width,
            channels: heads * p.headDim,
            heads,
            mode: p.global ? "global" : "cross",
            stripeWidth: p.stripeWidth,
            scale: p.headDim ** -0.5,
          };
          const xs = inputs(s, p.seed);
          const expected = maskedAttentionReference(xs[0].data, xs[1].data, xs[2].data, xs[3].data, xs[4].data, s);
          expectClose(await composite(s, xs), expected, FLOAT64_FORMULA, JSON.stringify(p));
        },
      ),
      { numRuns: 25, seed: 7 },
    );
  });

  it("pads 5x7 with stripes of 3 (both directions truncated) and honours a custom scale", async () => {
    const s: CswinShape = { batch: 2, height: 5, width: 7, channels: 8, heads: 4, mode: "cross", stripeWidth: 3, scale: 0.3 };
    const xs = inputs(s, 40);
    expectClose(
      await composite(s, xs),
      maskedAttentionReference(xs[0].data, xs[1].data, xs[2].data, xs[3].data, xs[4].data, s),
      FLOAT64_FORMULA,
    );
  });

  it('"cross" with stripes as wide as the grid equals "global" (the official last-stage switch)', async () => {
    const base = { batch: 1, height: 3, width: 4, channels: 8, heads: 4, stripeWidth: 4, scale: 0.5 };
    const xs = inputs({ ...base, mode: "global" }, 60);
    const cross = await composite({ ...base, mode: "cross" }, xs);
    expectClose(cross, await composite({ ...base, mode: "global" }, xs), FLOAT64_FORMULA);
  });

  it("a token's output does not depend on tokens outside its cross (changing one moves only its stripes)", async () => {
    const s: CswinShape = { batch: 1, height: 4, width: 5, channels: 4, heads: 2, mode: "cross", stripeWidth: 2, scale: 0.7 };
    const xs = inputs(s, 80);
    const before = await composite(s, xs);
    // perturb k and v of token (r=3, c=4): stripe column block 2, row block 1
    const moved = xs.map((x, i) =>
      i === 1 || i === 2 ? { data: x.data.map((v, j) => (Math.floor(j / 4) === 3 * 5 + 4 ? v + 1 : v)), shape: x.shape } : x,
    );
    const after = await composite(s, moved);
    for (let n = 0; n < 20; n++) {
      const [r, c] = [Math.floor(n / 5), n % 5];
      for (let ch = 0; ch < 4; ch++) {
        const inStripe = ch < 2 ? Math.floor(c / 2) === 2 : Math.floor(r / 2) === 1;
        const changed = before[n * 4 + ch] !== after[n * 4 + ch];
        expect(changed, `token (${r}, ${c}) channel ${ch}`).toBe(inStripe);
      }
    }
  });

  it("jit gives the eager result", async () => {
    const s: CswinShape = { batch: 1, height: 3, width: 5, channels: 4, heads: 2, mode: "cross", stripeWidth: 2, scale: 0.5 };
    const xs = inputs(s, 90);
    const f = jit((q: np.Array, k: np.Array, v: np.Array, w: np.Array, b: np.Array) =>
      crossShapedWindowAttention(q, k, v, w, b, options(s)),
    );
    const [q, k, v, w, b] = xs.map(arr);
    const out = await read(f(q, k, v, w, b));
    f.dispose();
    expectClose(out, await composite(s, xs), FLOAT64_FORMULA);
  });
});

describe("crossShapedWindowAttention gradients (float64 VJP vs central differences)", () => {
  it('"cross", 3x5 grid, stripes of 2 (padded): q, k, v, LePE weight and bias', async () => {
    const s: CswinShape = { batch: 1, height: 3, width: 5, channels: 4, heads: 2, mode: "cross", stripeWidth: 2, scale: 0.5 };
    await checkGradients((q, k, v, w, b) => crossShapedWindowAttention(q, k, v, w, b, options(s)), inputs(s, 100));
  });

  it('"global", 2x3 grid, two heads', async () => {
    const s: CswinShape = { batch: 2, height: 2, width: 3, channels: 4, heads: 2, mode: "global", stripeWidth: 0, scale: 0.5 };
    await checkGradients((q, k, v, w, b) => crossShapedWindowAttention(q, k, v, w, b, options(s)), inputs(s, 110));
  });

  it("cswinAttention (qkv and proj projections included): x and every weight", async () => {
    const C = 4;
    const opts: CrossShapedWindowOptions = { mode: "cross", stripeWidth: 2, height: 2, width: 3, heads: 2 };
    await checkGradients(
      (x, qkvWeight, qkvBias, lepeWeight, lepeBias, projWeight, projBias) =>
        cswinAttention(x, { qkvWeight, qkvBias, lepeWeight, lepeBias, projWeight, projBias }, opts),
      [
        randn([1, 6, C], 120),
        randn([3 * C, C], 121, 0.5),
        randn([3 * C], 122, 0.5),
        randn([C, 3, 3], 123, 0.5),
        randn([C], 124),
        randn([C, C], 125, 0.5),
        randn([C], 126),
      ],
    );
  });
});

describe("crossShapedWindowAttention rejects bad input", () => {
  const make = (B: number, N: number, C: number) => np.zeros([B, N, C], { dtype: np.float64 });
  const call = (o: Partial<{ q: number[]; k: number[]; w: number[]; b: number[] }>, opts: unknown) => {
    const [qs, ks, ws, bs] = [o.q ?? [1, 6, 8], o.k ?? o.q ?? [1, 6, 8], o.w ?? [8, 3, 3], o.b ?? [8]];
    const arrays = [
      make(qs[0], qs[1], qs[2]),
      make(ks[0], ks[1], ks[2]),
      make(ks[0], ks[1], ks[2]),
      np.zeros(ws, { dtype: np.float64 }),
      np.zeros(bs, { dtype: np.float64 }),
    ];
    try {
      crossShapedWindowAttention(arrays[0], arrays[1], arrays[2], arrays[3], arrays[4], opts as CrossShapedWindowOptions);
    } finally {
      // the arguments are consumed (disposed) on refusal too
      expect(arrays.map((a) => a.refCount)).toEqual([0, 0, 0, 0, 0]);
    }
  };
  const grid = { height: 2, width: 3 };
  it("odd heads in mode cross", () => {
    expect(() => call({ q: [1, 6, 6], w: [6, 3, 3], b: [6] }, { ...grid, heads: 3, mode: "cross", stripeWidth: 1 })).toThrow(
      /crossShapedWindowAttention: opts.heads \(3\) must be even in mode "cross"/,
    );
  });
  it("C not divisible by heads", () => {
    expect(() => call({}, { ...grid, heads: 3, mode: "global" })).toThrow(
      /crossShapedWindowAttention: channels C \(8\) must be divisible by opts.heads \(3\)/,
    );
  });
  it("bad stripe width", () => {
    expect(() => call({}, { ...grid, heads: 2, mode: "cross", stripeWidth: 0 })).toThrow(
      /crossShapedWindowAttention: opts.stripeWidth must be an integer >= 1, got 0/,
    );
    expect(() => call({}, { ...grid, heads: 2, mode: "cross", stripeWidth: 1.5 })).toThrow(
      /opts.stripeWidth must be an integer >= 1, got 1.5/,
    );
    expect(() => call({}, { ...grid, heads: 2, mode: "cross" })).toThrow(/opts.stripeWidth must be an integer >= 1, got undefined/);
  });
  it("shape mismatches", () => {
    expect(() => call({ k: [1, 6, 4] }, { ...grid, heads: 2, mode: "global" })).toThrow(
      /crossShapedWindowAttention: q, k and v must have one shape \(B, H \* W, C\), got q \(1, 6, 8\), k \(1, 6, 4\), v \(1, 6, 4\)/,
    );
    expect(() => call({ q: [1, 5, 8] }, { ...grid, heads: 2, mode: "global" })).toThrow(/q, k, v hold 5 tokens, but the grid 2x3 has 6/);
    expect(() => call({ w: [8, 1, 3, 3] }, { ...grid, heads: 2, mode: "global" })).toThrow(
      /lepeWeight must be \(C, 3, 3\) = \(8, 3, 3\), got \(8, 1, 3, 3\)/,
    );
    expect(() => call({ b: [4] }, { ...grid, heads: 2, mode: "global" })).toThrow(/lepeBias must be \(C\) = \(8\), got \(4\)/);
  });
  it("unknown mode and bad grid", () => {
    expect(() => call({}, { ...grid, heads: 2, mode: "shifted" })).toThrow(/opts.mode must be "cross" or "global", got "shifted"/);
    expect(() => call({}, { height: 0, width: 3, heads: 2, mode: "global" })).toThrow(/opts.height must be an integer >= 1, got 0/);
  });
  it("logits past the device's storage buffer limit", () => {
    // global 2x3 grid, 2 heads: 1 window x 2 heads x 6^2 x 8 bytes = 576 bytes
    expect(() => call({}, { ...grid, heads: 2, mode: "global", maxBufferBytes: 575 })).toThrow(
      /crossShapedWindowAttention: the 2x3 windows' logits \(1 windows x 2 heads x 6\^2 x 8 bytes = 576 bytes\) exceed the device's storage buffer limit of 575 bytes/,
    );
  });
  it("cswinAttention: projection shapes", () => {
    const x = np.zeros([1, 6, 4], { dtype: np.float64 });
    const w = (s: number[]) => np.zeros(s, { dtype: np.float64 });
    expect(() =>
      cswinAttention(
        x,
        { qkvWeight: w([12, 3]), lepeWeight: w([4, 3, 3]), lepeBias: w([4]), projWeight: w([4, 4]), projBias: w([4]) },
        { ...grid, heads: 2, mode: "global" },
      ),
    ).toThrow(/cswinAttention: weights.qkvWeight must be \(3C, C\) = \(12, 4\), got \(12, 3\)/);
  });
});
