/**
 * Toeplitz products along the sequence, by FFT: for a relative kernel c of
 * each head, indexed by the offset j - i,
 *
 *   y_i = sum_j c_{j-i} x_j          (causal: only j <= i)
 *
 * in O(L log L) per channel and O(L) memory, never forming the L x L matrix.
 * The Toeplitz matrix T_ij = c_{j-i} is embedded in a circulant matrix of
 * size n >= 2L - 1 whose first column is
 *
 *   g = (c_0, c_{-1}, ..., c_{-(L-1)}, 0, ..., 0, c_{L-1}, ..., c_1)
 *
 * (offset o sits at index -o mod n; n >= 2L - 1 keeps the 2L - 1 offsets at
 * distinct indices), so that y = (g circularly convolved with x padded to n)[0:L]
 * = ifft(fft(g) fft(x_pad))[0:L]. Causal zeroes the offsets j > i, the tail of g.
 *
 * The FFT length. jax-js 0.1.25 transforms any length with a mixed-radix FFT
 * (radices 4, 2, 3, 5, 7, then any other prime factor p as a size-p DFT). A
 * radix-r stage costs about r + 1 twiddle evaluations per element, so radices
 * 2 to 7 cost about the same per bit of n, but a prime factor p > 7 costs O(p)
 * per element (O(n^2) for prime n) and on WebGPU a private array of p floats
 * per thread. So n is the smallest 7-smooth number >= 2L - 1 (for L = 2^k,
 * n = 2L), at most ~1.3x above 2L - 1 and often far below the next power of two.
 *
 * Two real channels ride in one complex transform: fft(a + i b) times the
 * spectrum of the real g, inverted, gives g*a in the real part and g*b in the
 * imaginary part. That halves the work of the `rfft`/`irfft` pair, which in
 * jax-js 0.1.25 are full complex transforms with a zero imaginary part.
 * `numpy.fft.fft`/`ifft` are differentiable, so the product is too.
 *
 * Work is split by head and by channel block so that no intermediate exceeds
 * the memory budget (`memoryBudget.ts`).
 *
 * Reference: Luo et al., "Stable, Fast and Accurate: Kernelized Attention with
 * Relative Positional Encoding" (NeurIPS 2021), https://arxiv.org/abs/2106.12566,
 * section 3.2; Golub & Van Loan, "Matrix Computations", 4th ed., section 4.8
 * (circulant embedding of Toeplitz matrices).
 */
import { type DType, numpy as np } from "@jax-js/jax";
import { describe, fail } from "../core/validate.js";
import { blocks, bytesPer, checkFits, type MemoryBudget, type MemoryOptions, memoryBudget } from "./memoryBudget.js";

export interface ToeplitzOptions {
  /** Zero the offsets j > i (each output sees only itself and earlier positions). */
  causal: boolean;
  /** Size limits; see `memoryBudget.ts`. */
  memory?: MemoryOptions;
}

/** A complex array as a pair of real arrays of the same shape. */
export interface Spectrum {
  real: np.Array;
  imag: np.Array;
}

/**
 * The FFT length used for sequence length L: the smallest 7-smooth integer
 * n >= 2L - 1 (see the file comment for why 7-smooth).
 *
 * Reference: jax-js 0.1.25 `numpy.fft` (mixed-radix factorisation 4, 2, 3, 5, 7,
 * then any prime); Frigo & Johnson, "The Design and Implementation of FFTW3"
 * (Proc. IEEE, 2005), on transforms of smooth sizes.
 */
export function fftLength(L: number): number {
  if (!Number.isInteger(L) || L < 1) fail("toeplitz.fftLength", `L must be an integer >= 1, got ${describe(L)}`);
  for (let n = 2 * L - 1; ; n++) {
    let m = n;
    for (const p of [2, 3, 5, 7]) while (m % p === 0) m /= p;
    if (m === 1) return n;
  }
}

/**
 * Toeplitz product along L: y[b, h, i, :] = sum_j c[h, (j - i) + L - 1] x[b, h, j, :],
 * with only j <= i when `causal`, computed by FFT (see the file comment).
 *
 * c: (H, 2L-1) holding c_{j-i} at index (j - i) + L - 1; x: (B, H, L, N).
 * Returns (B, H, L, N). Consumes c and x (also when it throws).
 *
 * Reference: Luo et al. (NeurIPS 2021), https://arxiv.org/abs/2106.12566, section 3.2.
 */
export function toeplitzMatmul(c: np.Array, x: np.Array, opts: ToeplitzOptions): np.Array {
  const fn = "toeplitzMatmul";
  const release = () => {
    c.dispose();
    x.dispose();
  };
  let plan: ReturnType<typeof planToeplitz>;
  try {
    if (typeof opts?.causal !== "boolean") fail(fn, `opts.causal must be true or false, got ${describe(opts?.causal)}`);
    if (x.ndim !== 4) fail(fn, `x must be (B, H, L, N), got (${x.shape.join(", ")})`);
    if (!isFloat(x.dtype)) fail(fn, `x must be a float array, got dtype ${x.dtype}`);
    const [B, H, L, N] = x.shape;
    if (L < 1 || N < 1) fail(fn, `x must have L >= 1 and N >= 1, got (${x.shape.join(", ")})`);
    if (c.ndim !== 2 || c.shape[0] !== H || c.shape[1] !== 2 * L - 1) {
      fail(fn, `c must be (H, 2L-1) = (${H}, ${2 * L - 1}), got (${c.shape.join(", ")})`);
    }
    if (c.dtype !== x.dtype) fail(fn, `c and x must have the same dtype, got c ${c.dtype} and x ${x.dtype}`);
    const budget = memoryBudget(fn, opts.memory);
    checkFits(fn, "the output", [B, H, L, N], x.dtype, budget);
    checkFits(fn, "the circulant spectrum", [H, fftLength(L)], x.dtype, budget);
    plan = planToeplitz(fn, B, H, L, N, fftLength(L), x.dtype, budget);
  } catch (err) {
    release();
    throw err;
  }
  const L = x.shape[2];
  const n = fftLength(L);
  const spec = circulantSpectrum(c, L, n, opts.causal); // (H, n)
  const heads: np.Array[] = [];
  for (const [h0, h1] of plan.heads) {
    const parts: np.Array[] = [];
    for (const [c0, c1] of plan.channels) {
      const xc = x.ref.slice([], [h0, h1], [], [c0, c1]); // (B, hb, L, Nb)
      parts.push(applyCirculant(spec.real.ref.slice([h0, h1]), spec.imag.ref.slice([h0, h1]), xc, n));
    }
    heads.push(parts.length === 1 ? parts[0] : np.concatenate(parts, 3));
  }
  spec.real.dispose();
  spec.imag.dispose();
  x.dispose();
  return heads.length === 1 ? heads[0] : np.concatenate(heads, 1);
}

/**
 * The dense Toeplitz matrices T[h, i, j] = c[h, (j - i) + L - 1] (zero for
 * j > i when `causal`), (H, L, L), for checks and small L. Consumes c.
 *
 * Reference: Golub & Van Loan, "Matrix Computations", 4th ed., section 4.7 (Toeplitz matrices).
 */
export function toeplitzMatrix(c: np.Array, opts: { causal: boolean }): np.Array {
  const fn = "toeplitzMatrix";
  if (c.ndim !== 2 || c.shape[1] % 2 !== 1) {
    const shape = c.shape;
    c.dispose();
    fail(fn, `c must be (H, 2L-1) with an odd last axis, got (${shape.join(", ")})`);
  }
  const [H, K] = c.shape;
  const L = (K + 1) / 2;
  // Causal: the offsets j > i (indices >= L) are replaced by zeros, not masked
  // afterwards, so that an infinite unused entry cannot turn into NaN.
  const kept = opts.causal
    ? np.pad(c.slice([], [0, L]), [
        [0, 0],
        [0, L - 1],
      ])
    : c;
  // Row i of the (L, 2L-1) reshape of c (padded to period 2L and tiled) is c
  // shifted right by i: element (i, t) = c_ext[(t - i) mod 2L]. Columns
  // t = j + L - 1 give c_ext[j - i + L - 1] = c_{j-i} (never the padding).
  const extended = np.pad(kept, [
    [0, 0],
    [0, 1],
  ]); // (H, 2L)
  const tiled = np
    .tile(extended, [1, L])
    .slice([], [0, L * K])
    .reshape([H, L, K]);
  return tiled.slice([], [], [L - 1, K]); // (H, L, L)
}

/** @internal The chunks of heads and channels of a (B, H, L, N) Toeplitz product. */
export function planToeplitz(
  fn: string,
  B: number,
  H: number,
  L: number,
  N: number,
  n: number,
  dtype: DType,
  budget: MemoryBudget,
): { heads: Array<[number, number]>; channels: Array<[number, number]> } {
  const perHead = chunkBytes(B, 1, N, L, n, dtype);
  if (perHead * H <= budget.chunkBytes) return { heads: [[0, H]], channels: [[0, N]] };
  if (perHead <= budget.chunkBytes) return { heads: blocks(H, Math.floor(budget.chunkBytes / perHead)), channels: [[0, N]] };
  return { heads: blocks(H, 1), channels: blocks(N, maxChannels(fn, B, L, n, dtype, budget)) };
}

/**
 * @internal Most channels of one head whose chunk stays within
 * `budget.chunkBytes`; at least one, if one fits in `budget.maxBufferBytes`.
 */
export function maxChannels(fn: string, B: number, L: number, n: number, dtype: DType, budget: MemoryBudget): number {
  const perRow = B * bytesPer(dtype);
  const fit = Math.min(Math.floor(budget.chunkBytes / (perRow * L)), 2 * Math.floor(budget.chunkBytes / (perRow * n)));
  if (fit >= 1) return fit;
  const one = chunkBytes(B, 1, 1, L, n, dtype);
  if (one > budget.maxBufferBytes) {
    fail(
      fn,
      `one channel of one head, (B, n) = (${B}, ${n}) ${dtype}, needs ${one} bytes, more than maxBufferBytes ${budget.maxBufferBytes}`,
    );
  }
  return 1;
}

/**
 * @internal Bytes of the largest array a chunk of B x hb heads x C channels
 * creates: the (L, C) input block or one of the (ceil(C/2), n) packed
 * complex parts.
 */
export function chunkBytes(B: number, hb: number, C: number, L: number, n: number, dtype: DType): number {
  return B * hb * Math.max(C * L, Math.ceil(C / 2) * n) * bytesPer(dtype);
}

/**
 * @internal Spectrum (Hc, n) of the circulant embedding g of each row of c
 * (Hc, 2L-1); with `causal` the offsets j > i are left out. Consumes c.
 */
export function circulantSpectrum(c: np.Array, L: number, n: number, causal: boolean): Spectrum {
  const reversed = np.flip(c, -1); // index k holds offset (L-1) - k
  const head = reversed.ref.slice([], [L - 1, 2 * L - 1]); // offsets 0, -1, ..., -(L-1) -> g[0..L-1]
  let g: np.Array;
  if (causal || L === 1) {
    reversed.dispose();
    g = np.pad(head, [
      [0, 0],
      [0, n - L],
    ]);
  } else {
    const tail = reversed.slice([], [0, L - 1]); // offsets L-1, ..., 1 -> g[n-L+1..n-1]
    g = np.concatenate(
      [
        np.pad(head, [
          [0, 0],
          [0, n - 2 * L + 1],
        ]),
        tail,
      ],
      1,
    );
  }
  return np.fft.fft({ real: g.ref, imag: np.zerosLike(g) }); // (Hc, n)
}

/**
 * @internal Circular convolution of x (B, hb, L, C), zero-padded to n along
 * L, with the circulant whose spectrum is (real, imag), (hb or 1, n), cut back
 * to the first L positions: (B, hb, L, C). Pairs channel k with channel
 * k + ceil(C/2) in one complex transform. Consumes all arguments.
 */
export function applyCirculant(real: np.Array, imag: np.Array, x: np.Array, n: number): np.Array {
  const [, , L, C] = x.shape;
  const half = Math.ceil(C / 2);
  let xt = np.transpose(x, [0, 1, 3, 2]); // (B, hb, C, L)
  if (C % 2 === 1)
    xt = np.pad(xt, [
      [0, 0],
      [0, 0],
      [0, 1],
      [0, 0],
    ]); // a zero channel
  const widths: Array<[number, number]> = [
    [0, 0],
    [0, 0],
    [0, 0],
    [0, n - L],
  ];
  const a = np.pad(xt.ref.slice([], [], [0, half]), widths); // (B, hb, half, n)
  const b = np.pad(xt.slice([], [], [half, 2 * half]), widths); // (B, hb, half, n)
  const f = np.fft.fft({ real: a, imag: b });
  const gr = real.reshape([1, real.shape[0], 1, n]);
  const gi = imag.reshape([1, imag.shape[0], 1, n]);
  // (f.real + i f.imag)(gr + i gi)
  const pr = np.subtract(np.multiply(f.real.ref, gr.ref), np.multiply(f.imag.ref, gi.ref));
  const pi = np.add(np.multiply(f.real, gi), np.multiply(f.imag, gr));
  const y = np.fft.ifft({ real: pr, imag: pi }); // (B, hb, half, n)
  const both = np.concatenate([y.real.slice([], [], [], [0, L]), y.imag.slice([], [], [], [0, L])], 2); // (B, hb, 2 half, L)
  const trimmed = C % 2 === 1 ? both.slice([], [], [0, C]) : both;
  return np.transpose(trimmed, [0, 1, 3, 2]); // (B, hb, L, C)
}

function isFloat(dtype: DType): boolean {
  return dtype === "float16" || dtype === "float32" || dtype === "float64";
}
