import { numpy as np } from "@jax-js/jax";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { type AttentionOptions, attention } from "../../src/attention/attention.js";
import type { AttentionPE } from "../../src/attention/spec.js";
import { slopes } from "../../src/pe/alibi.js";
import { transform as fireTransform } from "../../src/pe/fire.js";
import { kernel as kerpleKernel } from "../../src/pe/kerple.js";
import { applyRope, tables } from "../../src/pe/rope/apply.js";
import { inverseFrequencies } from "../../src/pe/rope/frequencies.js";
import { relativeBucket } from "../../src/pe/t5.js";
import { init } from "../../src/runtime/init.js";
import { type Input, randn, read } from "../gradcheck.js";
import { expectClose, FLOAT64_FORMULA, JIT_VS_EAGER } from "../tolerance.js";
import { arr, referenceAttention } from "./reference.js";

beforeAll(async () => {
  await init({ device: "cpu" });
});

const B = 2,
  H = 4,
  L = 6,
  S = 6,
  D = 4;
const q = randn([B, H, L, D], 1);
const k = randn([B, H, S, D], 2);
const v = randn([B, H, S, 3], 3);
const scale = 0.7;

async function run(pe: AttentionPE | undefined, o: Omit<AttentionOptions, "pe"> = {}, qi = q, ki = k, vi = v) {
  return read(attention(arr(qi), arr(ki), arr(vi), { scale, ...o, pe }));
}

describe("attention equals the float64 formula", () => {
  it("no positional encoding, all masks", async () => {
    expectClose(await run(undefined), referenceAttention(q, k, v, { scale }), FLOAT64_FORMULA, "plain");
    expectClose(
      await run({ type: "none" }, { causal: true }),
      referenceAttention(q, k, v, { scale, causal: true }),
      FLOAT64_FORMULA,
      "causal",
    );
    expectClose(
      await run(undefined, { causal: true, window: 3 }),
      referenceAttention(q, k, v, { scale, causal: true, window: [2, 0] }),
      FLOAT64_FORMULA,
      "window",
    );
    expectClose(
      await run(undefined, { window: [1, 2] }),
      referenceAttention(q, k, v, { scale, window: [1, 2] }),
      FLOAT64_FORMULA,
      "two-sided",
    );
    const padding = [
      [1, 1, 1, 1, 0, 0],
      [1, 1, 1, 1, 1, 1],
    ];
    const got = await read(attention(arr(q), arr(k), arr(v), { scale, paddingMask: np.array(padding) }));
    expectClose(got, referenceAttention(q, k, v, { scale, padding }), FLOAT64_FORMULA, "padding");
  });

  it("grouped-query and multi-query heads", async () => {
    for (const Hkv of [2, 1]) {
      const kg = randn([B, Hkv, S, D], 4);
      const vg = randn([B, Hkv, S, 3], 5);
      expectClose(
        await run(undefined, { causal: true }, q, kg, vg),
        referenceAttention(q, kg, vg, { scale, causal: true }),
        FLOAT64_FORMULA,
        `Hkv=${Hkv}`,
      );
    }
  });

  it("ALiBi, full and partial heads", async () => {
    for (const m of [slopes(H), Float64Array.of(...slopes(2), 0, 0)]) {
      const expected = referenceAttention(q, k, v, { scale, causal: true, bias: (h, i, j) => -m[h] * Math.abs(i - j) });
      expectClose(await run({ type: "bias", kind: "alibi", slopes: m }, { causal: true }), expected, FLOAT64_FORMULA);
    }
  });

  it("ALiBi with custom positions", async () => {
    const qp = [0, 2, 5, 9, 11, 20];
    const kp = [1, 3, 4, 8, 15, 16];
    const m = slopes(H);
    const expected = referenceAttention(q, k, v, { scale, bias: (h, i, j) => -m[h] * Math.abs(qp[i] - kp[j]) });
    expectClose(await run({ type: "bias", kind: "alibi", slopes: m }, { queryPositions: qp, keyPositions: kp }), expected, FLOAT64_FORMULA);
  });

  it("T5 buckets, bidirectional and causal, with static and traced positions", async () => {
    const table = randn([32, H], 6);
    for (const bidirectional of [true, false]) {
      const pe = () => ({ type: "bias", kind: "t5", table: arr(table), bidirectional, numBuckets: 32, maxDistance: 128 }) as const;
      const expected = referenceAttention(q, k, v, {
        scale,
        causal: !bidirectional,
        bias: (h, i, j) => table.data[relativeBucket(j - i, { bidirectional }) * H + h],
      });
      expectClose(await run(pe(), { causal: !bidirectional }), expected, FLOAT64_FORMULA, `static ${bidirectional}`);
      const traced = { queryPositions: np.arange(0, L).astype(np.float64), keyPositions: np.arange(0, S).astype(np.float64) };
      expectClose(await run(pe(), { causal: !bidirectional, ...traced }), expected, FLOAT64_FORMULA, `traced ${bidirectional}`);
    }
  });

  it("KERPLE log and power", async () => {
    const r1 = Float64Array.of(0.5, 1, 1.5, 2);
    const r2 = Float64Array.of(0.2, 0.7, 1.1, 1.9);
    for (const variant of ["log", "power"] as const) {
      const expected = referenceAttention(q, k, v, { scale, causal: true, bias: (h, i, j) => kerpleKernel(variant, r1[h], r2[h], i - j) });
      const pe = { type: "bias", kind: "kerple", variant, r1: np.array(r1), r2: np.array(r2) } as const;
      expectClose(await run(pe, { causal: true }), expected, FLOAT64_FORMULA, variant);
    }
  });

  const mlpParams = (out: number, seed: number) => ({
    w1: randn([1, 5], seed),
    b1: randn([5], seed + 1),
    w2: randn([5, out], seed + 2),
    b2: randn([out], seed + 3),
  });
  const mlpRef = (p: ReturnType<typeof mlpParams>, x: number, h: number, act: (z: number) => number) => {
    let y = p.b2.data[h];
    for (let u = 0; u < 5; u++) y += act(x * p.w1.data[u] + p.b1.data[u]) * p.w2.data[u * p.w2.shape[1] + h];
    return y;
  };
  const mlpArrays = (p: ReturnType<typeof mlpParams>) => ({ w1: arr(p.w1), b1: arr(p.b1), w2: arr(p.w2), b2: arr(p.b2) });

  it("FIRE: MLP of the normalised log distance (pe/fire transform)", async () => {
    const p = mlpParams(H, 10);
    const params = { c: 0.3, threshold: 4, eps: 1e-6 };
    const t = fireTransform(params, L, S);
    const expected = referenceAttention(q, k, v, {
      scale,
      causal: true,
      bias: (h, i, j) => mlpRef(p, t[i * S + j], h, (z) => Math.max(z, 0)),
    });
    const pe = {
      type: "bias",
      kind: "fire",
      mlp: mlpArrays(p),
      c: np.array(0.3).astype(np.float64),
      threshold: np.array(4).astype(np.float64),
      eps: 1e-6,
    } as const;
    expectClose(await run(pe, { causal: true }), expected, FLOAT64_FORMULA);
  });

  it("dynamic MLP bias on j - i, plain and log distance", async () => {
    const p = mlpParams(H, 20);
    const silu = (z: number) => z / (1 + Math.exp(-z));
    for (const logDistance of [false, true]) {
      const f = (d: number) => (logDistance ? Math.sign(d) * Math.log(Math.abs(d) + 1) : d);
      const expected = referenceAttention(q, k, v, { scale, bias: (h, i, j) => mlpRef(p, f(j - i), h, silu) });
      expectClose(
        await run({ type: "bias", kind: "mlp", mlp: mlpArrays(p), logDistance }),
        expected,
        FLOAT64_FORMULA,
        `log ${logDistance}`,
      );
    }
  });

  it("learned table b[h, clip(j - i)]", async () => {
    const R = 3;
    const table = randn([H, 2 * R + 1], 30);
    const expected = referenceAttention(q, k, v, {
      scale,
      bias: (h, i, j) => table.data[h * (2 * R + 1) + Math.max(-R, Math.min(R, j - i)) + R],
    });
    expectClose(await run({ type: "bias", kind: "table", table: arr(table), maxDistance: R }), expected, FLOAT64_FORMULA);
  });

  it("rotary: both pairings, partial, per-head subset, xPos", async () => {
    for (const pairing of ["halves", "interleaved"] as const) {
      for (const rotaryDim of [4, 2]) {
        const inv = inverseFrequencies(rotaryDim, 100);
        const rot = (x: Input, n: number) => {
          const out = Float64Array.from(x.data);
          const t = tables(n, inv, { pairing });
          for (let bh = 0; bh < x.data.length / (n * D); bh++) {
            out.set(applyRope(x.data.subarray(bh * n * D, (bh + 1) * n * D), t, { pairing, headDim: D }), bh * n * D);
          }
          return { data: out, shape: x.shape };
        };
        const expected = referenceAttention(rot(q, L), rot(k, S), v, { scale, causal: true });
        expectClose(
          await run({ type: "rotary", pairing, frequencies: { invFreq: inv } }, { causal: true }),
          expected,
          FLOAT64_FORMULA,
          `${pairing} ${rotaryDim}`,
        );
      }
    }
    // rotating only the last 2 heads leaves heads 0, 1 as without PE
    const inv = inverseFrequencies(4, 100);
    const some = await run({ type: "rotary", pairing: "halves", frequencies: { invFreq: inv }, heads: 2 });
    const none = await run(undefined);
    const all = await run({ type: "rotary", pairing: "halves", frequencies: { invFreq: inv } });
    const half = (x: Float64Array, b: number, h: number) => Array.from(x.slice((b * H + h) * L * 3, (b * H + h + 1) * L * 3));
    for (let b = 0; b < B; b++) {
      expect(half(some, b, 0)).toEqual(half(none, b, 0));
      expect(half(some, b, 3)).toEqual(half(all, b, 3));
    }
  });
});

describe("properties", () => {
  it("causal outputs do not depend on later tokens", async () => {
    const kinds: AttentionPE[] = [
      { type: "bias", kind: "alibi", slopes: slopes(H) },
      { type: "rotary", pairing: "interleaved", frequencies: { invFreq: inverseFrequencies(4, 10000) } },
    ];
    // these specs hold no arrays, so each can be passed to attention twice
    for (const pe of kinds) {
      const base = await run(pe, { causal: true });
      const k2 = { data: Float64Array.from(k.data), shape: k.shape };
      const v2 = { data: Float64Array.from(v.data), shape: v.shape };
      // change the last key and value of every head: only the last query row may change
      for (let bh = 0; bh < B * H; bh++) {
        for (let d = 0; d < D; d++) k2.data[(bh * S + S - 1) * D + d] += 1;
        for (let d = 0; d < 3; d++) v2.data[(bh * S + S - 1) * 3 + d] -= 2;
      }
      const changed = await read(attention(arr(q), arr(k2), arr(v2), { scale, causal: true, pe }));
      for (let bh = 0; bh < B * H; bh++) {
        for (let i = 0; i < L - 1; i++) {
          for (let d = 0; d < 3; d++) expect(changed[(bh * L + i) * 3 + d]).toBe(base[(bh * L + i) * 3 + d]);
        }
      }
    }
  });

  it("RoPE attention depends only on relative positions", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 1000 }), async (shift) => {
        const pe: AttentionPE = { type: "rotary", pairing: "halves", frequencies: { invFreq: inverseFrequencies(4, 10000) } };
        const a = await run(pe, { causal: true });
        const qp = Array.from({ length: L }, (_, i) => i + shift);
        const b = await run(pe, { causal: true, queryPositions: qp, keyPositions: qp });
        expectClose(b, a, { rtol: 1e-9, atol: 1e-9 }, `shift ${shift}`);
      }),
      { numRuns: 8 },
    );
  });
});

describe("jit", () => {
  it("a jitted attention with a learned T5 table and traced randomized positions equals the eager one", async () => {
    const { jit } = await import("@jax-js/jax");
    const table = randn([16, H], 40);
    const f = jit((qa: np.Array, ka: np.Array, va: np.Array, t: np.Array, pos: np.Array) =>
      attention(qa, ka, va, {
        scale,
        causal: true,
        queryPositions: pos.ref,
        keyPositions: pos,
        pe: { type: "bias", kind: "t5", table: t, bidirectional: false, numBuckets: 16, maxDistance: 64 },
      }),
    );
    for (const positions of [
      [0, 3, 4, 9, 20, 31],
      [1, 2, 5, 6, 7, 40],
    ]) {
      const pos = np.array(Float64Array.from(positions));
      const jitted = await read(f(arr(q), arr(k), arr(v), arr(table), pos));
      const eager = await read(
        attention(arr(q), arr(k), arr(v), {
          scale,
          causal: true,
          queryPositions: positions,
          keyPositions: positions,
          pe: { type: "bias", kind: "t5", table: arr(table), bidirectional: false, numBuckets: 16, maxDistance: 64 },
        }),
      );
      expectClose(jitted, eager, JIT_VS_EAGER, `positions ${positions}`);
    }
    f.dispose();
  });
});
