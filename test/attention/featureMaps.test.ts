import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, it } from "vitest";
import { eluPlusOne, featureMap, prf, projection, relu } from "../../src/attention/featureMaps.js";
import { gaussianOrthogonalProjection } from "../../src/pe/orthogonalFeatures.js";
import { rng } from "../../src/pe/random.js";
import { init } from "../../src/runtime/init.js";
import { checkGradients, randn, read } from "../gradcheck.js";
import { expectClose, FLOAT64_FORMULA } from "../tolerance.js";
import { prfReference } from "./kernelizedReference.js";

beforeAll(async () => {
  await init({ device: "cpu" });
});

const normals = (n: number, seed: number, scale = 1) => {
  const r = rng(seed);
  return Float64Array.from({ length: n }, () => scale * r.normal());
};
const arr = (data: Float64Array, shape: number[]) => np.array(data).reshape(shape);
const dot = (a: ArrayLike<number>, ai: number, b: ArrayLike<number>, bi: number, n: number) => {
  let s = 0;
  for (let c = 0; c < n; c++) s += a[ai + c] * b[bi + c];
  return s;
};

/**
 * Orthogonality of rows within a block: Gram-Schmidt with reorthogonalisation
 * leaves |w_a.w_b| / (|w_a| |w_b|) at a few float64 ulps times D.
 */
const ORTHOGONAL = 1e-14;

/** Five standard errors: a correct estimator fails a check with probability < 6e-7. */
const SIGMAS = 5;

describe("gaussianOrthogonalProjection", () => {
  it("stacks blocks of D mutually orthogonal rows; rows of different blocks are not orthogonal", () => {
    const D = 6;
    const M = 15; // two full blocks and three rows of a third
    const W = gaussianOrthogonalProjection(M, D, { seed: 3, scaling: "chi" });
    expect(W.length).toBe(M * D);
    let crossBlock = 0;
    for (let a = 0; a < M; a++) {
      for (let b = a + 1; b < M; b++) {
        const cos = dot(W, a * D, W, b * D, D) / Math.sqrt(dot(W, a * D, W, a * D, D) * dot(W, b * D, W, b * D, D));
        if (Math.floor(a / D) === Math.floor(b / D)) expect(Math.abs(cos), `rows ${a}, ${b}`).toBeLessThan(ORTHOGONAL);
        else crossBlock = Math.max(crossBlock, Math.abs(cos));
      }
    }
    expect(crossBlock).toBeGreaterThan(0.1);
  });

  it('"sqrtD" gives rows of norm sqrt(D); "chi" gives chi(D) norms (mean D and variance 2D of |w|^2)', () => {
    const D = 16;
    const M = 4096;
    const fixed = gaussianOrthogonalProjection(64, D, { seed: 1, scaling: "sqrtD" });
    for (let m = 0; m < 64; m++) expect(Math.abs(Math.sqrt(dot(fixed, m * D, fixed, m * D, D)) - 4)).toBeLessThan(1e-14);
    const W = gaussianOrthogonalProjection(M, D, { seed: 2, scaling: "chi" });
    const sq = Float64Array.from({ length: M }, (_, m) => dot(W, m * D, W, m * D, D));
    const mean = sq.reduce((a, b) => a + b, 0) / M;
    const variance = sq.reduce((a, b) => a + (b - mean) ** 2, 0) / (M - 1);
    // chi^2_D: mean D, variance 2D; the sample mean has s.e. sqrt(2D / M), the
    // sample variance sqrt((mu4 - sigma^4) / M) with mu4 = 12 D^2 + 48 D.
    expect(Math.abs(mean - D)).toBeLessThan(SIGMAS * Math.sqrt((2 * D) / M));
    expect(Math.abs(variance - 2 * D)).toBeLessThan(SIGMAS * Math.sqrt((8 * D * D + 48 * D) / M));
  });

  it("is a function of the seed: the same seed repeats the draw, a new seed redraws it", async () => {
    const a = gaussianOrthogonalProjection(10, 4, { seed: 7, scaling: "chi" });
    expect(gaussianOrthogonalProjection(10, 4, { seed: 7, scaling: "chi" })).toEqual(a);
    const b = gaussianOrthogonalProjection(10, 4, { seed: 8, scaling: "chi" });
    expect(b.some((v, i) => v !== a[i])).toBe(true);
    expect(Array.from(await read(projection(10, 4, { seed: 7, scaling: "chi", dtype: np.float64 })))).toEqual(Array.from(a));
  });

  it("rejects bad arguments", () => {
    expect(() => gaussianOrthogonalProjection(0, 4, { seed: 1, scaling: "chi" })).toThrow(
      "gaussianOrthogonalProjection: numFeatures must be an integer >= 1, got 0",
    );
    expect(() => gaussianOrthogonalProjection(4, 4, { seed: -1, scaling: "chi" })).toThrow(
      "gaussianOrthogonalProjection: options.seed must be an integer >= 0, got -1",
    );
    // @ts-expect-error not a scaling
    expect(() => gaussianOrthogonalProjection(4, 4, { seed: 1, scaling: "unit" })).toThrow(
      'gaussianOrthogonalProjection: options.scaling must be "chi" or "sqrtD", got "unit"',
    );
  });
});

describe("featureMap.prf", () => {
  const D = 4;
  const M = 6;
  const L = 5;
  const W = gaussianOrthogonalProjection(M, D, { seed: 11, scaling: "chi" });

  it("equals exp(W x' - |x'|^2/2 - s) / sqrt(M), s per query row or per (batch, head) over all keys", async () => {
    const x = normals(2 * 3 * L * D, 12); // (B=2, H=3, L, D)
    for (const role of ["query", "key"] as const) {
      for (const inputScale of ["softmax", "none"] as const) {
        const got = await read(prf(arr(x, [2, 3, L, D]), arr(W, [M, D]), { role, inputScale }));
        const scale = inputScale === "softmax" ? D ** -0.25 : 1;
        for (let bh = 0; bh < 6; bh++) {
          const ref = prfReference(x.subarray(bh * L * D, (bh + 1) * L * D), L, D, W, M, role, scale);
          expectClose(got.subarray(bh * L * M, (bh + 1) * L * M), ref, FLOAT64_FORMULA, `${role} ${inputScale} head ${bh}`);
        }
      }
    }
  });

  it("stays finite for large inputs: the largest query feature of each row, and key feature of each head, is 1/sqrt(M)", async () => {
    const x = normals(2 * L * D, 13, 40); // exponents of order 10^3: exp would overflow without the stabiliser
    x.fill(0.1, L * D); // a second head of small keys keeps its own maximum
    const q = await read(prf(arr(x, [2, L, D]), arr(W, [M, D]), { role: "query", inputScale: "none" }));
    const k = await read(prf(arr(x, [2, L, D]), arr(W, [M, D]), { role: "key", inputScale: "none" }));
    expect(q.every(Number.isFinite) && k.every(Number.isFinite)).toBe(true);
    for (let r = 0; r < 2 * L; r++) expect(Math.max(...q.subarray(r * M, (r + 1) * M))).toBe(1 / Math.sqrt(M));
    for (let h = 0; h < 2; h++) expect(Math.max(...k.subarray(h * L * M, (h + 1) * L * M))).toBe(1 / Math.sqrt(M));
  });

  it("is an unbiased estimator of exp(q.k) (and of exp(q.k / sqrt(D)) with softmax scaling), over many seeds", async () => {
    const Dq = 8;
    const blocksPerSeed = 64;
    const Mq = Dq * blocksPerSeed;
    const q = normals(Dq, 21, 0.2);
    const k = normals(Dq, 22, 0.2);
    for (const inputScale of ["none", "softmax"] as const) {
      const scale = inputScale === "softmax" ? Dq ** -0.25 : 1;
      const estimates: number[] = [];
      for (let seed = 1; seed <= 24; seed++) {
        const Wq = gaussianOrthogonalProjection(Mq, Dq, { seed, scaling: "chi" });
        const pq = await read(prf(arr(q, [1, Dq]), arr(Wq, [Mq, Dq]), { role: "query", inputScale }));
        const pk = await read(prf(arr(k, [1, Dq]), arr(Wq, [Mq, Dq]), { role: "key", inputScale }));
        // undo the stabilisers (constants that cancel in attention) to read the estimator itself
        const sq = Math.max(
          ...Array.from({ length: Mq }, (_, m) => scale * dot(Wq, m * Dq, q, 0, Dq) - (scale * scale * dot(q, 0, q, 0, Dq)) / 2),
        );
        const sk = Math.max(
          ...Array.from({ length: Mq }, (_, m) => scale * dot(Wq, m * Dq, k, 0, Dq) - (scale * scale * dot(k, 0, k, 0, Dq)) / 2),
        );
        // one estimate per orthogonal block: blocks are independent, rows within one are not
        for (let b = 0; b < blocksPerSeed; b++) {
          let s = 0;
          for (let m = b * Dq; m < (b + 1) * Dq; m++) s += pq[m] * pk[m];
          estimates.push((s * Mq * Math.exp(sq + sk)) / Dq);
        }
      }
      const n = estimates.length;
      const mean = estimates.reduce((a, b) => a + b, 0) / n;
      const se = Math.sqrt(estimates.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1) / n);
      const exact = Math.exp(scale * scale * dot(q, 0, k, 0, Dq));
      expect(se, "the check must be able to see a bias of 10%").toBeLessThan((0.1 / SIGMAS) * exact);
      expect(Math.abs(mean - exact), `${inputScale}: mean ${mean}, exp(q.k) ${exact}, s.e. ${se}`).toBeLessThan(SIGMAS * se);
    }
  });

  it("is differentiable in x and W, for queries and keys", async () => {
    for (const role of ["query", "key"] as const) {
      await checkGradients((x, w) => prf(x, w, { role, inputScale: "softmax" }), [randn([2, 3, 4], 31, 0.5), randn([5, 4], 32)]);
    }
  });

  it("consumes x and W; .ref keeps them", async () => {
    const x = arr(normals(2 * D, 5), [2, D]);
    const w = arr(W, [M, D]);
    await prf(x.ref, w, { role: "key", inputScale: "none" }).data();
    expect([x.refCount, w.refCount]).toEqual([1, 0]);
    await eluPlusOne(x).data();
    expect(x.refCount).toBe(0);
  });

  it("rejects bad arguments and still consumes them", () => {
    const x = arr(normals(8, 1), [2, 4]);
    const w = arr(normals(21, 2), [3, 7]);
    expect(() => prf(x, w, { role: "query", inputScale: "none" })).toThrow(
      "featureMap.prf: W must be (M, D) = (M, 4) with M >= 1, got (3, 7)",
    );
    expect(x.refCount).toBe(0);
    expect(w.refCount).toBe(0);
    const w4 = () => arr(normals(12, 2), [3, 4]);
    // @ts-expect-error role is required
    expect(() => prf(arr(normals(8, 1), [2, 4]), w4(), { inputScale: "none" })).toThrow(
      'featureMap.prf: opts.role must be "query" or "key", got undefined',
    );
    // @ts-expect-error inputScale is required
    expect(() => prf(arr(normals(8, 1), [2, 4]), w4(), { role: "key" })).toThrow(
      'featureMap.prf: opts.inputScale must be "softmax" or "none", got undefined',
    );
    expect(() => prf(np.zeros([4], { dtype: np.float64 }), w4(), { role: "key", inputScale: "none" })).toThrow(
      "featureMap.prf: keys must be (..., L, D), got shape (4)",
    );
    expect(() => prf(arr(normals(8, 1), [2, 4]), w4().astype(np.float32), { role: "query", inputScale: "none" })).toThrow(
      "featureMap.prf: W and x must have the same dtype, got W float32 and x float64",
    );
  });
});

describe("featureMap.relu and featureMap.eluPlusOne", () => {
  it("relu(W x) / sqrt(M)", async () => {
    const D = 3,
      M = 5;
    const x = normals(4 * D, 41);
    const W = gaussianOrthogonalProjection(M, D, { seed: 42, scaling: "chi" });
    const got = await read(relu(arr(x, [4, D]), arr(W, [M, D])));
    const ref = Float64Array.from(
      { length: 4 * M },
      (_, i) => Math.max(0, dot(W, (i % M) * D, x, Math.floor(i / M) * D, D)) / Math.sqrt(M),
    );
    expectClose(got, ref, FLOAT64_FORMULA, "relu features");
    await checkGradients((a, w) => relu(a, w), [randn([4, D], 43), randn([M, D], 44)]);
  });

  it("elu(x) + 1, keeping the relative precision of tiny values", async () => {
    const x = Float64Array.of(-30, -5, -0.5, 0, 0.5, 3);
    const got = await read(eluPlusOne(arr(x, [6])));
    expectClose(
      got,
      Float64Array.from(x, (v) => (v > 0 ? v + 1 : Math.exp(v))),
      FLOAT64_FORMULA,
      "elu + 1",
    );
    await checkGradients((a) => eluPlusOne(a), [randn([7], 45)]);
    expect(() => eluPlusOne(np.zeros([2], { dtype: np.int32 }))).toThrow("featureMap.eluPlusOne: x must be a float array, got dtype int32");
  });

  it("are the members of featureMap", () => {
    expect(featureMap).toEqual({ prf, relu, eluPlusOne, projection });
  });
});
