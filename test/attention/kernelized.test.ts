import { jit, numpy as np } from "@jax-js/jax";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import {
  type KernelizedOptions,
  kernelizedAttention,
  kernelizedAttentionDense,
  kernelizedAttentionInChunks,
  kernelizedEvaluation,
  kernelizedRpeAttention,
  planKernelized,
} from "../../src/attention/kernelized.js";
import { fftLength } from "../../src/attention/toeplitz.js";
import { gaussianOrthogonalProjection } from "../../src/pe/orthogonalFeatures.js";
import { rng } from "../../src/pe/random.js";
import { init } from "../../src/runtime/init.js";
import { checkGradients, type Input, randn, read } from "../gradcheck.js";
import { expectClose, FLOAT64_EPS, FLOAT64_FORMULA } from "../tolerance.js";
import { type AttentionInputs, attentionReference, prfReference, worstRatio } from "./kernelizedReference.js";

beforeAll(async () => {
  await init({ device: "cpu" });
});

const arr = (data: Float64Array, shape: number[]) => np.array(data).reshape(shape);

interface Case extends AttentionInputs {
  phiQ: Float64Array;
  phiK: Float64Array;
  v: Float64Array;
  rpe?: Float64Array;
}

/** Positive features exp(N(0, 1)) / sqrt(M), values N(0, 1), biases N(0, 1) plus a decay with distance. */
function makeCase(dims: { B: number; H: number; L: number; M: number; Dv: number }, causal: boolean, withRpe: boolean, seed: number): Case {
  const { B, H, L, M, Dv } = dims;
  const r = rng(seed);
  const features = () => Float64Array.from({ length: B * H * L * M }, () => Math.exp(r.normal()) / Math.sqrt(M));
  const phiQ = features();
  const phiK = features();
  const v = Float64Array.from({ length: B * H * L * Dv }, () => r.normal());
  const rpe = withRpe
    ? Float64Array.from({ length: H * (2 * L - 1) }, (_, i) => r.normal() - 0.1 * Math.abs((i % (2 * L - 1)) - (L - 1)))
    : undefined;
  return { ...dims, phiQ, phiK, v, rpe, causal };
}

function run(f: typeof kernelizedAttention, c: Case, extra: Partial<KernelizedOptions> = {}): Promise<Float64Array> {
  const { B, H, L, M, Dv } = c;
  const rpe = c.rpe ? arr(c.rpe, [H, 2 * L - 1]) : undefined;
  return read(f(arr(c.phiQ, [B, H, L, M]), arr(c.phiK, [B, H, L, M]), arr(c.v, [B, H, L, Dv]), { rpe, causal: c.causal, ...extra }));
}

function expectWithinBound(got: Float64Array, ref: ReturnType<typeof attentionReference>, what: string) {
  const { ratio, at } = worstRatio(got, ref.z, ref.bound(FLOAT64_EPS));
  expect(ratio, `${what}: index ${at} got ${got[at]}, expected ${ref.z[at]}`).toBeLessThanOrEqual(1);
}

describe("kernelizedAttention equals the O(L^2) float64 formula", () => {
  for (const L of [1, 6, 7, 16, 17]) {
    for (const causal of [false, true]) {
      it(`L=${L} (${L % 2 ? "odd" : "even"}), ${causal ? "causal" : "bidirectional"}, with and without RPE`, async () => {
        for (const withRpe of [true, false]) {
          const c = makeCase({ B: 2, H: 2, L, M: 3, Dv: 2 }, causal, withRpe, 100 * L + (causal ? 1 : 0));
          const ref = attentionReference(c);
          expectWithinBound(await run(kernelizedAttention, c), ref, `FFT, rpe ${withRpe}`);
          expectClose(await run(kernelizedAttentionDense, c), ref.z, FLOAT64_FORMULA, `dense, rpe ${withRpe}`);
          expectClose(
            await run(kernelizedAttention, c, { evaluation: "dense" }),
            ref.z,
            FLOAT64_FORMULA,
            `evaluation dense, rpe ${withRpe}`,
          );
          expectClose(await run(kernelizedAttention, c, { evaluation: "auto" }), ref.z, FLOAT64_FORMULA, `evaluation auto, rpe ${withRpe}`);
        }
      });
    }
  }

  it("with eps in the denominator, and with the bias given as plain numbers", async () => {
    const c = makeCase({ B: 1, H: 3, L: 9, M: 4, Dv: 3 }, true, true, 5);
    const ref = attentionReference({ ...c, eps: 0.25 });
    const { B, H, L, M, Dv } = c;
    const got = await read(
      kernelizedAttention(arr(c.phiQ, [B, H, L, M]), arr(c.phiK, [B, H, L, M]), arr(c.v, [B, H, L, Dv]), {
        rpe: Array.from(c.rpe!),
        causal: true,
        eps: 0.25,
      }),
    );
    expectWithinBound(got, ref, "eps 0.25, rpe as numbers");
  });

  it("a jitted call equals the eager one", async () => {
    const c = makeCase({ B: 1, H: 2, L: 10, M: 3, Dv: 2 }, true, true, 6);
    const { B, H, L, M, Dv } = c;
    const f = jit((q: np.Array, k: np.Array, v: np.Array, b: np.Array) => kernelizedAttention(q, k, v, { rpe: b, causal: true }));
    const got = await read(f(arr(c.phiQ, [B, H, L, M]), arr(c.phiK, [B, H, L, M]), arr(c.v, [B, H, L, Dv]), arr(c.rpe!, [H, 2 * L - 1])));
    f.dispose();
    expectWithinBound(got, attentionReference(c), "jit");
  });
});

describe("evaluation: dense or FFT", () => {
  const budget = { maxBufferBytes: 2 ** 31 - 1 };
  it("auto takes the (L, L) matrix while it holds fewer floats than the FFT products and fits one buffer", () => {
    const pick = (L: number, opts: Partial<KernelizedOptions> = {}, M = 32, Dv = 16) =>
      kernelizedEvaluation([1, 8, L, M], Dv, np.float32, { causal: true, memory: budget, ...opts });
    expect([64, 128, 1024, 2048].map((L) => pick(L))).toEqual(["dense", "dense", "dense", "dense"]);
    expect([2400, 4096].map((L) => pick(L))).toEqual(["fft", "fft"]);
    expect(pick(128, { causal: false })).toBe("fft"); // linear attention, O(L M Dv)
    expect(pick(128, { causal: false, rpe: [] })).toBe("dense");
    expect(pick(128, {}, 1, 1)).toBe("fft"); // one feature, one channel: the FFT products are smaller
    expect(pick(128, { memory: { maxBufferBytes: 8 * 128 * 128 * 4 - 1 } })).toBe("fft"); // the matrix does not fit
    expect(() => kernelizedEvaluation([1, 8, 128], 16, np.float32, { causal: true })).toThrow(
      "kernelizedEvaluation: featureShape must be (B, H, L, M), four integers >= 1, got [1,8,128]",
    );
    expect(() => kernelizedEvaluation([1, 8, 128, 32], 0, np.float32, { causal: true })).toThrow(
      "kernelizedEvaluation: Dv must be an integer >= 1, got 0",
    );
    expect(() => kernelizedEvaluation([1, 8, 128, 32], 16, np.float32, {} as KernelizedOptions)).toThrow(
      "kernelizedEvaluation: opts.causal must be true or false, got undefined",
    );
  });

  it("dense gradients through kernelizedRpeAttention pass the float64 gradient check (causal, RPE, PRF)", async () => {
    const [B, H, L, D, M] = [1, 2, 6, 3, 4];
    const W = () => arr(gaussianOrthogonalProjection(M, D, { seed: 7, scaling: "chi" }), [M, D]);
    await checkGradients(
      (q, k, v, b) =>
        kernelizedRpeAttention(q, k, v, {
          features: { kind: "prf", projection: W(), inputScale: "softmax" },
          qkNorm: "l2",
          rpe: b,
          causal: true,
          evaluation: "dense",
        }),
      [randn([B, H, L, D], 71, 0.7), randn([B, H, L, D], 72, 0.7), randn([B, H, L, 2], 73), randn([H, 2 * L - 1], 74)],
    );
  });

  it("refuses an unknown evaluation, naming it, and consumes the arrays", () => {
    const z = () => np.zeros([1, 1, 4, 2], { dtype: np.float64 });
    const [q, k, v] = [z(), z(), z()];
    expect(() => kernelizedAttention(q, k, v, { causal: true, evaluation: "quadratic" as never })).toThrow(
      'kernelizedAttention: opts.evaluation must be "fft", "dense" or "auto", got "quadratic"',
    );
    expect([q.refCount, k.refCount, v.refCount]).toEqual([0, 0, 0]);
  });
});

describe("memory limits", () => {
  const dims = { B: 2, H: 3, L: 12, M: 4, Dv: 3 };
  const n = fftLength(dims.L); // 24
  const budget = (chunkBytes: number) => ({ maxBufferBytes: 2 ** 31 - 1, chunkBytes });
  const plan = (chunkBytes: number) => planKernelized("test", dims.B, dims.H, dims.L, dims.M, dims.Dv, np.float64, budget(chunkBytes));
  // a chunk of B x hb heads x C channels holds at most B hb max(C L, ceil(C/2) n) float64
  const perHead = 8 * dims.B * Math.max(dims.M * (dims.Dv + 1) * dims.L, Math.ceil((dims.M * (dims.Dv + 1)) / 2) * n);

  it("splits by head, by feature block and by value-channel block as the chunk target shrinks", () => {
    expect(plan(3 * perHead)).toEqual({ heads: [[0, 3]], features: [[0, 4]], values: [[0, 4]] });
    expect(plan(2 * perHead)).toEqual({
      heads: [
        [0, 2],
        [2, 3],
      ],
      features: [[0, 4]],
      values: [[0, 4]],
    });
    expect(plan(perHead / 2)).toEqual({
      heads: [
        [0, 1],
        [1, 2],
        [2, 3],
      ],
      features: [
        [0, 2],
        [2, 4],
      ],
      values: [[0, 4]],
    });
    expect(plan(8 * dims.B * n)).toEqual({
      heads: [
        [0, 1],
        [1, 2],
        [2, 3],
      ],
      features: [
        [0, 1],
        [1, 2],
        [2, 3],
        [3, 4],
      ],
      values: [
        [0, 2],
        [2, 4],
      ],
    });
  });

  it("gives the same result under a simulated small device limit and small chunk targets", async () => {
    for (const causal of [false, true]) {
      const c = makeCase(dims, causal, true, 7);
      const ref = attentionReference(c);
      const outputBytes = 8 * dims.B * dims.H * dims.L * (dims.Dv + 1);
      for (const memory of [{ maxBufferBytes: outputBytes }, { chunkBytes: perHead / 2 }, { chunkBytes: 8 * dims.B * n }]) {
        expectWithinBound(await run(kernelizedAttention, c, { memory }), ref, `causal ${causal}, ${JSON.stringify(memory)}`);
      }
    }
  });

  it("kernelizedAttentionInChunks, which waits for each chunk, gives the same result and consumes its inputs", async () => {
    for (const [causal, withRpe] of [
      [true, true],
      [false, true],
      [true, false],
      [false, false],
    ]) {
      const c = makeCase(dims, causal, withRpe, 10);
      const { B, H, L, M, Dv } = c;
      const [q, k, v] = [arr(c.phiQ, [B, H, L, M]), arr(c.phiK, [B, H, L, M]), arr(c.v, [B, H, L, Dv])];
      const rpe = c.rpe ? arr(c.rpe, [H, 2 * L - 1]) : undefined;
      const got = await read(await kernelizedAttentionInChunks(q, k.ref, v, { rpe, causal, memory: { chunkBytes: 8 * dims.B * n } }));
      expectWithinBound(got, attentionReference(c), `causal ${causal}, rpe ${withRpe}`);
      expect([q.refCount, k.refCount, v.refCount, rpe?.refCount ?? 0]).toEqual([0, 1, 0, 0]);
      k.dispose();
    }
  });

  it("refuses arrays larger than the device allows (simulated small limit)", () => {
    const c = makeCase(dims, false, true, 8);
    // the output with its denominator, (2, 3, 12, 4) float64 = 2304 bytes
    expect(() => run(kernelizedAttention, c, { memory: { maxBufferBytes: 2000 } })).toThrow(
      /kernelizedAttention: the output with its denominator \(2, 3, 12, 4\) float64 needs 2304 bytes, more than the device allows for one array \(maxBufferBytes 2000\)/,
    );
    // one padded channel of one head, (B, n) = (2, 35) float64 = 560 bytes, where the output (2, 1, 17, 2) takes 544
    const tall = makeCase({ B: 2, H: 1, L: 17, M: 1, Dv: 1 }, true, true, 9);
    expect(() => run(kernelizedAttention, tall, { memory: { maxBufferBytes: 550 } })).toThrow(
      /kernelizedAttention: one channel of one head, \(B, n\) = \(2, 35\) float64, needs 560 bytes, more than maxBufferBytes 550/,
    );
    expect(() => run(kernelizedAttentionDense, c, { memory: { maxBufferBytes: 4000 } })).toThrow(
      /kernelizedAttentionDense: the attention matrix \(2, 3, 12, 12\) float64 needs 6912 bytes/,
    );
  });
});

describe("causality", () => {
  it("causal outputs do not depend on later tokens (property: changed later q, k, v and later-offset biases)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 2, max: 14 }), fc.integer({ min: 0, max: 1e6 }), fc.boolean(), async (L, seed, dense) => {
        const t = Math.floor(L / 2); // rows 0..t-1 must not change
        const a = makeCase({ B: 1, H: 2, L, M: 3, Dv: 2 }, true, true, seed);
        const other = makeCase({ B: 1, H: 2, L, M: 3, Dv: 2 }, true, true, seed + 1);
        const b: Case = { ...a, phiQ: a.phiQ.slice(), phiK: a.phiK.slice(), v: a.v.slice(), rpe: a.rpe!.slice() };
        for (let h = 0; h < 2; h++) {
          for (let j = t; j < L; j++) {
            for (let m = 0; m < 3; m++) {
              b.phiQ[(h * L + j) * 3 + m] = other.phiQ[(h * L + j) * 3 + m];
              b.phiK[(h * L + j) * 3 + m] = other.phiK[(h * L + j) * 3 + m];
            }
            for (let d = 0; d < 2; d++) b.v[(h * L + j) * 2 + d] = other.v[(h * L + j) * 2 + d];
          }
          for (let o = L; o < 2 * L - 1; o++) b.rpe![h * (2 * L - 1) + o] = 5 * other.rpe![h * (2 * L - 1) + o]; // offsets j > i
        }
        const f = dense ? kernelizedAttentionDense : kernelizedAttention;
        const [za, zb] = [await run(f, a), await run(f, b)];
        // Each run is within its FFT rounding bound of the exact value, which is the same for rows < t.
        const [ba, bb] = [attentionReference(a).bound(FLOAT64_EPS), attentionReference(b).bound(FLOAT64_EPS)];
        for (let h = 0; h < 2; h++) {
          for (let i = 0; i < t * 2; i++) {
            const idx = h * L * 2 + i;
            expect(Math.abs(za[idx] - zb[idx]), `L=${L} row ${Math.floor(i / 2)}`).toBeLessThanOrEqual(ba[idx] + bb[idx]);
          }
        }
      }),
      { numRuns: 20 },
    );
  });
});

describe("kernelizedRpeAttention", () => {
  const B = 1,
    H = 2,
    L = 7,
    D = 3,
    M = 4,
    Dv = 2;
  const W = gaussianOrthogonalProjection(M, D, { seed: 50, scaling: "chi" });
  const projection = () => arr(W, [M, D]);

  it("is l2 normalisation (when asked), PRF features with query/key stabilisers, then kernelizedAttention", async () => {
    const q = randn([B, H, L, D], 51);
    const k = randn([B, H, L, D], 52);
    const v = randn([B, H, L, Dv], 53);
    const b = randn([H, 2 * L - 1], 54);
    for (const qkNorm of ["l2", "none"] as const) {
      const unit = (x: Float64Array) =>
        qkNorm === "none" ? x : Float64Array.from(x, (val, i) => val / Math.hypot(...x.subarray(i - (i % D), i - (i % D) + D)));
      const phi = (x: Float64Array, role: "query" | "key") => {
        const out = new Float64Array(B * H * L * M);
        for (let bh = 0; bh < B * H; bh++)
          out.set(prfReference(unit(x).subarray(bh * L * D, (bh + 1) * L * D), L, D, W, M, role, D ** -0.25), bh * L * M);
        return out;
      };
      const ref = attentionReference({
        phiQ: phi(q.data, "query"),
        phiK: phi(k.data, "key"),
        v: v.data,
        rpe: b.data,
        B,
        H,
        L,
        M,
        Dv,
        causal: true,
      });
      const got = await read(
        kernelizedRpeAttention(arr(q.data, q.shape), arr(k.data, k.shape), arr(v.data, v.shape), {
          features: { kind: "prf", projection: projection(), inputScale: "softmax" },
          qkNorm,
          rpe: arr(b.data, b.shape),
          causal: true,
        }),
      );
      expectWithinBound(got, ref, `qkNorm ${qkNorm}`);
    }
  });

  it("is differentiable in q, k, v (through the feature maps) and the bias b", async () => {
    const inputs: Input[] = [
      randn([B, H, L, D], 61, 0.7),
      randn([B, H, L, D], 62, 0.7),
      randn([B, H, L, Dv], 63),
      randn([H, 2 * L - 1], 64),
    ];
    const prf = (inputScale: "softmax" | "none") => () => ({ kind: "prf" as const, projection: projection(), inputScale });
    const cases = [
      { features: prf("softmax"), qkNorm: "none" as const, causal: false, eps: 0 },
      { features: prf("none"), qkNorm: "l2" as const, causal: true, eps: 0 },
      // ReLU features of a query and of every key can have disjoint supports: eps guards 0/0.
      // Bidirectional, so that no denominator is near eps: there the VJP is still right but
      // the third derivative is large and the central difference's O(eps^2) error is not.
      { features: () => ({ kind: "relu" as const, projection: projection() }), qkNorm: "none" as const, causal: false, eps: 1e-3 },
      { features: () => ({ kind: "eluPlusOne" as const }), qkNorm: "l2" as const, causal: false, eps: 0 },
    ];
    for (const c of cases) {
      await checkGradients(
        (q, k, v, b) => kernelizedRpeAttention(q, k, v, { features: c.features(), qkNorm: c.qkNorm, rpe: b, causal: c.causal, eps: c.eps }),
        inputs,
      );
    }
  });

  it("consumes q, k, v, the projection and the bias; .ref keeps them", async () => {
    const make = (shape: number[], seed: number) => arr(randn(shape, seed).data, shape);
    const [q, k, v, w, b] = [make([B, H, L, D], 1), make([B, H, L, D], 2), make([B, H, L, Dv], 3), projection(), make([H, 2 * L - 1], 4)];
    const out = kernelizedRpeAttention(q.ref, k, v, {
      features: { kind: "prf", projection: w, inputScale: "softmax" },
      qkNorm: "l2",
      rpe: b.ref,
      causal: true,
    });
    await out.data();
    expect([q.refCount, k.refCount, v.refCount, w.refCount, b.refCount]).toEqual([1, 0, 0, 0, 1]);
    q.dispose();
    b.dispose();
  });
});

describe("bad input", () => {
  const zeros = (shape: number[], dtype = np.float64) => np.zeros(shape, { dtype });
  const attend = (opts: Partial<KernelizedOptions> & Record<string, unknown>, L = 1024, Dv = 4) =>
    kernelizedAttention(zeros([1, 8, L, 4]), zeros([1, 8, L, 4]), zeros([1, 8, L, Dv]), { causal: false, ...opts } as KernelizedOptions);

  it("names the function, the argument and the shapes", () => {
    expect(() => attend({ rpe: zeros([8, 2048]) })).toThrow("kernelizedAttention: rpe must be (H, 2L-1) = (8, 2047), got (8, 2048)");
    expect(() => attend({ rpe: new Float64Array(8 * 2047 - 1) })).toThrow(
      "kernelizedAttention: rpe must be (H, 2L-1) = (8, 2047) = 16376 values, got 16375",
    );
    expect(() => attend({ rpe: zeros([8, 2047], np.float32) })).toThrow(
      "kernelizedAttention: rpe must have the dtype of phiQ (float64), got float32",
    );
    expect(() => attend({ causal: undefined })).toThrow("kernelizedAttention: opts.causal must be true or false, got undefined");
    expect(() => attend({ eps: -1 })).toThrow("kernelizedAttention: opts.eps must be a finite number >= 0, got -1");
    expect(() => kernelizedAttention(zeros([1, 8, 16, 4]), zeros([1, 8, 16, 5]), zeros([1, 8, 16, 2]), { causal: true })).toThrow(
      "kernelizedAttention: phiQ and phiK must both be (B, H, L, M), got phiQ (1, 8, 16, 4) and phiK (1, 8, 16, 5)",
    );
    expect(() => kernelizedAttention(zeros([1, 8, 16, 4]), zeros([1, 8, 16, 4]), zeros([1, 8, 15, 2]), { causal: true })).toThrow(
      "kernelizedAttention: v must be (B, H, L, Dv) = (1, 8, 16, Dv), got (1, 8, 15, 2)",
    );
    expect(() => kernelizedAttention(zeros([8, 16, 4]), zeros([8, 16, 4]), zeros([8, 16, 2]), { causal: true })).toThrow(
      "kernelizedAttention: phiQ must be (B, H, L, M), got (8, 16, 4)",
    );
    expect(() => kernelizedAttention(zeros([1, 1, 4, 2]), zeros([1, 1, 4, 2], np.float32), zeros([1, 1, 4, 2]), { causal: true })).toThrow(
      "kernelizedAttention: phiQ, phiK and v must have the same dtype, got float64, float32 and float64",
    );
  });

  it("rejects NaN and infinite biases given as numbers, naming head and offset", () => {
    const rpe = new Float64Array(2 * 7);
    rpe[7 + 5] = NaN;
    expect(() => kernelizedAttention(zeros([1, 2, 4, 2]), zeros([1, 2, 4, 2]), zeros([1, 2, 4, 1]), { causal: true, rpe })).toThrow(
      "kernelizedAttention: rpe[1][5] (head 1, offset j-i = 2) must be finite, got NaN",
    );
  });

  it("checks the options of kernelizedRpeAttention and consumes its arrays when it throws", () => {
    const q = zeros([1, 2, 4, 3]);
    const w = zeros([5, 2]);
    expect(() =>
      kernelizedRpeAttention(q, zeros([1, 2, 4, 3]), zeros([1, 2, 4, 1]), {
        features: { kind: "prf", projection: w, inputScale: "none" },
        qkNorm: "l2",
        causal: true,
      }),
    ).toThrow("kernelizedRpeAttention: opts.features.projection must be (M, D) = (M, 3) float64, got (5, 2) float64");
    expect([q.refCount, w.refCount]).toEqual([0, 0]);
    expect(() =>
      // @ts-expect-error qkNorm is required
      kernelizedRpeAttention(zeros([1, 2, 4, 3]), zeros([1, 2, 4, 3]), zeros([1, 2, 4, 1]), {
        features: { kind: "eluPlusOne" },
        causal: true,
      }),
    ).toThrow('kernelizedRpeAttention: opts.qkNorm must be "l2" or "none", got undefined');
    expect(() =>
      kernelizedRpeAttention(zeros([1, 2, 4, 3]), zeros([1, 2, 4, 3]), zeros([1, 2, 4, 1]), {
        // @ts-expect-error not a feature map
        features: { kind: "cos" },
        qkNorm: "none",
        causal: true,
      }),
    ).toThrow('kernelizedRpeAttention: opts.features.kind must be "prf", "relu" or "eluPlusOne", got "cos"');
    expect(() =>
      kernelizedRpeAttention(zeros([1, 2, 4, 3]), zeros([1, 2, 5, 3]), zeros([1, 2, 4, 1]), {
        features: { kind: "eluPlusOne" },
        qkNorm: "none",
        causal: true,
      }),
    ).toThrow("kernelizedRpeAttention: q and k must both be (B, H, L, D), got q (1, 2, 4, 3) and k (1, 2, 5, 3)");
  });

  it("consumes phiQ, phiK, v and an array rpe also when it throws", () => {
    const [q, k, v, b] = [zeros([1, 2, 4, 2]), zeros([1, 2, 4, 2]), zeros([1, 2, 4, 1]), zeros([2, 8])];
    expect(() => kernelizedAttention(q, k, v, { causal: true, rpe: b })).toThrow(/rpe must be/);
    expect([q.refCount, k.refCount, v.refCount, b.refCount]).toEqual([0, 0, 0, 0]);
  });
});
