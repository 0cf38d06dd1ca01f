/**
 * The fused WebGPU kernelized attention with FFT RPE against the
 * `kernelizedRpeAttention` composite run on the same device in float32
 * (Dawn; Mesa lavapipe in CI), within a bound derived from float32 rounding.
 */
import { numpy as np } from "@jax-js/jax";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eluPlusOne, prf, relu } from "../../src/attention/featureMaps.js";
import { type KernelizedRpeOptions, kernelizedRpeAttention } from "../../src/attention/kernelized.js";
import { fftLength } from "../../src/attention/toeplitz.js";
import { radices } from "../../src/kernels/webgpu/fft.js";
import {
  type KernelizedFusedOptions,
  kernelizedAttentionFused,
  planKernelizedFused,
} from "../../src/kernels/webgpu/kernelizedAttention.js";
import { gaussianOrthogonalProjection } from "../../src/pe/orthogonalFeatures.js";
import { rng } from "../../src/pe/random.js";
import { init, teardown } from "../../src/runtime/init.js";
import { attentionReference, FFT_ROUNDING_CONSTANT, FFT_ROUNDING_PER_BIT, worstRatio } from "../attention/kernelizedReference.js";
import { FLOAT32_EPS } from "../tolerance.js";

beforeAll(async () => {
  await init({ device: "webgpu" });
});
afterAll(teardown);

const u = FLOAT32_EPS;

/**
 * Rounding of the inputs of the exponent (or of the ReLU dot product) per
 * feature, in units of u times sum_c |w_mc x'_c| + |x'|^2 / 2: the D-term dot
 * product and squared norm (D + 1 roundings each, in any order), the l2
 * normalisation (a D-term sum, the square root and the division: D/2 + 3
 * relative on every x'_c, entering both terms), the D^-1/4 scaling (1) and
 * the subtraction (1): 2D + 8 covers them.
 */
const FEATURE_INPUT_ROUNDINGS = (D: number) => 2 * D + 8;

/**
 * Rounding of a PRF feature exp(e - s) / sqrt(M) besides its exponent's, in
 * units of u (relative): WGSL's exp is accurate to 3 + 2 |x| ulp, the
 * subtraction e - s rounds by |e - s| u, the product by 1/sqrt(M) and that
 * constant by u each: 5 + 3 |e - s|.
 */
const PRF_OUTPUT_ROUNDINGS = (arg: number) => 5 + 3 * Math.abs(arg);

/**
 * Roundings along the worst path through one fused transform (forward,
 * inverse and the spectrum's are alike) of the plan's levels: per radix-R
 * stage the R-point DFT in registers (a radix-2 level with twiddles +-1,
 * +-i: one addition; the third level's constant twiddles: the rounded
 * constant, the product and the addition, 4) and, after the first stage,
 * the table twiddle (the entry, the product: 3); per level boundary the
 * four-step twiddle (level 0: two table entries and two products, 6; deeper
 * levels: one entry and the product, 3). The product with the spectrum and
 * the final cut are FFT_ROUNDING_CONSTANT.
 */
function fusedTransformRoundings(levels: number[]): number {
  let total = 0;
  levels.forEach((N, l) => {
    radices(N).forEach((R, stage) => {
      for (let bit = 1; bit <= Math.log2(R); bit++) total += bit >= 3 ? 4 : 1;
      if (stage > 0) total += 3;
    });
    if (l < levels.length - 1) total += l === 0 ? 6 : 3;
  });
  return total;
}

interface Case {
  B?: number;
  H?: number;
  L: number;
  D?: number;
  M?: number;
  Dv?: number;
  causal: boolean;
  kind: "prf" | "relu" | "eluPlusOne";
  qkNorm: "l2" | "none";
  rpe: "array" | "numbers" | "none";
  eps?: number;
  seed?: number;
}

type FusedExtra = Pick<KernelizedFusedOptions, "limits" | "maxWorkgroupFft" | "maxScratchBytes">;

/**
 * Runs both paths on the same float32 inputs and checks, elementwise,
 *
 *   |fused - composite| <= composite(u) + fused(u) + features(u)
 *
 * composite(u): the rigorous bound on the composite's error from the exact
 * formula evaluated on its own features (`attentionReference`,
 * kernelizedReference.ts: FFT term plus local rounding). fused(u): the same
 * bound with the FFT term rescaled to the fused transform's length and
 * roundings (`fusedTransformRoundings`, three transforms). features(u): the
 * fused kernel computes its own features, which
 * differ from the composite's by at most twice the bound on either's
 * rounding (a_jm below); a perturbation |dw_ij| <= sum_m (aQ_im phiK_jm +
 * phiQ_im aK_jm + aQ_im aK_jm) of the nonnegative weights moves
 * z_i = sum_j w_ij c_ij v_j / (sum_j w_ij c_ij + eps) by at most
 * sum_j dw_ij c_ij (|v_j| + |z_i|) / (den_i + eps - sum_j dw_ij c_ij).
 */
async function compare(c: Case, extra: FusedExtra = {}, what = "") {
  const B = c.B ?? 1,
    H = c.H ?? 2,
    L = c.L,
    D = c.D ?? 8,
    Dv = c.Dv ?? 5;
  const M = c.kind === "eluPlusOne" ? D : (c.M ?? 6);
  const K = 2 * L - 1;
  const r = rng(c.seed ?? L + 7);
  const normal = (n: number, s: number) => Float32Array.from({ length: n }, () => s * r.normal());
  const q = normal(B * H * L * D, 0.5);
  const k = normal(B * H * L * D, 0.5);
  const v = normal(B * H * L * Dv, 1);
  const bias = Float32Array.from({ length: H * K }, (_, i) => 0.5 * r.normal() - 0.05 * Math.abs((i % K) - (L - 1)));
  const W = Float32Array.from(gaussianOrthogonalProjection(M, D, { seed: 3, scaling: "chi" }));
  const arr = (x: Float32Array, shape: number[]) => np.array(x).reshape(shape);
  const features = (): KernelizedRpeOptions["features"] =>
    c.kind === "prf"
      ? { kind: "prf", projection: arr(W, [M, D]), inputScale: "softmax" }
      : c.kind === "relu"
        ? { kind: "relu", projection: arr(W, [M, D]) }
        : { kind: "eluPlusOne" };
  const opts = (rpe: "array" | "numbers" | "none"): KernelizedRpeOptions => ({
    causal: c.causal,
    qkNorm: c.qkNorm,
    eps: c.eps,
    features: features(),
    rpe: rpe === "array" ? arr(bias, [H, K]) : rpe === "numbers" ? Array.from(bias) : undefined,
  });
  const shapeQ = [B, H, L, D];
  // The composite turns numbers into a float64 array, which WebGPU lacks: it gets the same float32 values as an array.
  const expected = await kernelizedRpeAttention(
    arr(q, shapeQ),
    arr(k, shapeQ),
    arr(v, [B, H, L, Dv]),
    opts(c.rpe === "none" ? "none" : "array"),
  ).data();
  const fused = await kernelizedAttentionFused(arr(q, shapeQ), arr(k, shapeQ), arr(v, [B, H, L, Dv]), { ...opts(c.rpe), ...extra });
  expect(fused.shape).toEqual([B, H, L, Dv]);
  const got = await fused.data();
  fused.dispose();

  // the composite's features, and bounds on the features' rounding, in float64
  const norm = (x: Float32Array) => (c.qkNorm === "l2" ? unitRows(x, D) : Float64Array.from(x));
  const scale = c.kind === "prf" ? D ** -0.25 : 1;
  const feat = async (x: Float32Array, role: "query" | "key") => {
    const xn = c.qkNorm === "l2" ? unitRowsArray(arr(x, shapeQ)) : arr(x, shapeQ);
    const phi =
      c.kind === "prf"
        ? prf(xn, arr(W, [M, D]), { role, inputScale: "softmax" })
        : c.kind === "relu"
          ? relu(xn, arr(W, [M, D]))
          : eluPlusOne(xn);
    return phi.data();
  };
  const phiQ = await feat(q, "query");
  const phiK = await feat(k, "key");
  const aQ = featureError(norm(q), phiQ, W, { D, M, scale, kind: c.kind, role: "query", rows: B * H * L, L });
  const aK = featureError(norm(k), phiK, W, { D, M, scale, kind: c.kind, role: "key", rows: B * H * L, L });
  // Without rpe, c = 1 = exp(0 - 0): an all-zero bias gives the same z and keeps the FFT term in the bound
  // (the composite's bidirectional linear attention takes no FFT, the fused kernel does).
  const ref = attentionReference({
    phiQ,
    phiK,
    v,
    rpe: c.rpe === "none" ? new Float32Array(H * K) : bias,
    B,
    H,
    L,
    M,
    Dv,
    causal: c.causal,
    eps: c.eps,
  });
  const composite = ref.bound(u);
  const local = ref.localBound(u);
  // the same FFT term with the fused transform's roundings and length
  const plan = planKernelizedFused(B, H, L, M, Dv, extra);
  const fftScale =
    (3 * fusedTransformRoundings(plan.levels) + FFT_ROUNDING_CONSTANT) /
    (FFT_ROUNDING_PER_BIT * Math.log2(fftLength(L)) + FFT_ROUNDING_CONSTANT);
  const featureTerm = featureBound({
    phiQ,
    phiK,
    aQ,
    aK,
    v,
    z: ref.z,
    den: ref.den,
    bias: c.rpe === "none" ? undefined : bias,
    B,
    H,
    L,
    M,
    Dv,
    causal: c.causal,
    eps: c.eps ?? 0,
  });
  const bound = Float64Array.from(composite, (b, i) => b + local[i] + fftScale * (b - local[i]) + featureTerm[i]);
  const { ratio, at } = worstRatio(got, expected, bound);
  expect(ratio, `${what}: index ${at}: fused ${got[at]}, composite ${expected[at]}, bound ${bound[at]}`).toBeLessThanOrEqual(1);
}

/** x / |x| per row of D, in float64. */
function unitRows(x: Float32Array, D: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let r = 0; r < x.length / D; r++) {
    let s = 0;
    for (let c = 0; c < D; c++) s += x[r * D + c] ** 2;
    const n = Math.max(Math.sqrt(s), 1e-30);
    for (let c = 0; c < D; c++) out[r * D + c] = x[r * D + c] / n;
  }
  return out;
}

/** The composite's l2 normalisation (kernelized.ts `unitRows`) on the device. */
function unitRowsArray(x: np.Array): np.Array {
  const n = np.sqrt(np.sum(np.square(x.ref), -1, { keepdims: true }));
  return np.divide(x, np.maximum(n, 1e-30));
}

/**
 * Twice a bound on the absolute rounding error of each feature (the two
 * implementations' errors from the exact features add up), from the
 * normalised inputs xn (float64) and the features phi.
 */
function featureError(
  xn: Float64Array,
  phi: Float32Array,
  W: Float32Array,
  o: { D: number; M: number; scale: number; kind: Case["kind"]; role: "query" | "key"; rows: number; L: number },
): Float64Array {
  const { D, M, scale, kind, rows } = o;
  const out = new Float64Array(rows * M);
  const input = FEATURE_INPUT_ROUNDINGS(D) * u;
  if (kind === "eluPlusOne") {
    // x + 1 (1 rounding) or exp(x) (3 + 2|x| ulp), after the normalisation's D/2 + 3 roundings of x
    for (let i = 0; i < rows * M; i++) out[i] = 2 * u * phi[i] * (D + 5 + (D / 2 + 4) * Math.abs(xn[i]));
    return out;
  }
  const spread = new Float64Array(rows * M); // sum_c |w_mc x'_c| + |x'|^2 / 2
  const exps = new Float64Array(rows * M);
  for (let r = 0; r < rows; r++) {
    let sq = 0;
    for (let c = 0; c < D; c++) sq += (scale * xn[r * D + c]) ** 2;
    for (let m = 0; m < M; m++) {
      let s = 0,
        e = 0;
      for (let c = 0; c < D; c++) {
        s += Math.abs(W[m * D + c] * scale * xn[r * D + c]);
        e += W[m * D + c] * scale * xn[r * D + c];
      }
      spread[r * M + m] = s + (kind === "prf" ? sq / 2 : 0);
      exps[r * M + m] = kind === "prf" ? e - sq / 2 : e;
    }
  }
  if (kind === "relu") {
    for (let i = 0; i < rows * M; i++) out[i] = (2 * (input * spread[i] + u * Math.abs(exps[i]))) / Math.sqrt(M) + 2 * u * phi[i];
    return out;
  }
  // PRF: relative error |de| + |ds| + output roundings, ds the largest |de| the stabiliser ranges over
  const group = o.role === "query" ? M : o.L * M;
  for (let g0 = 0; g0 < rows * M; g0 += group) {
    let ds = 0,
      s = -Infinity;
    for (let i = g0; i < g0 + group; i++) {
      ds = Math.max(ds, input * spread[i]);
      s = Math.max(s, exps[i]);
    }
    for (let i = g0; i < g0 + group; i++) out[i] = 2 * phi[i] * (input * spread[i] + ds + u * PRF_OUTPUT_ROUNDINGS(exps[i] - s));
  }
  return out;
}

/** sum_j dw_ij c_ij (|v_j| + |z_i|) / (den_i + eps - sum_j dw_ij c_ij), O(L^2) (see `compare`). */
function featureBound(o: {
  phiQ: Float32Array;
  phiK: Float32Array;
  aQ: Float64Array;
  aK: Float64Array;
  v: Float32Array;
  z: Float64Array;
  den: Float64Array;
  bias?: Float32Array;
  B: number;
  H: number;
  L: number;
  M: number;
  Dv: number;
  causal: boolean;
  eps: number;
}): Float64Array {
  const { phiQ, phiK, aQ, aK, v, z, den, bias, B, H, L, M, Dv, causal, eps } = o;
  const K = 2 * L - 1;
  const out = new Float64Array(B * H * L * Dv);
  for (let h = 0; h < H; h++) {
    let bmax = -Infinity;
    for (let t = 0; t < (causal ? L : K); t++) bmax = Math.max(bmax, bias ? bias[h * K + t] : 0);
    for (let b = 0; b < B; b++) {
      const base = (b * H + h) * L;
      for (let i = 0; i < L; i++) {
        const num = new Float64Array(Dv);
        let dsum = 0;
        for (let j = 0; j <= (causal ? i : L - 1); j++) {
          const cij = bias ? Math.exp(bias[h * K + j - i + L - 1] - bmax) : 1;
          let dw = 0;
          for (let m = 0; m < M; m++) {
            const qi = (base + i) * M + m,
              kj = (base + j) * M + m;
            dw += aQ[qi] * phiK[kj] + phiQ[qi] * aK[kj] + aQ[qi] * aK[kj];
          }
          dsum += dw * cij;
          for (let d = 0; d < Dv; d++) num[d] += dw * cij * (Math.abs(v[(base + j) * Dv + d]) + Math.abs(z[(base + i) * Dv + d]));
        }
        for (let d = 0; d < Dv; d++) out[(base + i) * Dv + d] = num[d] / Math.max(den[base + i] + eps - dsum, 0);
      }
    }
  }
  return out;
}

describe("kernelizedAttentionFused on webgpu equals kernelizedRpeAttention", () => {
  // L = 37: not a power of two (n = 128); Dv = 5 != D = 8; M = 6
  for (const causal of [true, false]) {
    for (const kind of ["prf", "relu"] as const) {
      it(`${kind}, ${causal ? "causal" : "bidirectional"}: qkNorm l2 and none, rpe array and none`, async () => {
        const eps = kind === "relu" ? 1e-3 : undefined; // ReLU features of a row can all vanish (0/0)
        for (const [qkNorm, rpe] of [
          ["l2", "array"],
          ["none", "none"],
          ["l2", "none"],
          ["none", "array"],
        ] as const) {
          await compare({ L: 37, causal, kind, qkNorm, rpe, eps }, {}, `${qkNorm} ${rpe}`);
        }
      });
    }
  }

  it("elu + 1, numeric rpe, eps; odd M (a feature without a partner); B = 2", async () => {
    await compare({ L: 20, causal: true, kind: "eluPlusOne", qkNorm: "none", rpe: "numbers", eps: 0.5 }, {}, "elu causal");
    await compare({ L: 20, causal: false, kind: "eluPlusOne", qkNorm: "l2", rpe: "numbers" }, {}, "elu bidirectional");
    await compare({ B: 2, L: 19, M: 5, causal: true, kind: "prf", qkNorm: "l2", rpe: "numbers" }, {}, "M = 5, B = 2");
  });

  it("L = 1", async () => {
    for (const causal of [true, false])
      await compare({ L: 1, causal, kind: "prf", qkNorm: "l2", rpe: "array" }, {}, `L = 1 causal=${causal}`);
  });

  it("multi-pass FFT: workgroup transforms of 4 and 8 points (n = 128 in 4 and 3 levels)", async () => {
    expect(planKernelizedFused(1, 2, 37, 6, 5, { maxWorkgroupFft: 4 }).levels).toEqual([4, 4, 4, 2]);
    expect(planKernelizedFused(1, 2, 37, 6, 5, { maxWorkgroupFft: 8 }).levels).toEqual([8, 4, 4]);
    expect(planKernelizedFused(1, 2, 37, 6, 5).levels).toEqual([32, 4]);
    for (const causal of [true, false]) {
      await compare({ L: 37, causal, kind: "prf", qkNorm: "l2", rpe: "array" }, { maxWorkgroupFft: 4 }, `4-point, causal=${causal}`);
      await compare({ L: 37, causal, kind: "prf", qkNorm: "none", rpe: "array" }, { maxWorkgroupFft: 8 }, `8-point, causal=${causal}`);
    }
  });

  it("splits heads, value channels and feature pairs under a small scratch or buffer limit", async () => {
    // one channel pair of one (batch, head) is n = 64 complex floats: 512 bytes; V = 6 value channels, 3 feature pairs
    const unit = 512;
    const L = 30;
    const plans: [string, FusedExtra, number][] = [
      ["heads", { maxScratchBytes: 18 * unit }, 4], // B H = 4 heads of 18 pairs, one per chunk
      ["value channels", { maxScratchBytes: 7 * unit }, 4 * 3], // 2 value channels (6 pairs) per chunk
      ["feature pairs", { maxScratchBytes: 2 * unit }, 4 * 6 * 2], // 2 of 3 feature pairs per chunk, accumulated
      ["binding limit", { limits: { maxStorageBufferBindingSize: 4000 } }, 4 * 3], // 7 pairs; q (3840 bytes) still fits
    ];
    for (const [what, extra, chunks] of plans) {
      const p = planKernelizedFused(2, 2, L, 6, 5, extra);
      expect(p.chunks.length, what).toBe(chunks);
      await compare({ B: 2, L, causal: true, kind: "prf", qkNorm: "l2", rpe: "array" }, extra, what);
    }
  });
});

describe("kernelizedAttentionFused refuses bad input", () => {
  const x = (shape: number[]) =>
    np.array(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i))).reshape(shape);
  const W = () => x([4, 8]);
  const opts = (o: Partial<KernelizedFusedOptions> = {}): KernelizedFusedOptions => ({
    causal: true,
    qkNorm: "none",
    features: { kind: "prf", projection: W(), inputScale: "softmax" },
    ...o,
  });
  it("names the function and the shapes", async () => {
    await expect(kernelizedAttentionFused(x([1, 2, 4, 8]), x([1, 2, 5, 8]), x([1, 2, 4, 3]), opts())).rejects.toThrow(
      "kernelizedAttentionFused: q, k, v shapes mismatch: q=(1, 2, 4, 8), k=(1, 2, 5, 8), v=(1, 2, 4, 3)",
    );
    await expect(kernelizedAttentionFused(x([2, 4, 8]), x([2, 4, 8]), x([2, 4, 8]), opts())).rejects.toThrow(
      "kernelizedAttentionFused: q, k, v must be (B, H, L, D)",
    );
    await expect(kernelizedAttentionFused(x([1, 2, 4, 8]), x([1, 2, 4, 8]), x([1, 2, 4, 3]), opts({ rpe: x([2, 6]) }))).rejects.toThrow(
      "kernelizedAttentionFused: options.rpe must be (H, 2L-1) = (2, 7) float32 on webgpu, got (2, 6) float32 on webgpu",
    );
    await expect(
      kernelizedAttentionFused(
        x([1, 2, 4, 8]),
        x([1, 2, 4, 8]),
        x([1, 2, 4, 3]),
        opts({ features: { kind: "relu", projection: x([4, 7]) } }),
      ),
    ).rejects.toThrow(
      "kernelizedAttentionFused: options.features.projection must be (M, D) = (M, 8) float32 on webgpu, got (4, 7) float32 on webgpu",
    );
  });
  it("dtypes must be float32, arrays on webgpu", async () => {
    const i32 = np.zeros([1, 2, 4, 8], { dtype: np.int32 });
    await expect(kernelizedAttentionFused(i32, x([1, 2, 4, 8]), x([1, 2, 4, 3]), opts())).rejects.toThrow(
      "kernelizedAttentionFused: q must be float32, got int32",
    );
    const cpu = np.zeros([1, 2, 4, 3], { dtype: np.float32, device: "cpu" });
    await expect(kernelizedAttentionFused(x([1, 2, 4, 8]), x([1, 2, 4, 8]), cpu, opts())).rejects.toThrow(
      "kernelizedAttentionFused: v must be on the webgpu device, got cpu",
    );
  });
  it("numeric rpe must be finite", async () => {
    const rpe = Array.from({ length: 14 }, () => 0);
    rpe[9] = NaN;
    await expect(kernelizedAttentionFused(x([1, 2, 4, 8]), x([1, 2, 4, 8]), x([1, 2, 4, 3]), opts({ rpe }))).rejects.toThrow(
      "kernelizedAttentionFused: options.rpe[1][2] (head 1, offset j-i = -1) must be finite, got NaN",
    );
  });
  it("refuses what cannot fit (planted small limits)", async () => {
    // q is 1 * 2 * 64 * 8 * 4 = 4096 bytes
    await expect(
      kernelizedAttentionFused(
        x([1, 2, 64, 8]),
        x([1, 2, 64, 8]),
        x([1, 2, 64, 3]),
        opts({ limits: { maxStorageBufferBindingSize: 4000 } }),
      ),
    ).rejects.toThrow(
      "kernelizedAttentionFused: q (1, 2, 64, 8) float32 needs 4096 bytes, more than the device allows for one storage buffer (maxStorageBufferBindingSize 4000",
    );
    // one channel pair: n = 128 complex floats = 1024 bytes
    await expect(
      kernelizedAttentionFused(x([1, 2, 64, 8]), x([1, 2, 64, 8]), x([1, 2, 64, 3]), opts({ maxScratchBytes: 1000 })),
    ).rejects.toThrow(
      "kernelizedAttentionFused: one channel pair of one head, 128 complex float32 (L = 64), needs 1024 bytes of scratch, more than allowed",
    );
    await expect(kernelizedAttentionFused(x([1, 2, 4, 8]), x([1, 2, 4, 8]), x([1, 2, 4, 3]), opts({ maxWorkgroupFft: 3 }))).rejects.toThrow(
      "kernelizedAttentionFused: options.maxWorkgroupFft must be a power of two in [2,",
    );
  });
});
