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
 * This file holds the entry, its validation, the plan of the passes and
 * their dispatch (over 400 lines: the plan and the dispatch read together);
 * the shaders are in kernelizedShaders.ts, the kept work buffers in
 * kernelizedWorkspace.ts.
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
import { splitFactors } from "./fft.js";
import { checkBufferSize, GpuTensor, type KernelLimits, resolveLimits, storageBuffer } from "./gpuTensor.js";
import {
  contractProgram,
  featuresProgram,
  firstProgram,
  gProgram,
  keyFinalProgram,
  lastProgram,
  ratioProgram,
  stridedProgram,
  WG,
} from "./kernelizedShaders.js";
import { twiddles, workBuffer } from "./kernelizedWorkspace.js";
import { consuming, Dispatcher, type Kernel, PipelineCache, type Program } from "./program.js";

export { releaseKernelizedWorkspace } from "./kernelizedWorkspace.js";

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
  featQ: Kernel;
  featK: Kernel;
  keyFinal: Kernel | null;
  gBuild: Kernel;
  specStrided: Kernel[];
  specLast: Kernel;
  first: Kernel;
  fwd: Kernel[];
  last: Kernel;
  inv: Kernel[];
  contract: Kernel;
  ratio: Kernel;
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
  const get = (key: string, source: () => Program) => pipelines.get(device, FN, key, source);
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
      featuresProgram("query", spec.kind, spec.kind === "prf" ? spec.inputScale : "none", qkNorm, D, M),
    ),
    featK: await get(`feat:k:${feat}:${qkNorm}:${D}:${M}`, () =>
      featuresProgram("key", spec.kind, spec.kind === "prf" ? spec.inputScale : "none", qkNorm, D, M),
    ),
    keyFinal: spec.kind === "prf" ? await get(`keyfinal:${M}`, () => keyFinalProgram(M)) : null,
    gBuild: await get(`g:${causal}:${hasRpe}`, () => gProgram(causal, hasRpe)),
    specStrided: await Promise.all(
      [level0, ...middle].map((l) => get(`strided:f:${l.N}:${l.W}`, () => stridedProgram(l.N, l.W, "forward"))),
    ),
    specLast: await get(`last:spectrum:${Nl}:${rows}`, () => lastProgram(Nl, rows, "spectrum")),
    first: await get(`first:${N0}:${W0}:${pb}:${M}:${Dv}`, () => firstProgram(N0, W0, pb, M, Dv)),
    fwd: await Promise.all(middle.map((l) => get(`strided:f:${l.N}:${l.W}`, () => stridedProgram(l.N, l.W, "forward")))),
    last: await get(`last:convolve:${Nl}:${rows}`, () => lastProgram(Nl, rows, "convolve")),
    inv: await Promise.all(middle.map((l) => get(`strided:i:${l.N}:${l.W}`, () => stridedProgram(l.N, l.W, "inverse")))),
    contract: await get(`contract:${N0}:${W0}:${pb}:${M}:${Dv}`, () => contractProgram(N0, W0, pb, M, Dv)),
    ratio: await get(`ratio:${Dv}`, () => ratioProgram(Dv)),
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
  // every pass's uniforms end with the grid's width in workgroups
  const dispatch = (
    kernel: Kernel,
    uniforms: Record<string, number>,
    buffers: Record<string, GPUBuffer>,
    groups: number | [number, number],
  ) => {
    const grid = typeof groups === "number" ? run.grid(groups) : groups;
    run.dispatch(kernel, { ...uniforms, ...buffers, gx: grid[0] }, grid);
  };

  // 1. features
  const w: Record<string, GPUBuffer> = buffers.w ? { w: buffers.w } : {};
  const rowBlocks = Math.ceil(L / 64);
  dispatch(pipes.featQ, { L, BH }, { x: buffers.q, ...w, out: phiQ }, [rowBlocks, BH]);
  dispatch(pipes.featK, { L, BH }, { x: buffers.k, ...w, out: phiK, ...(pipes.keyFinal ? { smax } : {}) }, [rowBlocks, BH]);
  if (pipes.keyFinal) dispatch(pipes.keyFinal, { total: BH * L * M, LM: L * M }, { e: phiK, smax }, Math.ceil((BH * L * M) / WG));

  // 2. spectrum of g, (H, n), in the layout of the channel spectra, scaled by 1/n
  dispatch(pipes.gBuild, { L, n }, { ...(rpe ? { b: rpe } : {}), g: G }, [H, 1]);
  const stridedLevels = p.levels.slice(0, -1).map((N, l) => ({ N, S: S[l], W: stridedColumns(device, N, S[l]) }));
  const strided = (pipeline: Kernel, l: { N: number; S: number; W: number }, pairs: number, data: GPUBuffer) => {
    const perPair = n / (l.N * l.W);
    dispatch(pipeline, { n, S: l.S, SP: l.N * l.S, perPair, colBlocks: l.S / l.W, pairs }, { tw, data }, pairs * perPair);
  };
  stridedLevels.forEach((l, i) => strided(pipes.specStrided[i], l, H, G));
  const last = (pipeline: Kernel, pairs: number, pairsPerBh: number, bh0: number, data: GPUBuffer, spectrum: GPUBuffer | null) => {
    const total = (pairs * n) / Nl;
    dispatch(
      pipeline,
      { n, rows: total, pairsPerBh, bh0, H },
      spectrum ? { tw, data, G: spectrum } : { tw, data },
      Math.ceil(total / rows),
    );
  };
  last(pipes.specLast, H, 1, 0, G, null);

  // 3. the channels, chunk by chunk
  const W0 = p.columns;
  const colBlocks = S[0] / W0;
  for (const c of p.chunks) {
    const dBlocks = Math.ceil(c.dN / p.pairBatch);
    const pairs = c.bhN * c.dN * c.mpN;
    const chunk = { L, n, S0: S[0], colBlocks, dBlocks, Mpc: c.mpN, Dc: c.dN, d0: c.d0, mp0: c.mp0, bh0: c.bh0, bhN: c.bhN };
    const words = { ...chunk, split: Math.ceil(Math.log2(n) / 2) };
    dispatch(pipes.first, words, { tw, data: scratch, phiK, v: buffers.v }, c.bhN * c.mpN * dBlocks * colBlocks);
    stridedLevels.slice(1).forEach((l, i) => strided(pipes.fwd[i], l, pairs, scratch));
    last(pipes.last, pairs, c.dN * c.mpN, c.bh0, scratch, G);
    stridedLevels
      .slice(1)
      .reverse()
      .forEach((l, i) => strided(pipes.inv[pipes.inv.length - 1 - i], l, pairs, scratch));
    const contract = { ...words, accumulate: c.mp0 > 0 ? 1 : 0 };
    dispatch(pipes.contract, contract, { tw, data: scratch, phiQ, numDen }, c.bhN * dBlocks * colBlocks);
  }

  // 4. z = num / (den + eps)
  dispatch(pipes.ratio, { total: BH * L * Dv, eps: s.eps }, { numDen, z: out.buffer }, Math.ceil((BH * L * Dv) / WG));
  run.submit();
  return out;
}
