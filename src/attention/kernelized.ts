/**
 * Kernelized attention with relative positional encoding (RPE), in
 * O(L log L) time and O(L) memory per channel:
 *
 *   z_i = sum_j c_{j-i} phi(q_i).phi(k_j) v_j / (sum_j c_{j-i} phi(q_i).phi(k_j) + eps),   c_o = exp(b_o)
 *
 * (causal: j <= i). The relative factor c_{j-i} makes the attention matrix
 * the elementwise product of a low-rank matrix and a Toeplitz matrix, so the
 * sums are Toeplitz products (`toeplitz.ts`) of the L rows of the outer
 * products phi(k_j) (x) v_j (M x Dv channels) and of phi(k_j) (M channels),
 * contracted with phi(q_i) afterwards:
 *
 *   numerator_i   = sum_m phi(q_i)_m [T (phi(K)_m v)]_i         T_ij = c_{j-i}
 *   denominator_i = sum_m phi(q_i)_m [T phi(K)_m]_i
 *
 * Both are done as one product by appending a column of ones to v. Without
 * RPE (c = 1), bidirectional attention is plain linear attention
 * phi(q_i).(sum_j phi(k_j) (x) v_j), O(L M Dv); causal attention uses the
 * Toeplitz product with an all-ones lower triangle.
 *
 * Numerics. exp(b) is evaluated as exp(b - max b) with the maximum over the
 * offsets in use of each head: the factor exp(-max b) multiplies numerator and
 * denominator alike and cancels (as the feature maps' stabilisers do, see
 * `featureMaps.ts`), so large biases cannot overflow. `eps` (default 0, the
 * formula as written) is added to the denominator after these stabilisers: a
 * guard against 0/0 (ReLU features can all vanish), not a calibrated term.
 *
 * Stability (Luo et al., section 3.3). The variance of the positive random
 * feature estimate of exp(q.k) grows exponentially with |q| and |k|, which
 * makes training of vanilla kernelized attention unstable; the paper
 * normalises queries and keys to unit length, which bounds that variance, and
 * relies on the RPE term, which is computed exactly and is not bounded, for
 * the expressiveness lost. `kernelizedRpeAttention` applies it as the
 * explicit option `qkNorm: "l2"`.
 *
 * Memory. The Toeplitz products are split by head and by block of features
 * and value channels so that no intermediate exceeds the memory budget
 * (`memoryBudget.ts`), and each chunk is contracted with phi(q) into the
 * (L, Dv) result: the (L, M, Dv) products never exist whole. jax-js runs a
 * call's operations only when a result is read, with all their buffers
 * allocated by then, so `kernelizedAttention` (differentiable, jit-able)
 * keeps every array within the device's limits but not its total memory;
 * `kernelizedAttentionInChunks` (async) waits for each chunk before building
 * the next, which bounds the peak to about one chunk.
 *
 * Every function consumes its array arguments (pass `x.ref` to keep x), also
 * when it throws; all but `kernelizedAttentionInChunks` are differentiable
 * and jit-able (shapes are static; no branch on values).
 *
 * Over 400 lines: the four entry points share one validation and one plan
 * of the chunks, which read best beside them.
 *
 * Reference: Luo et al., "Stable, Fast and Accurate: Kernelized Attention
 * with Relative Positional Encoding" (NeurIPS 2021), https://arxiv.org/abs/2106.12566
 */
import { type DType, numpy as np } from "@jax-js/jax";
import { constant } from "../core/constant.js";
import { describe, fail } from "../core/validate.js";
import { eluPlusOne, prf, relu } from "./featureMaps.js";
import { blocks, bytesPer, checkFits, type MemoryBudget, type MemoryOptions, memoryBudget } from "./memoryBudget.js";
import { applyCirculant, chunkBytes, circulantSpectrum, fftLength, maxChannels, toeplitzMatrix } from "./toeplitz.js";

export interface KernelizedOptions {
  /**
   * Relative bias b (H, 2L-1), b_{j-i} at index (j - i) + L - 1: a jax-js
   * array (differentiable) or plain numbers in that row-major order (checked
   * for NaN and infinities). Omitted: plain linear attention (c = 1).
   */
  rpe?: np.Array | ArrayLike<number>;
  /** Each position attends only to itself and earlier positions. */
  causal: boolean;
  /** Added to the denominator; default 0. */
  eps?: number;
  /** Size limits; see `memoryBudget.ts`. */
  memory?: MemoryOptions;
  /**
   * How the sums are evaluated: `"fft"` (default) by FFT Toeplitz products,
   * O(L log L); `"dense"` with the (L, L) matrix materialised, O(L^2), as
   * `kernelizedAttentionDense`; `"auto"` the one `kernelizedEvaluation`
   * picks (fewer intermediate floats). Equal up to float round-off.
   */
  evaluation?: "fft" | "dense" | "auto";
}

/**
 * Kernelized attention with RPE by FFT Toeplitz products (see the file comment):
 *
 *   z_i = sum_j exp(b_{j-i}) phiQ_i.phiK_j v_j / (sum_j exp(b_{j-i}) phiQ_i.phiK_j + eps)
 *
 * phiQ, phiK: (B, H, L, M) features; v: (B, H, L, Dv). Returns (B, H, L, Dv).
 * O(B H M Dv L log L) time. Consumes phiQ, phiK, v and an array `rpe`.
 * Differentiable and jit-able. jax-js 0.1.25 evaluates lazily and allocates
 * the buffers of every operation of a call (or of a jitted program) before
 * it runs any, so the chunks keep each array within the device's limits but
 * the call's peak memory is that of all chunks together (~8 B H M (Dv + 1) n
 * floats); `kernelizedAttentionInChunks` bounds it.
 *
 * Reference: Luo et al. (NeurIPS 2021), https://arxiv.org/abs/2106.12566, section 3.2.
 */
export function kernelizedAttention(phiQ: np.Array, phiK: np.Array, v: np.Array, opts: KernelizedOptions): np.Array {
  return attend("kernelizedAttention", phiQ, phiK, v, opts);
}

function attend(fn: string, phiQ: np.Array, phiK: np.Array, v: np.Array, opts: KernelizedOptions): np.Array {
  const evaluation = opts?.evaluation ?? "fft";
  if (evaluation !== "fft" && evaluation !== "dense" && evaluation !== "auto") {
    for (const a of [phiQ, phiK, v, opts.rpe]) if (isTraced(a)) a.dispose();
    fail(fn, `opts.evaluation must be "fft", "dense" or "auto", got ${describe(evaluation)}`);
  }
  const dense =
    evaluation === "dense" ||
    // malformed shapes go to the path that validates them and names what is wrong
    (evaluation === "auto" &&
      phiQ.ndim === 4 &&
      v.ndim === 4 &&
      phiQ.shape.every((d) => d >= 1) &&
      evaluationFor(fn, phiQ.shape, v.shape[3], phiQ.dtype, opts) === "dense");
  if (dense) return denseAttend(fn, phiQ, phiK, v, opts);
  const work = prepare(fn, phiQ, phiK, v, opts);
  if (!work.chunks) return work.result;
  let step = work.chunks.next();
  while (!step.done) step = work.chunks.next();
  return step.value;
}

/**
 * `kernelizedAttention` evaluated chunk by chunk: it waits for each chunk of
 * heads and channels to be computed before it builds the next, so at most
 * one chunk's intermediates (a few arrays of `memory.chunkBytes`) are alive
 * besides the inputs and the output, whatever L is. Not differentiable and
 * not jit-able (it awaits between chunks): for inference on long sequences.
 * Same arguments, result and consumption as `kernelizedAttention`.
 *
 * Reference: Luo et al. (NeurIPS 2021), https://arxiv.org/abs/2106.12566, section 3.2.
 */
export async function kernelizedAttentionInChunks(phiQ: np.Array, phiK: np.Array, v: np.Array, opts: KernelizedOptions): Promise<np.Array> {
  const work = prepare("kernelizedAttentionInChunks", phiQ, phiK, v, opts);
  if (!work.chunks) return work.result;
  let step = work.chunks.next();
  while (!step.done) {
    await step.value.blockUntilReady();
    step = work.chunks.next();
  }
  return step.value;
}

type Work = { chunks: null; result: np.Array } | { chunks: Generator<np.Array, np.Array, void>; result: null };

/** Validates, then either computes directly (linear attention) or returns the generator of FFT chunks. */
function prepare(fn: string, phiQ: np.Array, phiK: np.Array, v: np.Array, opts: KernelizedOptions): Work {
  const fft = opts?.rpe !== undefined || opts?.causal === true;
  const io = checkInputs(fn, phiQ, phiK, v, opts, fft);
  const { B, H, L, M, Dv, dtype } = io;
  let plan: KernelizedPlan | null = null;
  try {
    if (fft) plan = planKernelized(fn, B, H, L, M, Dv, dtype, io.budget);
  } catch (err) {
    for (const a of [phiQ, phiK, v, io.rpe]) a?.dispose();
    throw err;
  }
  const vAug = np.concatenate([v, np.ones([B, H, L, 1], { dtype })], -1); // (B, H, L, Dv + 1)
  if (!plan) {
    // c = 1: linear attention, kv = phiK^T [v 1]
    const kv = np.matmul(np.transpose(phiK, [0, 1, 3, 2]), vAug); // (B, H, M, Dv + 1)
    return { chunks: null, result: ratio(np.matmul(phiQ, kv), Dv, io.eps) }; // (B, H, L, Dv)
  }
  return { chunks: fftChunks(io, plan, phiQ, phiK, vAug, opts.causal), result: null };
}

/**
 * The Toeplitz products chunk by chunk; yields each chunk's partial result
 * (so that a caller may wait for it) and returns z. Consumes the arrays.
 */
function* fftChunks(
  io: CheckedInputs,
  plan: KernelizedPlan,
  phiQ: np.Array,
  phiK: np.Array,
  vAug: np.Array,
  causal: boolean,
): Generator<np.Array, np.Array, void> {
  const { B, L, Dv, dtype } = io;
  const n = fftLength(L);
  const c = io.rpe ? relativeFactor(io.rpe, L, causal) : np.ones([1, 2 * L - 1], { dtype }); // (H or 1, 2L-1)
  const spec = circulantSpectrum(c, L, n, causal); // (H or 1, n)
  const shared = spec.real.shape[0] === 1;
  const heads: np.Array[] = [];
  for (const [h0, h1] of plan.heads) {
    const hb = h1 - h0;
    const real = shared ? spec.real.ref : spec.real.ref.slice([h0, h1]);
    const imag = shared ? spec.imag.ref : spec.imag.ref.slice([h0, h1]);
    const columns: np.Array[] = [];
    for (const [d0, d1] of plan.values) {
      const db = d1 - d0;
      let acc: np.Array | null = null;
      for (const [m0, m1] of plan.features) {
        const mb = m1 - m0;
        const k = phiK.ref.slice([], [h0, h1], [], [m0, m1]).reshape([B, hb, L, mb, 1]);
        const vv = vAug.ref.slice([], [h0, h1], [], [d0, d1]).reshape([B, hb, L, 1, db]);
        const outer = np.multiply(k, vv).reshape([B, hb, L, mb * db]); // phiK_j (x) v_j
        const Y = applyCirculant(real.ref, imag.ref, outer, n).reshape([B, hb, L, mb, db]); // T (phiK (x) v)
        const q = phiQ.ref.slice([], [h0, h1], [], [m0, m1]).reshape([B, hb, L, mb, 1]);
        const part = np.sum(np.multiply(q, Y), 3); // (B, hb, L, db)
        acc = acc ? np.add(acc, part) : part;
        yield acc;
      }
      columns.push(acc as np.Array);
    }
    real.dispose();
    imag.dispose();
    heads.push(columns.length === 1 ? columns[0] : np.concatenate(columns, -1)); // (B, hb, L, Dv + 1)
  }
  spec.real.dispose();
  spec.imag.dispose();
  phiQ.dispose();
  phiK.dispose();
  vAug.dispose();
  return ratio(heads.length === 1 ? heads[0] : np.concatenate(heads, 1), Dv, io.eps);
}

/**
 * The same attention with the (L, L) matrix materialised, O(B H L^2 (M + Dv)):
 *
 *   A_ij = phiQ_i.phiK_j exp(b_{j-i}) [j <= i if causal],   z_i = sum_j A_ij v_j / (sum_j A_ij + eps)
 *
 * The cheaper form for short sequences (`kernelizedEvaluation`), and the
 * reference the FFT path is checked against. Same arguments, result and
 * consumption as `kernelizedAttention`.
 *
 * Reference: Luo et al. (NeurIPS 2021), https://arxiv.org/abs/2106.12566, section 2.3.
 */
export function kernelizedAttentionDense(phiQ: np.Array, phiK: np.Array, v: np.Array, opts: KernelizedOptions): np.Array {
  return denseAttend("kernelizedAttentionDense", phiQ, phiK, v, opts);
}

/**
 * The evaluation `evaluation: "auto"` takes for (B, H, L, M) features and Dv
 * value channels: `"dense"` when the (L, L) attention matrix holds fewer
 * floats than the FFT products of the same heads, 2 M (Dv + 1) n for an FFT
 * of length n (complex), and fits one buffer of the budget; `"fft"`
 * otherwise, and for bidirectional attention without RPE (linear attention,
 * O(L M Dv), cheaper than both). At M = 32 and Dv = 16 that is dense up to
 * L = 2048. The dense form is also far faster where it is chosen: on wasm,
 * forward and backward of (32, 8, 128, 32) features with Dv = 16 take 189 ms
 * dense against 22.7 s by FFT (docs/KERNELIZED.md, "Dense or FFT").
 */
export function kernelizedEvaluation(
  featureShape: number[],
  Dv: number,
  dtype: DType,
  opts: Pick<KernelizedOptions, "causal" | "rpe" | "memory">,
): "fft" | "dense" {
  const fn = "kernelizedEvaluation";
  if (!Array.isArray(featureShape) || featureShape.length !== 4 || !featureShape.every((d) => Number.isInteger(d) && d >= 1))
    fail(fn, `featureShape must be (B, H, L, M), four integers >= 1, got ${describe(featureShape)}`);
  if (!Number.isInteger(Dv) || Dv < 1) fail(fn, `Dv must be an integer >= 1, got ${describe(Dv)}`);
  if (dtype !== "float16" && dtype !== "float32" && dtype !== "float64") fail(fn, `dtype must be a float dtype, got ${describe(dtype)}`);
  if (typeof opts?.causal !== "boolean") fail(fn, `opts.causal must be true or false, got ${describe(opts?.causal)}`);
  return evaluationFor(fn, featureShape, Dv, dtype, opts);
}

function evaluationFor(
  fn: string,
  [B, H, L, M]: number[],
  Dv: number,
  dtype: DType,
  opts: Pick<KernelizedOptions, "causal" | "rpe" | "memory">,
): "fft" | "dense" {
  if (!opts.causal && opts.rpe === undefined) return "fft";
  const budget = memoryBudget(fn, opts.memory);
  const fits = B * H * L * L * bytesPer(dtype) <= budget.maxBufferBytes;
  return fits && L * L < 2 * M * (Dv + 1) * fftLength(L) ? "dense" : "fft";
}

function denseAttend(fn: string, phiQ: np.Array, phiK: np.Array, v: np.Array, opts: KernelizedOptions): np.Array {
  const io = checkInputs(fn, phiQ, phiK, v, opts, false);
  const { B, H, L, Dv, dtype } = io;
  try {
    checkFits(fn, "the attention matrix", [B, H, L, L], dtype, io.budget);
  } catch (err) {
    for (const a of [phiQ, phiK, v, io.rpe]) a?.dispose();
    throw err;
  }
  const vAug = np.concatenate([v, np.ones([B, H, L, 1], { dtype })], -1); // (B, H, L, Dv + 1)
  let A = np.matmul(phiQ, np.transpose(phiK, [0, 1, 3, 2])); // (B, H, L, L)
  if (io.rpe || opts.causal) {
    const c = io.rpe ? relativeFactor(io.rpe, L, opts.causal) : np.ones([1, 2 * L - 1], { dtype });
    const T = toeplitzMatrix(c, { causal: opts.causal }); // (H or 1, L, L)
    A = np.multiply(A, T.reshape([1, T.shape[0], L, L]));
  }
  return ratio(np.matmul(A, vAug), Dv, io.eps);
}

/** Feature map of `kernelizedRpeAttention`, a discriminated union on `kind`. */
export type FeatureSpec =
  | { kind: "prf"; projection: np.Array; inputScale: "softmax" | "none" }
  | { kind: "relu"; projection: np.Array }
  | { kind: "eluPlusOne" };

export interface KernelizedRpeOptions extends KernelizedOptions {
  /** The feature map phi; a projection (M, D) is consumed. */
  features: FeatureSpec;
  /**
   * Luo et al.'s stabilisation: `"l2"` scales every query and key to unit
   * length before the feature map (bounding the variance of the random
   * feature estimate; the RPE carries the expressiveness), `"none"` leaves them.
   */
  qkNorm: "l2" | "none";
}

/**
 * Kernelized RPE attention from queries and keys: optional l2 normalisation
 * (`qkNorm`), the feature map (`features`: PRF with query/key stabilisers,
 * ReLU, or elu + 1), then `kernelizedAttention`:
 *
 *   z_i = sum_j exp(b_{j-i}) phi(q_i).phi(k_j) v_j / (sum_j exp(b_{j-i}) phi(q_i).phi(k_j) + eps)
 *
 * q, k: (B, H, L, D); v: (B, H, L, Dv). Returns (B, H, L, Dv). Consumes q, k,
 * v, the projection and an array `rpe`.
 *
 * Reference: Luo et al. (NeurIPS 2021), https://arxiv.org/abs/2106.12566,
 * sections 3.2-3.3; Choromanski et al. (ICLR 2021), https://arxiv.org/abs/2009.14794.
 */
export function kernelizedRpeAttention(q: np.Array, k: np.Array, v: np.Array, opts: KernelizedRpeOptions): np.Array {
  const fn = "kernelizedRpeAttention";
  const spec = opts?.features;
  const projection = spec && spec.kind !== "eluPlusOne" ? spec.projection : undefined;
  const problem =
    q.ndim !== 4 || k.ndim !== 4 || q.shape.some((s, i) => s !== k.shape[i])
      ? `q and k must both be (B, H, L, D), got q (${q.shape.join(", ")}) and k (${k.shape.join(", ")})`
      : opts?.qkNorm !== "l2" && opts?.qkNorm !== "none"
        ? `opts.qkNorm must be "l2" or "none", got ${describe(opts?.qkNorm)}`
        : !spec || (spec.kind !== "prf" && spec.kind !== "relu" && spec.kind !== "eluPlusOne")
          ? `opts.features.kind must be "prf", "relu" or "eluPlusOne", got ${describe((spec as { kind?: unknown } | undefined)?.kind)}`
          : projection && (projection.ndim !== 2 || projection.shape[1] !== q.shape[3] || projection.dtype !== q.dtype)
            ? `opts.features.projection must be (M, D) = (M, ${q.shape[3]}) ${q.dtype}, got (${projection.shape.join(", ")}) ${projection.dtype}`
            : null;
  if (problem) {
    for (const a of [q, k, v, projection, opts?.rpe]) if (isTraced(a)) a.dispose();
    fail(fn, problem);
  }
  const qn = opts.qkNorm === "l2" ? unitRows(q) : q;
  const kn = opts.qkNorm === "l2" ? unitRows(k) : k;
  let phiQ: np.Array;
  let phiK: np.Array;
  switch (spec.kind) {
    case "prf":
      phiQ = prf(qn, spec.projection.ref, { role: "query", inputScale: spec.inputScale });
      phiK = prf(kn, spec.projection, { role: "key", inputScale: spec.inputScale });
      break;
    case "relu":
      phiQ = relu(qn, spec.projection.ref);
      phiK = relu(kn, spec.projection);
      break;
    case "eluPlusOne":
      phiQ = eluPlusOne(qn);
      phiK = eluPlusOne(kn);
      break;
    default:
      spec satisfies never;
      throw new Error(`${fn}: unhandled feature map`);
  }
  return attend(fn, phiQ, phiK, v, opts);
}

/** Chunks of a `kernelizedAttention` call: head blocks, feature blocks and value-channel blocks (Dv + 1 with the denominator). */
export interface KernelizedPlan {
  heads: Array<[number, number]>;
  features: Array<[number, number]>;
  values: Array<[number, number]>;
}

/**
 * How `kernelizedAttention` splits (B, H, L, M) features and (B, H, L, Dv)
 * values under `budget`: whole heads while they fit, else blocks of features
 * (all Dv + 1 value channels), else single features and blocks of value
 * channels, so that no chunk's largest array, B max(C L, ceil(C/2) n)
 * elements for C channels, exceeds `budget.chunkBytes`.
 *
 * Reference: docs/KERNELIZED.md, "Chunks and memory".
 */
export function planKernelized(
  fn: string,
  B: number,
  H: number,
  L: number,
  M: number,
  Dv: number,
  dtype: DType,
  budget: MemoryBudget,
): KernelizedPlan {
  const n = fftLength(L);
  const V = Dv + 1;
  const perHead = chunkBytes(B, 1, M * V, L, n, dtype);
  const all = { features: [[0, M]] as Array<[number, number]>, values: [[0, V]] as Array<[number, number]> };
  if (perHead * H <= budget.chunkBytes) return { heads: [[0, H]], ...all };
  if (perHead <= budget.chunkBytes) return { heads: blocks(H, Math.floor(budget.chunkBytes / perHead)), ...all };
  const channels = maxChannels(fn, B, L, n, dtype, budget);
  if (channels >= V) return { heads: blocks(H, 1), features: blocks(M, Math.floor(channels / V)), values: [[0, V]] };
  return { heads: blocks(H, 1), features: blocks(M, 1), values: blocks(V, channels) };
}

interface CheckedInputs {
  B: number;
  H: number;
  L: number;
  M: number;
  Dv: number;
  dtype: DType;
  rpe: np.Array | undefined;
  eps: number;
  budget: MemoryBudget;
}

function checkInputs(fn: string, phiQ: np.Array, phiK: np.Array, v: np.Array, opts: KernelizedOptions, fft: boolean): CheckedInputs {
  const rpeArray = isTraced(opts?.rpe) ? opts.rpe : undefined;
  try {
    if (typeof opts?.causal !== "boolean") fail(fn, `opts.causal must be true or false, got ${describe(opts?.causal)}`);
    if (phiQ.ndim !== 4) fail(fn, `phiQ must be (B, H, L, M), got (${phiQ.shape.join(", ")})`);
    const [B, H, L, M] = phiQ.shape;
    if (phiK.ndim !== 4 || phiK.shape.some((s, i) => s !== phiQ.shape[i])) {
      fail(fn, `phiQ and phiK must both be (B, H, L, M), got phiQ (${phiQ.shape.join(", ")}) and phiK (${phiK.shape.join(", ")})`);
    }
    if (v.ndim !== 4 || v.shape[0] !== B || v.shape[1] !== H || v.shape[2] !== L) {
      fail(fn, `v must be (B, H, L, Dv) = (${B}, ${H}, ${L}, Dv), got (${v.shape.join(", ")})`);
    }
    const Dv = v.shape[3];
    if (L < 1 || M < 1 || Dv < 1) fail(fn, `L, M and Dv must be >= 1, got L=${L}, M=${M}, Dv=${Dv}`);
    const dtype = phiQ.dtype;
    if (dtype !== "float16" && dtype !== "float32" && dtype !== "float64") fail(fn, `phiQ must be a float array, got dtype ${dtype}`);
    if (phiK.dtype !== dtype || v.dtype !== dtype) {
      fail(fn, `phiQ, phiK and v must have the same dtype, got ${phiQ.dtype}, ${phiK.dtype} and ${v.dtype}`);
    }
    const eps = opts.eps ?? 0;
    if (typeof eps !== "number" || !Number.isFinite(eps) || eps < 0)
      fail(fn, `opts.eps must be a finite number >= 0, got ${describe(eps)}`);
    const budget = memoryBudget(fn, opts.memory);
    checkFits(fn, "the output with its denominator", [B, H, L, Dv + 1], dtype, budget);
    if (fft) checkFits(fn, "the circulant spectrum", [H, fftLength(L)], dtype, budget);
    let rpe: np.Array | undefined;
    if (rpeArray) {
      if (rpeArray.ndim !== 2 || rpeArray.shape[0] !== H || rpeArray.shape[1] !== 2 * L - 1) {
        fail(fn, `rpe must be (H, 2L-1) = (${H}, ${2 * L - 1}), got (${rpeArray.shape.join(", ")})`);
      }
      if (rpeArray.dtype !== dtype) fail(fn, `rpe must have the dtype of phiQ (${dtype}), got ${rpeArray.dtype}`);
      rpe = rpeArray;
    } else if (opts.rpe !== undefined) {
      const values = opts.rpe as ArrayLike<number>;
      if (typeof values.length !== "number" || values.length !== H * (2 * L - 1)) {
        fail(fn, `rpe must be (H, 2L-1) = (${H}, ${2 * L - 1}) = ${H * (2 * L - 1)} values, got ${describe(values.length)}`);
      }
      for (let i = 0; i < values.length; i++) {
        if (!Number.isFinite(values[i])) {
          const h = Math.floor(i / (2 * L - 1));
          fail(
            fn,
            `rpe[${h}][${i - h * (2 * L - 1)}] (head ${h}, offset j-i = ${i - h * (2 * L - 1) - (L - 1)}) must be finite, got ${describe(values[i])}`,
          );
        }
      }
      rpe = constant(values, dtype).reshape([H, 2 * L - 1]);
    }
    return { B, H, L, M, Dv, dtype, rpe, eps, budget };
  } catch (err) {
    for (const a of [phiQ, phiK, v, rpeArray]) a?.dispose();
    throw err;
  }
}

/** A jax-js array or a tracer standing for one inside `jit`/`grad` (those are not `np.Array` instances). */
function isTraced(x: unknown): x is np.Array {
  return typeof x === "object" && x !== null && typeof (x as np.Array).dispose === "function" && Array.isArray((x as np.Array).shape);
}

/** c = exp(b - max b), the maximum per head over the offsets in use (j <= i when causal). Consumes b. */
function relativeFactor(b: np.Array, L: number, causal: boolean): np.Array {
  const used = causal ? b.ref.slice([], [0, L]) : b.ref;
  return np.exp(np.subtract(b, np.max(used, -1, { keepdims: true }))); // (H, 2L-1)
}

/** (..., Dv + 1) [numerator, denominator] -> numerator / (denominator + eps). Consumes out. */
function ratio(out: np.Array, Dv: number, eps: number): np.Array {
  const lead = out.shape.slice(0, -1).map(() => [] as []);
  const num = out.ref.slice(...lead, [0, Dv]);
  const den = out.slice(...lead, [Dv, Dv + 1]);
  return np.divide(num, eps === 0 ? den : np.add(den, eps));
}

/** x / |x| over the last axis (|x| floored at 1e-30 so that a zero row stays zero). Consumes x. */
function unitRows(x: np.Array): np.Array {
  const norm = np.sqrt(np.sum(np.square(x.ref), -1, { keepdims: true }));
  return np.divide(x, np.maximum(norm, 1e-30));
}
