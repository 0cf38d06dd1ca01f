/**
 * Fused kernelized attention with relative positional encoding (RPE) on
 * WebGPU, float32, forward only: what `kernelizedRpeAttention`
 * (attention/kernelized.ts) computes,
 *
 *   z_i = sum_j c_{j-i} phi(q_i).phi(k_j) v_j / (sum_j c_{j-i} phi(q_i).phi(k_j) + eps),   c_o = exp(b_o - max b)
 *
 * (causal: j <= i; max b over the offsets in use of each head), as
 *
 *   [num_i, den_i] = sum_m phi(q_i)_m [T (phi(K)_m (x) [v, 1])]_i,   T_ij = c_{j-i}
 *
 * with the Toeplitz products T x of the M (Dv + 1) channels phi(k_j)_m [v_j, 1]_d
 * done by FFT: T embedded in a circulant of n = 2^ceil(log2(2L - 1)) points
 * (first column g, g_t = c_{-t} for t < L, g_{n-s} = c_s for 0 < s < L unless
 * causal), so that T x = ifft(fft(g) fft(x zero-padded to n))[0:L].
 *
 * Passes (one command buffer):
 *  1. features: optional l2 normalisation, then PRF (query stabiliser: the
 *     row maximum; key stabiliser: the maximum over the whole (L, M) block of
 *     each (batch, head), reduced with an order-preserving atomicMax, then
 *     applied in a second elementwise pass), ReLU or elu + 1, into phiQ and
 *     phiK (B, H, L, M);
 *  2. spectrum: g from the bias (c = exp(b - max b), max per head), its FFT by
 *     the same passes as the channels, scaled by 1/n, (H, n);
 *  3. per chunk of (batch, head) pairs, value channels and feature pairs:
 *     - forward level 0: each workgroup forms the products phi(k_j)_m v_jd
 *       (channel pair m, m + 1 of one d in the real and imaginary part of
 *       one complex signal) as it loads a block of positions, and runs the
 *       first N_0-point DFTs of the four-step FFT (`fft.ts`) on them;
 *     - forward levels 1 .. k-2 (only when n / N_0 exceeds one workgroup);
 *     - last level: the contiguous N_{k-1}-point DFTs, the product with the
 *       spectrum of g, conjugation, and the forward DFTs again (inverse by
 *       conjugation: ifft(x) = conj(fft(conj x)) / n; the 1/n is in the
 *       spectrum);
 *     - inverse levels k-2 .. 1;
 *     - inverse level 0 fused with the contraction: the last N_0-point DFTs
 *       give the Toeplitz products of a block of positions, which are
 *       multiplied by phi(q_i)_m and summed over m in registers, looping
 *       over the feature pairs, so the inverse-transformed channels are
 *       never stored; written as [num, den] (B, H, L, Dv + 1);
 *  4. ratio: z = num / (den + eps).
 * Bidirectional attention without RPE (c = 1) takes the same FFT path.
 *
 * Levels. n = N_0 N_1 ... N_{k-1} with N_0 = min(n, 32) (a block of 16
 * positions per column, 16 columns: one position per invocation in the
 * contraction) and the rest split into levels of at most `maxWorkgroupFft`
 * points (default: what workgroup memory holds, 4096 complex floats on an
 * H100), so two or three passes over the spectra up to L = 65536.
 *
 * Memory. One scratch buffer holds the spectra of a chunk (n complex floats
 * per channel pair): the outer products are written once, as spectra, read
 * and written by each further level and read once by the contraction.
 * Chunks (whole heads, else blocks of value channels, else blocks of
 * feature pairs accumulated into [num, den]) keep the scratch within
 * `maxStorageBufferBindingSize`, `maxBufferSize` and `maxScratchBytes`;
 * inputs, features, spectrum and outputs must each fit one binding, or the
 * call is refused. The work buffers (scratch, features, spectrum, twiddle
 * table) are kept per device for the next call (`releaseKernelizedWorkspace`
 * frees them). Every pass is bound by memory traffic and latency: loads are
 * unrolled so that an invocation's loads are in flight together, and the
 * twiddles come from short tables that stay in cache (`fft.ts`).
 *
 * Interop: q, k, v, the projection and an `rpe` array are jax-js float32
 * arrays on WebGPU, read through `gpuBuffer()` (never written) and consumed,
 * as the composite consumes them, also when the call throws; the result is a
 * new `GpuTensor` (B, H, L, Dv) owned by the caller. Pipelines are cached per
 * configuration.
 *
 * Reference: Luo et al., "Stable, Fast and Accurate: Kernelized Attention
 * with Relative Positional Encoding" (NeurIPS 2021), https://arxiv.org/abs/2106.12566,
 * section 3.2; Choromanski et al., "Rethinking Attention with Performers"
 * (ICLR 2021), https://arxiv.org/abs/2009.14794; Govindaraju et al., "High
 * Performance Discrete Fourier Transforms on Graphics Processors" (SC 2008);
 * Bailey, "FFTs in external or hierarchical memory" (J. Supercomputing 1990).
 */
import { getWebGPUDevice, numpy as np } from "@jax-js/jax";
import type { KernelizedRpeOptions } from "../../attention/kernelized.js";
import { qkvShape } from "../../core/shapes.js";
import { describe, fail } from "../../core/validate.js";
import { fftSharedWgsl, paddedSize, splitFactors, twiddleTable } from "./fft.js";
import { checkBufferSize, f32Literal, GpuTensor, type KernelLimits, resolveLimits, storageBuffer } from "./gpuTensor.js";
import { consuming, Dispatcher, PipelineCache } from "./program.js";

export interface KernelizedFusedOptions extends Omit<KernelizedRpeOptions, "memory"> {
  /** Lower buffer limits than the device's (for tests). */
  limits?: KernelLimits;
  /**
   * Largest FFT (points, a power of two >= 2) one workgroup transforms;
   * default: as many complex floats as workgroup memory holds. Smaller
   * values split the transform into more passes.
   */
  maxWorkgroupFft?: number;
  /** Most bytes of the spectrum scratch buffer; default the buffer limits. */
  maxScratchBytes?: number;
}

const FN = "kernelizedAttentionFused";
/** Invocations per workgroup of the FFT passes. */
const WG = 256;
/** Points of the first FFT level (positions of a block: half of them, times the block's columns). */
const FIRST_LEVEL = 32;
/** Columns of a strided level per workgroup, at most. */
const MAX_COLUMNS = 16;
/** Points per workgroup of a strided or last level, at least (four per invocation). */
const POINTS_PER_GROUP = 4 * WG;
/** Channel pairs per workgroup in the first and last pass, at most. */
const MAX_PAIR_BATCH = 8;
/** Largest head dimension D (a query or key row is kept in registers). */
export const MAX_KERNELIZED_HEAD_DIM = 256;
/** Largest number of features M (a query's exponents are kept in registers). */
export const MAX_FEATURES = 512;
const LOWEST = f32Literal(-3.4028234663852886e38);

const pipelines = new PipelineCache();

/** A chunk of the channel work: (batch, head) pairs, value channels, feature pairs. */
interface Chunk {
  bh0: number;
  bhN: number;
  d0: number;
  dN: number;
  mp0: number;
  mpN: number;
}

/** Sizes of the FFT passes. */
export interface KernelizedFusedPlan {
  /** Transform length. */
  n: number;
  /** Points of each level: [N_0, ..., N_{k-1}]. */
  levels: number[];
  /** Columns of the first and last pass per workgroup. */
  columns: number;
  /** Value channels per workgroup of the first and last pass. */
  pairBatch: number;
  /** Chunks of (batch x head, value channel, feature pair) ranges. */
  chunks: Chunk[];
  /** Bytes of the scratch buffer. */
  scratchBytes: number;
}

/**
 * Fused `kernelizedRpeAttention` (see the file comment): q, k (B, H, L, D),
 * v (B, H, L, Dv) float32 on WebGPU; returns z (B, H, L, Dv). Consumes q, k,
 * v, the projection and an `rpe` array.
 *
 * Reference: Luo et al. (NeurIPS 2021), https://arxiv.org/abs/2106.12566, section 3.2.
 */
export async function kernelizedAttentionFused(q: np.Array, k: np.Array, v: np.Array, options: KernelizedFusedOptions): Promise<GpuTensor> {
  const spec = options?.features;
  const projection = spec && spec.kind !== "eluPlusOne" && isArray(spec.projection) ? spec.projection : undefined;
  const rpeArray = isArray(options?.rpe) ? options.rpe : undefined;
  return consuming([q, k, v, projection, rpeArray], async () => run(await prepare(q, k, v, options, projection, rpeArray)));
}

/** The plan of a call, without running it (for tests and benchmarks). */
export function planKernelizedFused(
  B: number,
  H: number,
  L: number,
  M: number,
  Dv: number,
  opts: { limits?: KernelLimits; maxWorkgroupFft?: number; maxScratchBytes?: number } = {},
): KernelizedFusedPlan {
  const device = getWebGPUDevice();
  return plan(device, B, H, L, M, Dv, resolveLimits(device, opts.limits), opts.maxWorkgroupFft, opts.maxScratchBytes);
}

/**
 * Bytes the passes of a call read and write from device memory, counting
 * each array once per pass that touches it: the spectra (n complex floats
 * per channel pair and (batch, head)) are written by level 0, read and
 * written by each middle level both ways and by the last level, and read by
 * the contraction; besides them q, k, the features, v (once per block of
 * value channels), [num, den] and z.
 */
export function kernelizedFusedTraffic(B: number, H: number, L: number, D: number, M: number, Dv: number, p: KernelizedFusedPlan): number {
  const V = Dv + 1;
  const BH = B * H;
  const spectra = BH * V * Math.ceil(M / 2) * p.n * 8;
  const middle = p.levels.length - 2;
  const channels = spectra * (1 + 4 * middle + 2 + 1);
  const features = 4 * BH * L * (2 * D + 2 * M + 2 * M); // q, k read; phiQ, phiK written; phiK rewritten (PRF)
  const first = 4 * BH * L * (M + Dv) * Math.ceil(V / p.pairBatch); // phi(k) and v, per block of value channels
  const contraction = 4 * BH * L * M * Math.ceil(V / p.pairBatch) + 4 * BH * L * (2 * V + Dv); // phi(q); [num, den] written, read; z
  return channels + features + first + contraction;
}

interface Setup {
  device: GPUDevice;
  B: number;
  H: number;
  L: number;
  M: number;
  Dv: number;
  eps: number;
  plan: KernelizedFusedPlan;
  buffers: { q: GPUBuffer; k: GPUBuffer; v: GPUBuffer; w: GPUBuffer | null; rpe: GPUBuffer | null };
  /** Numeric bias values, uploaded by the call (when the bias is not a jax-js array). */
  rpeValues: Float32Array | null;
  pipes: Pipes;
}

interface Pipes {
  featQ: GPUComputePipeline;
  featK: GPUComputePipeline;
  keyFinal: GPUComputePipeline | null;
  gBuild: GPUComputePipeline;
  specStrided: GPUComputePipeline[];
  specLast: GPUComputePipeline;
  first: GPUComputePipeline;
  fwd: GPUComputePipeline[];
  last: GPUComputePipeline;
  inv: GPUComputePipeline[];
  contract: GPUComputePipeline;
  ratio: GPUComputePipeline;
}

async function prepare(
  q: np.Array,
  k: np.Array,
  v: np.Array,
  options: KernelizedFusedOptions,
  projection: np.Array | undefined,
  rpeArray: np.Array | undefined,
): Promise<Setup> {
  const shp = (x: np.Array) => `(${x.shape.join(", ")})`;
  const shapes = () => `q=${shp(q)}, k=${shp(k)}, v=${shp(v)}`;
  const { B, H, L, D, Dv } = qkvShape(q, k, v, false, (m) => fail(FN, m));
  for (const [name, x] of [
    ["q", q],
    ["k", k],
    ["v", v],
  ] as const) {
    if (x.dtype !== np.float32) fail(FN, `${name} must be float32, got ${x.dtype} (${shapes()})`);
    if (x.device !== "webgpu") fail(FN, `${name} must be on the webgpu device, got ${x.device} (${shapes()})`);
  }
  if (B < 1 || H < 1 || L < 1 || D < 1 || Dv < 1) fail(FN, `B, H, L, D and Dv must be >= 1, got ${shapes()}`);
  if (D > MAX_KERNELIZED_HEAD_DIM) fail(FN, `head dimension D = ${D} must be <= ${MAX_KERNELIZED_HEAD_DIM} (${shapes()})`);
  if (typeof options?.causal !== "boolean") fail(FN, `options.causal must be true or false, got ${describe(options?.causal)}`);
  if (options.qkNorm !== "l2" && options.qkNorm !== "none")
    fail(FN, `options.qkNorm must be "l2" or "none", got ${describe(options.qkNorm)}`);
  const spec = options.features;
  const kind = (spec as { kind?: unknown } | undefined)?.kind;
  if (kind !== "prf" && kind !== "relu" && kind !== "eluPlusOne")
    fail(FN, `options.features.kind must be "prf", "relu" or "eluPlusOne", got ${describe(kind)}`);
  if (spec.kind === "prf" && spec.inputScale !== "softmax" && spec.inputScale !== "none") {
    fail(FN, `options.features.inputScale must be "softmax" or "none", got ${describe(spec.inputScale)}`);
  }
  let M = D;
  if (spec.kind !== "eluPlusOne") {
    if (projection?.ndim !== 2 || projection.shape[1] !== D || projection.dtype !== np.float32 || projection.device !== "webgpu") {
      const got = projection ? `${shp(projection)} ${projection.dtype} on ${projection.device}` : describe(spec.projection);
      fail(FN, `options.features.projection must be (M, D) = (M, ${D}) float32 on webgpu, got ${got}`);
    }
    M = projection.shape[0];
    if (M < 1 || M > MAX_FEATURES) fail(FN, `the number of features M = ${M} must be in [1, ${MAX_FEATURES}]`);
  }
  const eps = options.eps ?? 0;
  if (typeof eps !== "number" || !Number.isFinite(eps) || eps < 0)
    fail(FN, `options.eps must be a finite number >= 0, got ${describe(eps)}`);
  const K = 2 * L - 1;
  let rpeValues: Float32Array | null = null;
  if (rpeArray) {
    if (
      rpeArray.ndim !== 2 ||
      rpeArray.shape[0] !== H ||
      rpeArray.shape[1] !== K ||
      rpeArray.dtype !== np.float32 ||
      rpeArray.device !== "webgpu"
    ) {
      fail(
        FN,
        `options.rpe must be (H, 2L-1) = (${H}, ${K}) float32 on webgpu, got ${shp(rpeArray)} ${rpeArray.dtype} on ${rpeArray.device}`,
      );
    }
  } else if (options.rpe !== undefined) {
    const values = options.rpe as ArrayLike<number>;
    if (typeof values.length !== "number" || values.length !== H * K) {
      fail(FN, `options.rpe must be (H, 2L-1) = (${H}, ${K}) = ${H * K} values, got ${describe(values.length)}`);
    }
    for (let i = 0; i < values.length; i++) {
      if (!Number.isFinite(values[i])) {
        const h = Math.floor(i / K);
        fail(
          FN,
          `options.rpe[${h}][${i - h * K}] (head ${h}, offset j-i = ${i - h * K - (L - 1)}) must be finite, got ${describe(values[i])}`,
        );
      }
    }
    rpeValues = Float32Array.from(values);
  }

  const device = getWebGPUDevice();
  const limits = resolveLimits(device, options.limits);
  const p = plan(device, B, H, L, M, Dv, limits, options.maxWorkgroupFft, options.maxScratchBytes);
  const BH = B * H;
  const V = Dv + 1;
  checkBufferSize(FN, `q ${shp(q)} float32`, q.size * 4, limits);
  checkBufferSize(FN, `k ${shp(k)} float32`, k.size * 4, limits);
  checkBufferSize(FN, `v ${shp(v)} float32`, v.size * 4, limits);
  checkBufferSize(FN, `the features (${B}, ${H}, ${L}, ${M}) float32`, BH * L * M * 4, limits);
  checkBufferSize(FN, `the output with its denominator (${B}, ${H}, ${L}, ${V}) float32`, BH * L * V * 4, limits);
  checkBufferSize(FN, `the circulant spectrum (${H}, ${p.n}) complex float32`, H * p.n * 8, limits);
  checkBufferSize(FN, `the twiddle table (${2 * p.n}) complex float32`, 2 * p.n * 8, limits);

  checkBufferSize(FN, `the bias (${H}, ${K}) float32`, H * K * 4, limits);
  const pipes = await compile(device, D, M, Dv, spec, options.qkNorm, options.causal, rpeArray !== undefined || rpeValues !== null, p);
  const rpe = rpeArray ? await rpeArray.ref.gpuBuffer() : null;
  const buffers = {
    q: await q.ref.gpuBuffer(),
    k: await k.ref.gpuBuffer(),
    v: await v.ref.gpuBuffer(),
    w: projection ? await projection.ref.gpuBuffer() : null,
    rpe,
  };
  return { device, B, H, L, M, Dv, eps, plan: p, buffers, rpeValues, pipes };
}

function plan(
  device: GPUDevice,
  B: number,
  H: number,
  L: number,
  M: number,
  Dv: number,
  limits: Required<KernelLimits>,
  maxWorkgroupFft: number | undefined,
  maxScratchBytes: number | undefined,
): KernelizedFusedPlan {
  const n = Math.max(2, 2 ** Math.ceil(Math.log2(2 * L - 1)));
  const capacity = capacityOf(device);
  const maxFft = maxWorkgroupFft ?? capacity;
  if (!Number.isInteger(maxFft) || maxFft < 2 || maxFft > capacity || floorPow2(maxFft) !== maxFft) {
    fail(
      FN,
      `options.maxWorkgroupFft must be a power of two in [2, ${capacity}] (workgroup memory ${device.limits.maxComputeWorkgroupStorageSize} bytes), got ${describe(maxWorkgroupFft)}`,
    );
  }
  const scratchCap = maxScratchBytes ?? Infinity;
  if (typeof scratchCap !== "number" || !(scratchCap > 0))
    fail(FN, `options.maxScratchBytes must be a number > 0, got ${describe(maxScratchBytes)}`);
  const N0 = Math.min(n, FIRST_LEVEL, maxFft);
  const S0 = n / N0;
  const columns = Math.min(S0, WG / (N0 / 2));
  const V = Dv + 1;
  const Mp = Math.ceil(M / 2);
  let pairBatch = bestBatch(V, Math.min(MAX_PAIR_BATCH, Math.floor(capacity / (columns * N0))));
  const levels = [N0, ...splitFactors(S0, maxFft)];

  const unit = n * 8; // one channel pair of one (batch, head)
  const cap = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize, scratchCap);
  const units = Math.floor(cap / unit);
  if (units < 1) {
    fail(
      FN,
      `one channel pair of one head, ${n} complex float32 (L = ${L}), needs ${unit} bytes of scratch, more than allowed ` +
        `(maxStorageBufferBindingSize ${limits.maxStorageBufferBindingSize}, maxBufferSize ${limits.maxBufferSize}, maxScratchBytes ${scratchCap})`,
    );
  }
  const BH = B * H;
  const chunks: Chunk[] = [];
  if (units >= V * Mp) {
    for (const [b0, b1] of ranges(BH, Math.floor(units / (V * Mp)))) chunks.push({ bh0: b0, bhN: b1 - b0, d0: 0, dN: V, mp0: 0, mpN: Mp });
  } else if (units >= Mp) {
    const per = Math.floor(units / Mp);
    pairBatch = Math.min(pairBatch, per);
    const dPer = Math.floor(per / pairBatch) * pairBatch;
    for (let bh = 0; bh < BH; bh++)
      for (const [d0, d1] of ranges(V, dPer)) chunks.push({ bh0: bh, bhN: 1, d0, dN: d1 - d0, mp0: 0, mpN: Mp });
  } else {
    pairBatch = 1;
    for (let bh = 0; bh < BH; bh++) {
      for (let d = 0; d < V; d++)
        for (const [m0, m1] of ranges(Mp, units)) chunks.push({ bh0: bh, bhN: 1, d0: d, dN: 1, mp0: m0, mpN: m1 - m0 });
    }
  }
  const scratchBytes = Math.max(...chunks.map((c) => c.bhN * c.dN * c.mpN * unit));
  return { n, levels, columns, pairBatch, chunks, scratchBytes };
}

/** The batch size in [ceil(max/2), max] that pads V the least (the largest on ties). */
function bestBatch(V: number, max: number): number {
  let best = Math.max(1, max);
  for (let b = best; b >= Math.max(1, Math.ceil(max / 2)); b--) if (Math.ceil(V / b) * b < Math.ceil(V / best) * best) best = b;
  return best;
}

function ranges(total: number, per: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let a = 0; a < total; a += per) out.push([a, Math.min(total, a + per)]);
  return out;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

function floorPow2(x: number): number {
  return 2 ** Math.floor(Math.log2(x));
}

function isArray(x: unknown): x is np.Array {
  return typeof x === "object" && x !== null && typeof (x as np.Array).dispose === "function" && Array.isArray((x as np.Array).shape);
}

/**
 * Columns of a strided level per workgroup: MAX_COLUMNS, or more for short
 * transforms (at least POINTS_PER_GROUP points per workgroup), within the
 * stride and workgroup memory.
 */
function stridedColumns(device: GPUDevice, N: number, S: number): number {
  return Math.min(S, Math.max(MAX_COLUMNS, POINTS_PER_GROUP / N), capacityOf(device) / N);
}

/** Rows of the last level per workgroup, by the same rule. */
function lastRows(device: GPUDevice, N: number): number {
  return Math.max(1, Math.min(Math.max(MAX_COLUMNS, POINTS_PER_GROUP / N), capacityOf(device) / N));
}

/** Complex floats of one FFT batch that workgroup memory holds (with `paddedSize`), a power of two. */
function capacityOf(device: GPUDevice): number {
  return floorPow2(Math.floor(((device.limits.maxComputeWorkgroupStorageSize / 8 - 1) * 16) / 17));
}

async function compile(
  device: GPUDevice,
  D: number,
  M: number,
  Dv: number,
  spec: KernelizedFusedOptions["features"],
  qkNorm: "l2" | "none",
  causal: boolean,
  hasRpe: boolean,
  p: KernelizedFusedPlan,
): Promise<Pipes> {
  const get = (key: string, source: () => string) => pipelines.get(device, FN, key, source);
  const feat = spec.kind === "prf" ? `prf:${spec.inputScale}` : spec.kind;
  const [N0, ...rest] = p.levels;
  const S = strides(p.n, p.levels);
  const middle = rest.slice(0, -1).map((N, i) => ({ N, S: S[i + 1], W: stridedColumns(device, N, S[i + 1]) }));
  const Nl = rest[rest.length - 1];
  const rows = lastRows(device, Nl);
  const level0 = { N: N0, S: S[0], W: stridedColumns(device, N0, S[0]) };
  const pb = p.pairBatch;
  const W0 = p.columns;
  return {
    featQ: await get(`feat:q:${feat}:${qkNorm}:${D}:${M}`, () =>
      featuresSource("query", spec.kind, spec.kind === "prf" ? spec.inputScale : "none", qkNorm, D, M),
    ),
    featK: await get(`feat:k:${feat}:${qkNorm}:${D}:${M}`, () =>
      featuresSource("key", spec.kind, spec.kind === "prf" ? spec.inputScale : "none", qkNorm, D, M),
    ),
    keyFinal: spec.kind === "prf" ? await get(`keyfinal:${M}`, () => keyFinalSource(M)) : null,
    gBuild: await get(`g:${causal}:${hasRpe}`, () => gSource(causal, hasRpe)),
    specStrided: await Promise.all(
      [level0, ...middle].map((l) => get(`strided:f:${l.N}:${l.W}`, () => stridedSource(l.N, l.W, "forward"))),
    ),
    specLast: await get(`last:spectrum:${Nl}:${rows}`, () => lastSource(Nl, rows, "spectrum")),
    first: await get(`first:${N0}:${W0}:${pb}:${M}:${Dv}`, () => firstSource(N0, W0, pb, M, Dv)),
    fwd: await Promise.all(middle.map((l) => get(`strided:f:${l.N}:${l.W}`, () => stridedSource(l.N, l.W, "forward")))),
    last: await get(`last:convolve:${Nl}:${rows}`, () => lastSource(Nl, rows, "convolve")),
    inv: await Promise.all(middle.map((l) => get(`strided:i:${l.N}:${l.W}`, () => stridedSource(l.N, l.W, "inverse")))),
    contract: await get(`contract:${N0}:${W0}:${pb}:${M}:${Dv}`, () => contractSource(N0, W0, pb, M, Dv)),
    ratio: await get(`ratio:${Dv}`, () => ratioSource(Dv)),
  };
}

/** S_l = N_{l+1} ... N_{k-1}: the stride of level l. */
function strides(n: number, levels: number[]): number[] {
  const out: number[] = [];
  let S = n;
  for (const N of levels) {
    S /= N;
    out.push(S);
  }
  return out;
}

function run(s: Setup): GpuTensor {
  const { device, B, H, L, M, Dv, plan: p, pipes, buffers } = s;
  const BH = B * H;
  const V = Dv + 1;
  const n = p.n;
  const S = strides(n, p.levels);
  const Nl = p.levels[p.levels.length - 1];
  const rows = lastRows(device, Nl);
  const tw = twiddles(device, n);
  const phiQ = workBuffer(device, "phiQ", BH * L * M * 4);
  const phiK = workBuffer(device, "phiK", BH * L * M * 4);
  const smax = workBuffer(device, "smax", BH * 4);
  const G = workBuffer(device, "spectrum", H * n * 8);
  const numDen = workBuffer(device, "numDen", BH * L * V * 4);
  const scratch = workBuffer(device, "scratch", p.scratchBytes);
  const out = new GpuTensor([B, H, L, Dv], storageBuffer(device, BH * L * Dv * 4));

  const run = new Dispatcher(device, FN);
  const rpe = buffers.rpe ?? (s.rpeValues ? run.temporary(s.rpeValues.byteLength, s.rpeValues) : null);
  run.clear(smax); // atomicMax starts from 0, below every key
  // the uniform words of a pass end with the grid's width in workgroups
  const dispatch = (pipeline: GPUComputePipeline, words: number[], bindings: GPUBuffer[], groups: number | [number, number]) => {
    const grid = typeof groups === "number" ? run.grid(groups) : groups;
    run.dispatch(pipeline, [run.uniform(new Uint32Array([...words, grid[0]]).buffer), ...bindings], grid);
  };

  // 1. features
  const w = buffers.w ? [buffers.w] : [];
  const rowBlocks = Math.ceil(L / 64);
  dispatch(pipes.featQ, [L, BH], [buffers.q, ...w, phiQ], [rowBlocks, BH]);
  dispatch(pipes.featK, [L, BH], [buffers.k, ...w, phiK, ...(pipes.keyFinal ? [smax] : [])], [rowBlocks, BH]);
  if (pipes.keyFinal) dispatch(pipes.keyFinal, [BH * L * M, L * M], [phiK, smax], Math.ceil((BH * L * M) / WG));

  // 2. spectrum of g, (H, n), in the layout of the channel spectra, scaled by 1/n
  dispatch(pipes.gBuild, [L, n], [...(rpe ? [rpe] : []), G], [H, 1]);
  const stridedLevels = p.levels.slice(0, -1).map((N, l) => ({ N, S: S[l], W: stridedColumns(device, N, S[l]) }));
  const strided = (pipeline: GPUComputePipeline, l: { N: number; S: number; W: number }, pairs: number, data: GPUBuffer) => {
    const perPair = n / (l.N * l.W);
    dispatch(pipeline, [n, l.S, l.N * l.S, perPair, l.S / l.W, pairs], [tw, data], pairs * perPair);
  };
  stridedLevels.forEach((l, i) => strided(pipes.specStrided[i], l, H, G));
  const last = (
    pipeline: GPUComputePipeline,
    pairs: number,
    pairsPerBh: number,
    bh0: number,
    data: GPUBuffer,
    spectrum: GPUBuffer | null,
  ) => {
    const total = (pairs * n) / Nl;
    dispatch(pipeline, [n, total, pairsPerBh, bh0, H], spectrum ? [tw, data, spectrum] : [tw, data], Math.ceil(total / rows));
  };
  last(pipes.specLast, H, 1, 0, G, null);

  // 3. the channels, chunk by chunk
  const W0 = p.columns;
  const colBlocks = S[0] / W0;
  for (const c of p.chunks) {
    const dBlocks = Math.ceil(c.dN / p.pairBatch);
    const pairs = c.bhN * c.dN * c.mpN;
    const words = [L, n, S[0], colBlocks, dBlocks, c.mpN, c.dN, c.d0, c.mp0, c.bh0, c.bhN, Math.ceil(Math.log2(n) / 2)];
    dispatch(pipes.first, words, [tw, scratch, phiK, buffers.v], c.bhN * c.mpN * dBlocks * colBlocks);
    stridedLevels.slice(1).forEach((l, i) => strided(pipes.fwd[i], l, pairs, scratch));
    last(pipes.last, pairs, c.dN * c.mpN, c.bh0, scratch, G);
    stridedLevels
      .slice(1)
      .reverse()
      .forEach((l, i) => strided(pipes.inv[pipes.inv.length - 1 - i], l, pairs, scratch));
    dispatch(pipes.contract, [...words, c.mp0 > 0 ? 1 : 0], [tw, scratch, phiQ, numDen], c.bhN * dBlocks * colBlocks);
  }

  // 4. z = num / (den + eps)
  const epsBits = new Uint32Array(new Float32Array([s.eps]).buffer)[0];
  dispatch(pipes.ratio, [BH * L * Dv, epsBits], [numDen, out.buffer], Math.ceil((BH * L * Dv) / WG));
  run.submit();
  return out;
}

/** Work buffers kept per device between calls, by role. */
const workspaces = new WeakMap<GPUDevice, Map<string, GPUBuffer>>();
/** The twiddle table kept per device, with its length. */
const tables = new WeakMap<GPUDevice, { n: number; buffer: GPUBuffer }>();

/**
 * A work buffer of at least `bytes` for `role`, reused across calls (GPU
 * work is ordered on the queue, so a later call's passes run after an
 * earlier call's), replaced by a larger one when needed: allocating and
 * clearing gigabytes on every call would cost more than the passes.
 */
function workBuffer(device: GPUDevice, role: string, bytes: number): GPUBuffer {
  let pool = workspaces.get(device);
  if (!pool) workspaces.set(device, (pool = new Map()));
  const have = pool.get(role);
  if (have && have.size >= bytes) return have;
  have?.destroy();
  const buffer = storageBuffer(device, bytes);
  pool.set(role, buffer);
  return buffer;
}

function twiddles(device: GPUDevice, n: number): GPUBuffer {
  const have = tables.get(device);
  if (have && have.n === n) return have.buffer;
  have?.buffer.destroy();
  const table = twiddleTable(n);
  const buffer = storageBuffer(device, table.byteLength, table);
  tables.set(device, { n, buffer });
  return buffer;
}

/**
 * Frees the work buffers `kernelizedAttentionFused` keeps on the current
 * device between calls (the spectrum scratch, up to `maxScratchBytes` or the
 * buffer limits, the features and the twiddle table).
 */
export function releaseKernelizedWorkspace(): void {
  const device = getWebGPUDevice();
  for (const b of workspaces.get(device)?.values() ?? []) b.destroy();
  workspaces.delete(device);
  tables.get(device)?.buffer.destroy();
  tables.delete(device);
}

const ORDER_KEY = `fn orderKey(x: f32) -> u32 { let b = bitcast<u32>(x); return select(~b, b | 0x80000000u, (b & 0x80000000u) == 0u); }
fn fromOrderKey(u: u32) -> f32 { return bitcast<f32>(select(~u, u & 0x7fffffffu, (u & 0x80000000u) != 0u)); }`;

/** Features of one role: a row per invocation, 64 rows of one (batch, head) per workgroup. */
function featuresSource(
  role: "query" | "key",
  kind: "prf" | "relu" | "eluPlusOne",
  inputScale: "softmax" | "none",
  qkNorm: "l2" | "none",
  D: number,
  M: number,
): string {
  const keyMax = kind === "prf" && role === "key";
  const inv = f32Literal(1 / Math.sqrt(M));
  let body: string;
  if (kind === "eluPlusOne") {
    body = `for (var c = 0u; c < D; c++) { let x = xr[c]; out[row * M + c] = select(exp(min(x, 0.0)), x + 1.0, x > 0.0); }`;
  } else if (kind === "relu") {
    body = `for (var m = 0u; m < M; m++) {
      var dot = 0.0;
      for (var c = 0u; c < D; c++) { dot += xr[c] * w[m * D + c]; }
      out[row * M + m] = max(dot, 0.0) * ${inv};
    }`;
  } else {
    body = `${inputScale === "softmax" ? `for (var c = 0u; c < D; c++) { xr[c] = xr[c] * ${f32Literal(D ** -0.25)}; }` : ""}
    var sq = 0.0;
    for (var c = 0u; c < D; c++) { sq += xr[c] * xr[c]; }
    let half = sq * 0.5;
    var e: array<f32, ${M}>;
    var mx = ${LOWEST};
    for (var m = 0u; m < M; m++) {
      var dot = 0.0;
      for (var c = 0u; c < D; c++) { dot += xr[c] * w[m * D + c]; }
      e[m] = dot - half;
      mx = max(mx, e[m]);
    }
    ${
      role === "query"
        ? `for (var m = 0u; m < M; m++) { out[row * M + m] = exp(e[m] - mx) * ${inv}; }`
        : `for (var m = 0u; m < M; m++) { out[row * M + m] = e[m]; }
    rowMax = mx;`
    }`;
  }
  return /* wgsl */ `
struct Params { L: u32, BH: u32, gx: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
${kind === "eluPlusOne" ? "" : "@group(0) @binding(2) var<storage, read> w: array<f32>;"}
@group(0) @binding(${kind === "eluPlusOne" ? 2 : 3}) var<storage, read_write> out: array<f32>;
${keyMax ? `@group(0) @binding(4) var<storage, read_write> smax: array<atomic<u32>>;\nvar<workgroup> red: array<f32, 64>;\n${ORDER_KEY}` : ""}
const D = ${D}u;
const M = ${M}u;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let bh = wg.y;
  let t = wg.x * 64u + lid;
  var rowMax = ${LOWEST};
  if (t < P.L) {
    let row = bh * P.L + t;
    var xr: array<f32, ${D}>;
    for (var c = 0u; c < D; c++) { xr[c] = x[row * D + c]; }
    ${
      qkNorm === "l2"
        ? `var ss = 0.0;
    for (var c = 0u; c < D; c++) { ss += xr[c] * xr[c]; }
    let norm = max(sqrt(ss), ${f32Literal(1e-30)});
    for (var c = 0u; c < D; c++) { xr[c] = xr[c] / norm; }`
        : ""
    }
    ${body}
  }
  ${
    keyMax
      ? `red[lid] = rowMax;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
    workgroupBarrier();
  }
  if (lid == 0u) { atomicMax(&smax[bh], orderKey(red[0])); }`
      : "_ = rowMax;"
  }
}
`;
}

/** phi(k) = exp(e - s) / sqrt(M) with s the maximum over (L, M) of each (batch, head). */
function keyFinalSource(M: number): string {
  return /* wgsl */ `
struct Params { total: u32, LM: u32, gx: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> e: array<f32>;
@group(0) @binding(2) var<storage, read> smax: array<u32>;
${ORDER_KEY}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * P.gx + wg.x) * ${WG}u + lid;
  if (i >= P.total) { return; }
  e[i] = exp(e[i] - fromOrderKey(smax[i / P.LM])) * ${f32Literal(1 / Math.sqrt(M))};
}
`;
}

/** g (H, n) complex: g_t = c_{-t} (t < L), g_{n-s} = c_s (0 < s < L, bidirectional), c = exp(b - max b). One workgroup per head. */
function gSource(causal: boolean, hasRpe: boolean): string {
  const c = (idx: string) => (hasRpe ? `exp(b[h * K + ${idx}] - bmax)` : "1.0");
  return /* wgsl */ `
struct Params { L: u32, n: u32, gx: u32 }
@group(0) @binding(0) var<uniform> P: Params;
${hasRpe ? "@group(0) @binding(1) var<storage, read> b: array<f32>;" : ""}
@group(0) @binding(${hasRpe ? 2 : 1}) var<storage, read_write> g: array<vec2<f32>>;
${hasRpe ? `var<workgroup> red: array<f32, ${WG}>;` : ""}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wg.x;
  let L = P.L;
  let K = 2u * L - 1u;
  ${
    hasRpe
      ? `var mx = ${LOWEST};
  for (var o = lid; o < ${causal ? "L" : "K"}; o += ${WG}u) { mx = max(mx, b[h * K + o]); }
  red[lid] = mx;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
    workgroupBarrier();
  }
  let bmax = red[0];`
      : ""
  }
  for (var t = lid; t < P.n; t += ${WG}u) {
    var val = 0.0;
    if (t < L) {
      val = ${c("L - 1u - t")};
    }${
      causal
        ? ""
        : ` else if (t > P.n - L) {
      val = ${c("L - 1u + (P.n - t)")};
    }`
    }
    g[h * P.n + t] = vec2<f32>(val, 0.0);
  }
}
`;
}

/**
 * One strided level of the four-step FFT, in place: per (pair, block of
 * N S points, W columns r), the N-point DFTs along the index of stride S,
 * with the twiddle W_{N S}^{r f} after them (forward) or before them
 * (inverse, on conjugated data).
 */
function stridedSource(N: number, W: number, direction: "forward" | "inverse"): string {
  return /* wgsl */ `
struct Params { n: u32, S: u32, SP: u32, perPair: u32, colBlocks: u32, pairs: u32, gx: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> tw: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read_write> data: array<vec2<f32>>;
var<workgroup> sh: array<vec2<f32>, ${paddedSize(W * N)}>;
var<private> base: u32;
var<private> col0: u32;
${fftSharedWgsl(N, W, WG)}
fn at(e: u32) -> vec2<f32> {
  let col = e % ${W}u;
  let f = e / ${W}u;
  ${direction === "inverse" ? `return cmul(data[base + f * P.S + col], tw[P.SP + (col0 + col) * f]);` : `return data[base + f * P.S + col];`}
}
fn slot(e: u32) -> u32 { return (e % ${W}u) * ${N}u + e / ${W}u; }

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let wid = wg.y * P.gx + wg.x;
  if (wid >= P.pairs * P.perPair) { return; }
  let pair = wid / P.perPair;
  let rem = wid % P.perPair;
  let o = rem / P.colBlocks;
  let cb = rem % P.colBlocks;
  base = pair * P.n + o * P.SP + cb * ${W}u;
  col0 = cb * ${W}u;
  ${staged(W * N)}
  workgroupBarrier();
  fftShared(lid);
  for (var e = lid; e < ${W * N}u; e += ${WG}u) {
    let col = e % ${W}u;
    let f = e / ${W}u;
    ${direction === "forward" ? `data[base + f * P.S + col] = cmul(sh[sp(col * ${N}u + f)], tw[P.SP + (col0 + col) * f]);` : `data[base + f * P.S + col] = sh[sp(col * ${N}u + f)];`}
  }
}
`;
}

/**
 * The last level: contiguous rows of N points. "spectrum": forward DFT and
 * 1/n. "convolve": forward DFT, times the spectrum of g of the row's head,
 * conjugate, forward DFT (the inverse transform, left conjugated).
 */
function lastSource(N: number, rows: number, mode: "spectrum" | "convolve"): string {
  const size = rows * N;
  return /* wgsl */ `
struct Params { n: u32, rows: u32, pairsPerBh: u32, bh0: u32, H: u32, gx: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> tw: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read_write> data: array<vec2<f32>>;
${mode === "convolve" ? "@group(0) @binding(3) var<storage, read> G: array<vec2<f32>>;" : ""}
var<workgroup> sh: array<vec2<f32>, ${paddedSize(size)}>;
var<private> first: u32;
var<private> last: u32;
${fftSharedWgsl(N, rows, WG)}
fn at(e: u32) -> vec2<f32> { return select(vec2<f32>(0.0), data[min(first + e, last)], first + e <= last); }
fn slot(e: u32) -> u32 { return e; }

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row0 = (wg.y * P.gx + wg.x) * ${rows}u;
  if (row0 >= P.rows) { return; }
  let valid = min(P.rows - row0, ${rows}u) * ${N}u;
  first = row0 * ${N}u;
  last = first + valid - 1u;
  ${staged(size)}
  workgroupBarrier();
  fftShared(lid);
  for (var e = lid; e < valid; e += ${WG}u) {
    ${
      mode === "spectrum"
        ? `sh[sp(e)] = sh[sp(e)] * (1.0 / f32(P.n));`
        : `let r = row0 + e / ${N}u;
    let blocks = P.n / ${N}u;
    let h = (P.bh0 + (r / blocks) / P.pairsPerBh) % P.H;
    let y = cmul(sh[sp(e)], G[h * P.n + (r % blocks) * ${N}u + e % ${N}u]);
    sh[sp(e)] = vec2<f32>(y.x, -y.y);`
    }
  }
  ${mode === "convolve" ? `workgroupBarrier();\n  fftShared(lid);` : ""}
  for (var e = lid; e < valid; e += ${WG}u) { data[row0 * ${N}u + e] = sh[sp(e)]; }
}
`;
}

/**
 * WGSL staging `size` elements into `sh` by the workgroup: element e is
 * `at(e)` (a WGSL function), stored at `sp(slot(e))`. Unrolled, with every
 * load issued before the first store, so that an invocation's loads are in
 * flight together.
 */
function staged(size: number): string {
  const per = Math.ceil(size / WG);
  const guard = (i: number, body: string) => (size % WG === 0 ? body : `if (lid + ${i * WG}u < ${size}u) { ${body} }`);
  const loads = range(per).map((i) => `var x${i} = vec2<f32>(0.0); ${guard(i, `x${i} = at(lid + ${i * WG}u);`)}`);
  const stores = range(per).map((i) => guard(i, `sh[sp(slot(lid + ${i * WG}u))] = x${i};`));
  return `{\n    ${loads.join("\n    ")}\n    ${stores.join("\n    ")}\n  }`;
}

const CHUNK_PARAMS =
  "L: u32, n: u32, S0: u32, colBlocks: u32, dBlocks: u32, Mpc: u32, Dc: u32, d0: u32, mp0: u32, bh0: u32, bhN: u32, split: u32";

/**
 * W_n^x for x < n as W_{n / 2^s}^{x >> s} W_n^{x mod 2^s} (s = P.split): two
 * entries of short tables that stay in cache, where the twiddles of level 0
 * (x = r f over the whole table) would each touch a different cache line.
 */
const LEVEL0_TWIDDLE =
  "fn twn(x: u32) -> vec2<f32> { return cmul(tw[(P.n >> P.split) + (x >> P.split)], tw[P.n + (x & ((1u << P.split) - 1u))]); }";

/**
 * Level 0 forward with the outer products formed on load: per (batch x head,
 * feature pair, block of PB value channels, W columns), signal m, m + 1 of
 * channel d is phi(k_t)_m [v_t, 1]_d + i phi(k_t)_{m+1} [v_t, 1]_d at
 * positions t = t_0 S_0 + r (zero for t >= L).
 */
function firstSource(N0: number, W: number, PB: number, M: number, Dv: number): string {
  const size = PB * W * N0;
  return /* wgsl */ `
struct Params { ${CHUNK_PARAMS}, gx: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> tw: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read_write> data: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read> phiK: array<f32>;
@group(0) @binding(4) var<storage, read> v: array<f32>;
var<workgroup> sh: array<vec2<f32>, ${paddedSize(size)}>;
var<private> m0: u32;
var<private> bhRow: u32;
var<private> dl0: u32;
var<private> col0: u32;
${fftSharedWgsl(N0, PB * W, WG)}
${LEVEL0_TWIDDLE}
fn at(e: u32) -> vec2<f32> {
  let dl = dl0 + e / ${W * N0}u;
  let t = ((e / ${W}u) % ${N0}u) * P.S0 + col0 + e % ${W}u;
  var x = vec2<f32>(0.0);
  if (dl < P.Dc && t < P.L) {
    let d = P.d0 + dl;
    var val = 1.0;
    if (d < ${Dv}u) { val = v[(bhRow + t) * ${Dv}u + d]; }
    let kr = (bhRow + t) * ${M}u + m0;
    x.x = phiK[kr] * val;
    if (m0 + 1u < ${M}u) { x.y = phiK[kr + 1u] * val; }
  }
  return x;
}
fn slot(e: u32) -> u32 { return ((e / ${W * N0}u) * ${W}u + e % ${W}u) * ${N0}u + (e / ${W}u) % ${N0}u; }

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let wid = wg.y * P.gx + wg.x;
  if (wid >= P.bhN * P.Mpc * P.dBlocks * P.colBlocks) { return; }
  // consecutive workgroups share positions (and their rows of phi(k) and v in cache)
  let db = wid % P.dBlocks;
  let mpl = (wid / P.dBlocks) % P.Mpc;
  let cb = (wid / (P.dBlocks * P.Mpc)) % P.colBlocks;
  let bhl = wid / (P.colBlocks * P.dBlocks * P.Mpc);
  let bh = P.bh0 + bhl;
  m0 = 2u * (P.mp0 + mpl);
  bhRow = bh * P.L;
  dl0 = db * ${PB}u;
  col0 = cb * ${W}u;
  ${staged(size)}
  workgroupBarrier();
  fftShared(lid);
  for (var e = lid; e < ${size}u; e += ${WG}u) {
    let col = e % ${W}u;
    let f = (e / ${W}u) % ${N0}u;
    let j = e / ${W * N0}u;
    let dl = db * ${PB}u + j;
    if (dl < P.Dc) {
      let pair = (bhl * P.Dc + dl) * P.Mpc + mpl;
      let r = cb * ${W}u + col;
      data[pair * P.n + f * P.S0 + r] = cmul(sh[sp((j * ${W}u + col) * ${N0}u + f)], twn(r * f));
    }
  }
}
`;
}

/**
 * Level 0 inverse fused with the contraction: per (batch x head, block of
 * PB value channels, W columns), for every feature pair of the chunk, the
 * last DFTs (on conjugated data: the real part is channel m, minus the
 * imaginary part channel m + 1) give the Toeplitz products at the block's
 * positions, accumulated as sum_m phi(q_t)_m y_m in registers.
 */
function contractSource(N0: number, W: number, PB: number, M: number, Dv: number): string {
  const size = PB * W * N0;
  const V = Dv + 1;
  return /* wgsl */ `
struct Params { ${CHUNK_PARAMS}, accumulate: u32, gx: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> tw: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read_write> data: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read> phiQ: array<f32>;
@group(0) @binding(4) var<storage, read_write> numDen: array<f32>;
var<workgroup> sh: array<vec2<f32>, ${paddedSize(size)}>;
var<private> pair0: u32;
var<private> dl0: u32;
var<private> col0: u32;
var<private> mp: u32;
${fftSharedWgsl(N0, PB * W, WG)}
${LEVEL0_TWIDDLE}
fn at(e: u32) -> vec2<f32> {
  let dl = dl0 + e / ${W * N0}u;
  let f = (e / ${W}u) % ${N0}u;
  let r = col0 + e % ${W}u;
  if (dl >= P.Dc) { return vec2<f32>(0.0); }
  return cmul(data[((pair0 + dl) * P.Mpc + mp) * P.n + f * P.S0 + r], twn(r * f));
}
fn slot(e: u32) -> u32 { return ((e / ${W * N0}u) * ${W}u + e % ${W}u) * ${N0}u + (e / ${W}u) % ${N0}u; }

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let wid = wg.y * P.gx + wg.x;
  if (wid >= P.bhN * P.dBlocks * P.colBlocks) { return; }
  // consecutive workgroups share positions (and their rows of phi(q) in cache)
  let db = wid % P.dBlocks;
  let cb = (wid / P.dBlocks) % P.colBlocks;
  let bhl = wid / (P.colBlocks * P.dBlocks);
  let bh = P.bh0 + bhl;
  pair0 = bhl * P.Dc;
  dl0 = db * ${PB}u;
  col0 = cb * ${W}u;
  // this invocation's position
  let mt0 = lid / ${W}u;
  let mcol = lid % ${W}u;
  let mt = mt0 * P.S0 + cb * ${W}u + mcol;
  let mine = mt0 < ${N0 / 2}u && mt < P.L;
  ${range(PB)
    .map((j) => `var acc${j} = 0.0;`)
    .join(" ")}
  for (var mpl = 0u; mpl < P.Mpc; mpl++) {
    mp = mpl;
    ${staged(size)}
    // this position's features m0, m0 + 1, loaded while the transform runs
    let m0 = 2u * (P.mp0 + mpl);
    let qr = (bh * P.L + min(mt, P.L - 1u)) * ${M}u + m0;
    let qa = phiQ[qr];
    var qb = 0.0;
    if (m0 + 1u < ${M}u) { qb = phiQ[qr + 1u]; }
    workgroupBarrier();
    fftShared(lid);
    if (mine) {
      ${range(PB)
        .map((j) => `let y${j} = sh[sp(${j * W}u * ${N0}u + mcol * ${N0}u + mt0)]; acc${j} = acc${j} + (qa * y${j}.x - qb * y${j}.y);`)
        .join("\n      ")}
    }
    workgroupBarrier();
  }
  if (mine) {
    let row = (bh * P.L + mt) * ${V}u + P.d0 + db * ${PB}u;
    ${range(PB)
      .map(
        (j) =>
          `if (db * ${PB}u + ${j}u < P.Dc) { numDen[row + ${j}u] = select(acc${j}, numDen[row + ${j}u] + acc${j}, P.accumulate != 0u); }`,
      )
      .join("\n    ")}
  }
}
`;
}

function ratioSource(Dv: number): string {
  return /* wgsl */ `
struct Params { total: u32, eps: u32, gx: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> numDen: array<f32>;
@group(0) @binding(2) var<storage, read_write> z: array<f32>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * P.gx + wg.x) * ${WG}u + lid;
  if (i >= P.total) { return; }
  let row = i / ${Dv}u;
  z[i] = numDen[row * ${Dv + 1}u + i % ${Dv}u] / (numDen[row * ${Dv + 1}u + ${Dv}u] + bitcast<f32>(P.eps));
}
`;
}
