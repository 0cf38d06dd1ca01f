/**
 * Plain-JS float64 references for the FFT Toeplitz product and kernelized
 * attention with RPE, O(L^2), written from the formulas, with error bounds
 * for the FFT path derived from floating-point rounding.
 *
 * FFT error. A circular convolution y = ifft(fft(g) . fft(x)) in a precision
 * of unit roundoff u has a normwise error (Higham, "Accuracy and Stability of
 * Numerical Algorithms", 2nd ed., section 24.1):
 *
 *   ||y_computed - y||_2 <= (FFT_ROUNDING_PER_BIT log2(n) + FFT_ROUNDING_CONSTANT) u ||fft(g)||_inf ||x||_2,
 *   ||fft(g)||_inf <= ||g||_1
 *
 * where x is the complex signal a + i b of the two real channels that share
 * one transform, so ||x||_2 = sqrt(||a||^2 + ||b||^2).
 *
 * The bound is normwise, so an output much smaller than the channel's norm
 * (the first rows of causal attention) gets a relative error up to ~L u: a
 * property of FFT convolution, not of this code. It is used elementwise
 * (|e_i| <= ||e||_2), which is rigorous and, at large L, loose by ~sqrt(L).
 */
import { fftLength } from "../../src/attention/toeplitz.js";

/**
 * Roundings per bit of n in the three transforms (spectrum of g, forward,
 * inverse). jax-js's radix-r stage is an r-term sum plus a twiddle product
 * over log2(r) bits: (r + 1) / log2(r) roundings per bit, at most 3 (r = 2;
 * r = 3, 4, 5, 7 give 2.5 to 2.9). Three transforms: 9.
 */
export const FFT_ROUNDING_PER_BIT = 9;

/** The complex product of the spectra (two roundings) and the final cut. */
export const FFT_ROUNDING_CONSTANT = 2;

/** (FFT_ROUNDING_PER_BIT log2 n + FFT_ROUNDING_CONSTANT) for the FFT length of L. */
function fftRoundings(L: number): number {
  return FFT_ROUNDING_PER_BIT * Math.log2(fftLength(L)) + FFT_ROUNDING_CONSTANT;
}

export const LOCAL_ROUNDING_SAFETY = 2;

/** y[b, h, i, :] = sum_j c[h, j - i + L - 1] x[b, h, j, :] (j <= i if causal), with its FFT error bound (before the factor u). */
export function toeplitzReference(
  c: ArrayLike<number>,
  x: ArrayLike<number>,
  dims: { B: number; H: number; L: number; N: number },
  causal: boolean,
): { y: Float64Array; bound: (u: number) => Float64Array } {
  const { B, H, L, N } = dims;
  const K = 2 * L - 1;
  const y = new Float64Array(B * H * L * N);
  const scale = new Float64Array(B * H * N); // ||g_h||_1 ||x[b, h, :, d]||_2
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      let g1 = 0;
      for (let o = 0; o < (causal ? L : K); o++) g1 += Math.abs(c[h * K + o]);
      // Two channels share each complex transform (toeplitz.ts), so a channel's error scales with
      // the norm of the pair: bound it with the largest other channel of this (b, h).
      const sq = Array.from({ length: N }, (_, d) => {
        let s2 = 0;
        for (let j = 0; j < L; j++) s2 += x[((b * H + h) * L + j) * N + d] ** 2;
        return s2;
      });
      const largest = Math.max(...sq);
      for (let d = 0; d < N; d++) scale[(b * H + h) * N + d] = g1 * Math.sqrt(sq[d] + largest);
      for (let i = 0; i < L; i++) {
        for (let j = 0; j <= (causal ? i : L - 1); j++) {
          const w = c[h * K + j - i + L - 1];
          for (let d = 0; d < N; d++) y[((b * H + h) * L + i) * N + d] += w * x[((b * H + h) * L + j) * N + d];
        }
      }
    }
  }
  const k = fftRoundings(L);
  const bound = (u: number) =>
    Float64Array.from(y, (_, idx) => {
      const d = idx % N;
      const bh = Math.floor(idx / (L * N));
      return k * u * scale[bh * N + d];
    });
  return { y, bound };
}

export interface AttentionInputs {
  phiQ: ArrayLike<number>;
  phiK: ArrayLike<number>;
  v: ArrayLike<number>;
  /** (H, 2L-1) or none (c = 1). */
  rpe?: ArrayLike<number>;
  B: number;
  H: number;
  L: number;
  M: number;
  Dv: number;
  causal: boolean;
  eps?: number;
}

/**
 * z_i = sum_j exp(b_{j-i}) phiQ_i.phiK_j v_j / (sum_j exp(b_{j-i}) phiQ_i.phiK_j + eps),
 * in float64 loops, and the elementwise error bound of the FFT path in
 * precision u (FFT term plus local rounding; see the constants above).
 */
export function attentionReference(inp: AttentionInputs): {
  z: Float64Array;
  den: Float64Array;
  /** The rigorous bound: FFT term plus local rounding. */
  bound: (u: number) => Float64Array;
  /** The local rounding term alone. */
  localBound: (u: number) => Float64Array;
} {
  const { phiQ, phiK, v, rpe, B, H, L, M, Dv, causal } = inp;
  const eps = inp.eps ?? 0;
  const K = 2 * L - 1;
  const z = new Float64Array(B * H * L * Dv);
  const den = new Float64Array(B * H * L);
  const fftTerm = new Float64Array(B * H * L * Dv);
  const localTerm = new Float64Array(B * H * L * Dv);
  const k = fftRoundings(L);
  for (let h = 0; h < H; h++) {
    // c = exp(b - max b) over the offsets in use, as the implementation scales it
    const used = causal ? L : K;
    let bmax = -Infinity;
    let bmin = Infinity;
    for (let o = 0; o < used; o++) {
      bmax = Math.max(bmax, rpe ? rpe[h * K + o] : 0);
      bmin = Math.min(bmin, rpe ? rpe[h * K + o] : 0);
    }
    const c = Float64Array.from({ length: K }, (_, o) => (rpe ? Math.exp(rpe[h * K + o] - bmax) : 1));
    let g1 = 0;
    for (let o = 0; o < used; o++) g1 += c[o];
    const local = M + 2 + 2 * (1 + bmax - bmin);
    for (let b = 0; b < B; b++) {
      const base = (b * H + h) * L;
      // channel norms ||phiK_m||_2 and ||phiK_m v_d||_2 over the sequence
      const kNorm = new Float64Array(M);
      const kvNorm = new Float64Array(M * Dv);
      const vMax = new Float64Array(Dv);
      for (let j = 0; j < L; j++) {
        for (let m = 0; m < M; m++) {
          const k = phiK[(base + j) * M + m];
          kNorm[m] += k * k;
          for (let d = 0; d < Dv; d++) kvNorm[m * Dv + d] += (k * v[(base + j) * Dv + d]) ** 2;
        }
        for (let d = 0; d < Dv; d++) vMax[d] = Math.max(vMax[d], Math.abs(v[(base + j) * Dv + d]));
      }
      for (let i = 0; i < L; i++) {
        const num = new Float64Array(Dv);
        let s = 0;
        for (let j = 0; j <= (causal ? i : L - 1); j++) {
          let dot = 0;
          for (let m = 0; m < M; m++) dot += phiQ[(base + i) * M + m] * phiK[(base + j) * M + m];
          const w = dot * c[j - i + L - 1];
          s += w;
          for (let d = 0; d < Dv; d++) num[d] += w * v[(base + j) * Dv + d];
        }
        den[base + i] = s;
        for (let d = 0; d < Dv; d++) {
          const zi = num[d] / (s + eps);
          const idx = (base + i) * Dv + d;
          z[idx] = zi;
          let spread = 0;
          for (let m = 0; m < M; m++)
            spread += phiQ[(base + i) * M + m] * (Math.sqrt(kvNorm[m * Dv + d]) + Math.abs(zi) * Math.sqrt(kNorm[m]));
          fftTerm[idx] = (k * g1 * spread) / (s + eps);
          localTerm[idx] = LOCAL_ROUNDING_SAFETY * local * (vMax[d] + Math.abs(zi));
        }
      }
    }
  }
  // Linear attention without RPE, bidirectional, takes no FFT.
  const fft = rpe !== undefined || causal ? 1 : 0;
  const bound = (u: number) => Float64Array.from(z, (_, idx) => u * (fft * fftTerm[idx] + localTerm[idx]));
  const localBound = (u: number) => Float64Array.from(localTerm, (t) => u * t);
  return { z, den, bound, localBound };
}

/** Max over i of |actual - expected| / bound; <= 1 passes. Returns the worst ratio and where. */
export function worstRatio(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  bound: ArrayLike<number>,
): { ratio: number; at: number } {
  let ratio = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const r = Math.abs(actual[i] - expected[i]) / bound[i];
    if (!(r <= ratio)) {
      ratio = Number.isNaN(r) ? Infinity : r;
      at = i;
    }
  }
  return { ratio, at };
}

/**
 * phi(x)_m = exp(w_m.x' - |x'|^2/2 - s) / sqrt(M), x' = scale x, for rows of
 * x (R, D) and W (M, D): s the maximum of the row (query) or of all rows (key).
 */
export function prfReference(
  x: ArrayLike<number>,
  R: number,
  D: number,
  W: ArrayLike<number>,
  M: number,
  role: "query" | "key",
  scale: number,
): Float64Array {
  const e = new Float64Array(R * M);
  for (let r = 0; r < R; r++) {
    let sq = 0;
    for (let c = 0; c < D; c++) sq += (scale * x[r * D + c]) ** 2;
    for (let m = 0; m < M; m++) {
      let proj = 0;
      for (let c = 0; c < D; c++) proj += W[m * D + c] * scale * x[r * D + c];
      e[r * M + m] = proj - sq / 2;
    }
  }
  const all = e.reduce((a, b) => Math.max(a, b), -Infinity);
  const out = new Float64Array(R * M);
  for (let r = 0; r < R; r++) {
    const s = role === "key" ? all : e.subarray(r * M, (r + 1) * M).reduce((a, b) => Math.max(a, b), -Infinity);
    for (let m = 0; m < M; m++) out[r * M + m] = Math.exp(e[r * M + m] - s) / Math.sqrt(M);
  }
  return out;
}
