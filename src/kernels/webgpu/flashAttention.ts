/**
 * Fused softmax attention with positional encodings on WebGPU, float32: the
 * forward pass of `attention` (attention/attention.ts) in one kernel, tiled
 * with an online softmax so that no (L, S) matrix is ever stored.
 *
 *   logits_ij = scale q~_i . k~_j + bias_h(p_i, p_j)      q~, k~: q, k rotated (RoPE)
 *   logits_ij = visible(i, j) ? logits_ij : lowest float32
 *   out_i     = sum_j softmax_j(logits_i) v_j
 *
 * Shapes as the composite: q (B, H, L, D), k (B, Hkv, S, D), v (B, Hkv, S, Dv)
 * with H a multiple of Hkv (grouped-query), query i at index queryOffset + i
 * (default S - L), key j at index j; masks compare indices (causal: j <= t,
 * window [left, right]: t - left <= j <= t + right, cross-shaped-window
 * stripes: t and j in the same band of grid rows or columns), positional encodings use
 * positions (default the indices, or given as JS numbers).
 *
 * Positional terms with the composite's float32 steps: ALiBi -m_h |p_j - p_i|;
 * the learned table b[h, clip(p_j - p_i, -R, R) + R]; T5 buckets (bucket index
 * in float32 as transformers and pe/t5.ts, then table[bucket, h]); KERPLE log
 * -r1 log1p(r2 d) (log1p as jax-js evaluates it) and power -r1 d^r2, all
 * computed per logit inside the kernel; RoPE ("halves" or "interleaved",
 * partial rotary, the last `heads` heads, attention factor, fixed inverse
 * frequencies or a Hugging Face config) applied to q and k by a first pass
 * into temporary buffers, each element once. Not supported (refused with an
 * error): FIRE, the dynamic MLP bias, CoPE, xPos, padding masks and positions
 * given as jax-js arrays.
 *
 * Tiling (FlashAttention-2 forward): one workgroup of 256 invocations (16 x 16)
 * per (batch, head, block of BQ = 64 queries; 32 or 16 when the device has less
 * than 32 KiB of workgroup memory), looping over tiles of BK = 64 keys. Per key
 * tile:
 *
 *   1. S = Q K^T (BQ x BK): q and k are staged in workgroup memory as vec4 in
 *      chunks of up to 32 dimensions (rows XOR-swizzled against bank
 *      conflicts); invocation (ty, tx) accumulates a register tile of BQ/16
 *      queries (ty + 16a) by the 4 consecutive keys 4tx .. 4tx + 3.
 *   2. scale, positional bias and mask in registers; the row maxima of the tile
 *      are reduced through workgroup memory; P = exp(S - m_new) is stored in
 *      workgroup memory and the running sums (one partial per invocation,
 *      added up at the end) and outputs are rescaled by exp(m_old - m_new).
 *   3. O += P V: v is staged in chunks of `keyBlock` keys; invocation (ty, tx)
 *      keeps a register tile of BQ/16 queries by the vec4 columns tx + 16n of Dv.
 *
 * Each invocation loads the next chunk of q and k (or of v) from global memory
 * into registers while it computes on the current one (software pipelining).
 *
 * Key tiles that no query of the block can see (causal, window, horizontal
 * stripes) are skipped,
 * except when some query sees no key at all: the composite then averages all
 * values (every logit is the lowest float32), and so does the kernel by
 * visiting every tile. Blocks are launched last query block first, so that
 * the longest causal blocks start first.
 *
 * Interop: q, k, v and the encoding's arrays are jax-js float32 arrays on
 * WebGPU, read through `gpuBuffer()` (never written) and consumed, as the
 * composite consumes them; the result is a new float32 `GpuTensor` owned by
 * the caller (`toJaxArray` moves it into jax-js by a copy on the GPU).
 * float16 storage: q, k, v may all be float16 where the adapter has
 * `shader-f16` (not with RoPE); they are widened to f32 as they are read
 * (exactly), every sum is in f32, and the output is float32, so the result
 * equals the float32 kernel's on the same values.
 * Compiled pipelines are cached per (D, Dv, tiling, bias kind, stripes,
 * storage), and the RoPE pass per (D, rotated dimensions, pairing).
 *
 * For training, `flashAttentionWithStats` writes the output into a fresh
 * jax-js array and keeps each row's softmax statistics (m, l), from which
 * `flashAttentionBackward` (flashBackward.ts) recomputes P; `prepareFlash`,
 * `rotation`, `rotated` and `biasArguments` are shared with it.
 *
 * This file holds the entry, its validation and the dispatch; the plan of
 * the encoding and the tiling are in flashPlan.ts, the WGSL in flashShader.ts.
 *
 * Reference: Dao, FlashAttention-2, https://arxiv.org/abs/2307.08691;
 * Dao et al., FlashAttention, https://arxiv.org/abs/2205.14135;
 * Milakov & Gimelshein, online softmax, https://arxiv.org/abs/1805.02867.
 */
import { getWebGPUDevice, numpy as np } from "@jax-js/jax";
import { resolveWindow } from "../../attention/attention.js";
import { isArray } from "../../attention/positions.js";
import { type AttentionPE, checkPE, peArrays } from "../../attention/spec.js";
import { type QkvShape, qkvShape } from "../../core/shapes.js";
import { fail } from "../../core/validate.js";
import { chooseTiling, type Plan, planPE } from "./flashPlan.js";
import { flashProgram } from "./flashShader.js";
import { checkBufferSize, freshJaxArray, GpuTensor, type KernelLimits, resolveLimits, storageBuffer } from "./gpuTensor.js";
import { consuming, Dispatcher, type Kernel, PipelineCache } from "./program.js";
import { ROTATE_THREADS, rotateProgram, rotateTablesProgram } from "./rotateShader.js";

export interface FlashAttentionOptions {
  /** Logit scale; default 1/sqrt(D). */
  scale?: number;
  /** Key j is visible to query i only if j <= queryOffset + i. */
  causal?: boolean;
  /** Keys visible to query index t: t - left <= j <= t + right (a number w means [w - 1, 0] with causal, [w, w] without). */
  window?: number | [number, number];
  /** Positional encoding; default none. */
  pe?: AttentionPE;
  /** Index of the first query (KV-cache decoding); default S - L. */
  queryOffset?: number;
  /** Query positions for the PE (default queryOffset + i). */
  queryPositions?: ArrayLike<number>;
  /** Key positions for the PE (default j). */
  keyPositions?: ArrayLike<number>;
  /**
   * Cross-shaped-window stripes (CSWin): queries and keys are the L = S tokens
   * of a row-major grid [height, width]; token j is visible to token t only if
   * both lie in the same stripe of `width` grid rows (axis "rows": horizontal
   * stripes) or grid columns (axis "columns": vertical stripes). A last stripe
   * narrower than `width` (grid not divisible) holds the remaining rows or
   * columns, as the composite's padding with masked keys does. Combines with
   * the other masks.
   */
  stripes?: { grid: [number, number]; width: number; axis: "rows" | "columns" };
  /** Keys of v staged in workgroup memory at a time: a power of two in [4, 64] (default the most that fit). */
  keyBlock?: number;
  /** Lower limits than the device's (for tests): buffer sizes, and the workgroup memory that picks the query block. */
  limits?: KernelLimits & { maxComputeWorkgroupStorageSize?: number };
}

const FN = "flashAttention";
/** Queries per workgroup on devices with at least 32 KiB of workgroup memory (32 or 16 below). */
export const QUERY_BLOCK = 64;
/** Largest head dimensions (D and Dv). */
export const MAX_HEAD_DIM = 256;
const UNBOUNDED = 1 << 30;

const pipelines = new PipelineCache();

/**
 * Fused softmax attention with positional encodings (module header: formula,
 * tiling, supported encodings); returns out (B, H, L, Dv) as a float32
 * `GpuTensor`. Consumes q, k, v and the encoding's arrays.
 *
 *   out = softmax(scale q~ k~^T + bias, masked) v
 *
 * Reference: Dao, FlashAttention-2, https://arxiv.org/abs/2307.08691.
 */
export async function flashAttention(q: np.Array, k: np.Array, v: np.Array, options: FlashAttentionOptions = {}): Promise<GpuTensor> {
  const pe = options.pe ?? { type: "none" };
  return consuming([q, k, v, ...peArrays(pe)], async () => {
    const call = prepareFlash(FN, q, k, v, options, pe);
    const { B, H, L, Dv } = call;
    const out = new GpuTensor([B, H, L, Dv], storageBuffer(getWebGPUDevice(), B * H * L * Dv * 4));
    try {
      await launch(q, k, v, call, out.buffer, undefined, options.keyBlock);
    } catch (e) {
      out.dispose();
      throw e;
    }
    return out;
  });
}

/**
 * Fused attention that also keeps what its backward pass needs (`flashAttentionBackward`): out (B, H, L, Dv)
 * as a jax-js float32 array, written on the GPU into a fresh array (no readback), and each row's softmax
 * statistics (m, l) as a (B, H, L, 2) `GpuTensor` owned by the caller. Consumes q, k, v and the encoding's arrays.
 */
export async function flashAttentionWithStats(
  q: np.Array,
  k: np.Array,
  v: np.Array,
  options: FlashAttentionOptions = {},
): Promise<{ out: np.Array; stats: GpuTensor }> {
  const pe = options.pe ?? { type: "none" };
  return consuming([q, k, v, ...peArrays(pe)], async () => {
    const call = prepareFlash(FN, q, k, v, options, pe);
    const { B, H, L, Dv } = call;
    const out = await freshJaxArray([B, H, L, Dv]);
    const stats = new GpuTensor([B, H, L, 2], storageBuffer(getWebGPUDevice(), B * H * L * 8));
    try {
      await launch(q, k, v, call, out.buffer, stats.buffer);
    } catch (e) {
      out.array.dispose();
      stats.dispose();
      throw e;
    }
    return { out: out.array, stats };
  });
}

/** A validated call of the fused kernels (forward and backward): sizes, masks, positions, the encoding's plan, the limits. */
export interface FlashCall extends QkvShape {
  queryOffset: number;
  causal: boolean;
  /** Window bounds, UNBOUNDED when absent. */
  left: number;
  right: number;
  scale: number;
  stripes: FlashAttentionOptions["stripes"];
  qpos: Float32Array;
  kpos: Float32Array;
  plan: Plan;
  half: boolean;
  limits: Required<KernelLimits>;
  /** Workgroup memory the kernels may use. */
  workgroupBytes: number;
}

/** Validates a call (throws `fn: ...` naming the argument) and plans its encoding; dispatches nothing. */
export function prepareFlash(
  fn: string,
  q: np.Array,
  k: np.Array,
  v: np.Array,
  options: FlashAttentionOptions,
  pe: AttentionPE,
): FlashCall {
  const abort = (message: string): never => fail(fn, message);
  const shp = (x: np.Array) => `(${x.shape.join(", ")})`;
  const shapes = () => `q=${shp(q)}, k=${shp(k)}, v=${shp(v)}`;
  const { B, H, L, D, Hkv, S, Dv } = qkvShape(q, k, v, true, abort);
  checkPE(fn, options.pe, { heads: H, kvHeads: Hkv, headDim: D, queries: L, keys: S });
  for (const [name, x] of [
    ["q", q],
    ["k", k],
    ["v", v],
  ] as const) {
    if (x.dtype !== np.float32 && x.dtype !== np.float16) abort(`${name} must be float32 or float16, got ${x.dtype} (${shapes()})`);
    if (x.device !== "webgpu") abort(`${name} must be on the webgpu device, got ${x.device} (${shapes()})`);
  }
  // float16 storage: q, k, v read as f16 and widened to f32, every sum in f32, the output f32
  const half = q.dtype === np.float16;
  if (k.dtype !== q.dtype || v.dtype !== q.dtype)
    abort(`q, k and v must share one dtype, got ${q.dtype}, ${k.dtype}, ${v.dtype} (${shapes()})`);
  if (half && !getWebGPUDevice().features.has("shader-f16"))
    abort("float16 q, k, v need the adapter's shader-f16 feature, which this device lacks; pass float32");
  if (half && pe.type === "rotary") abort("RoPE with float16 storage is not supported by the fused kernel; pass float32 q, k, v");
  if (B < 1 || H < 1 || L < 1 || S < 1) abort(`B, H, L and S must be >= 1, got ${shapes()}`);
  if (D < 1 || D > MAX_HEAD_DIM || Dv < 1 || Dv > MAX_HEAD_DIM)
    abort(`head dimensions D = ${D} and Dv = ${Dv} must be in [1, ${MAX_HEAD_DIM}] (${shapes()})`);
  const queryOffset = options.queryOffset ?? S - L;
  if (!Number.isInteger(queryOffset) || queryOffset < 0 || queryOffset >= UNBOUNDED) {
    abort(`options.queryOffset must be an integer >= 0, got ${queryOffset} (${shapes()})`);
  }
  if ((options as { paddingMask?: unknown }).paddingMask !== undefined)
    abort("padding masks are not supported by the fused kernel; use attention()");
  const causal = options.causal ?? false;
  const window = resolveWindow(options.window, causal, abort);
  const left = window ? Math.min(window[0], UNBOUNDED) : UNBOUNDED;
  const right = causal ? 0 : window ? Math.min(window[1], UNBOUNDED) : UNBOUNDED;
  const scale = options.scale ?? 1 / Math.sqrt(D);
  if (!Number.isFinite(scale)) abort(`options.scale must be finite, got ${scale}`);
  const stripes = options.stripes;
  if (stripes !== undefined) {
    const [gh, gw] = Array.isArray(stripes.grid) ? stripes.grid : [NaN, NaN];
    if (!Number.isInteger(gh) || !Number.isInteger(gw) || gh < 1 || gw < 1 || gh * gw !== L || S !== L || queryOffset !== 0) {
      abort(
        `options.stripes.grid must be [height, width] with height * width = L = S and queryOffset 0, got grid ${JSON.stringify(stripes.grid)}, queryOffset ${queryOffset} (${shapes()})`,
      );
    }
    if (stripes.axis !== "rows" && stripes.axis !== "columns")
      abort(`options.stripes.axis must be "rows" or "columns", got ${JSON.stringify(stripes.axis)}`);
    const extent = stripes.axis === "rows" ? gh : gw;
    if (!Number.isInteger(stripes.width) || stripes.width < 1 || stripes.width > extent) {
      abort(`options.stripes.width must be an integer in [1, ${extent}] (the grid's ${stripes.axis}), got ${stripes.width}`);
    }
  }
  const qpos = positions(options.queryPositions, "options.queryPositions", L, queryOffset, abort);
  const kpos = positions(options.keyPositions, "options.keyPositions", S, 0, abort);
  const plan = planPE(pe, H, Hkv, D, options.queryPositions ?? qpos, abort);
  const device = getWebGPUDevice();
  const limits = resolveLimits(device, options.limits);
  const workgroupBytes = Math.min(device.limits.maxComputeWorkgroupStorageSize, options.limits?.maxComputeWorkgroupStorageSize ?? Infinity);
  const maxGroups = device.limits.maxComputeWorkgroupsPerDimension;
  if (H > maxGroups || B > maxGroups) abort(`B = ${B} and H = ${H} must be at most the device's ${maxGroups} workgroups per dimension`);
  const bytes = half ? 2 : 4;
  checkBufferSize(fn, `q ${shp(q)} ${q.dtype}`, q.size * bytes, limits);
  checkBufferSize(fn, `k ${shp(k)} ${k.dtype}`, k.size * bytes, limits);
  checkBufferSize(fn, `v ${shp(v)} ${v.dtype}`, v.size * bytes, limits);
  checkBufferSize(fn, `output (${B}, ${H}, ${L}, ${Dv}) float32`, B * H * L * Dv * 4, limits);
  for (const e of plan.extras) {
    const n = e instanceof Float32Array ? e.length : e.size;
    checkBufferSize(fn, `positional-encoding array of ${n} floats`, n * 4, limits);
  }
  return { B, H, L, D, Hkv, S, Dv, queryOffset, causal, left, right, scale, stripes, qpos, kpos, plan, half, limits, workgroupBytes };
}

/** Compiles and dispatches the forward of a prepared call into `o` (and the statistics into `st`). */
async function launch(
  q: np.Array,
  k: np.Array,
  v: np.Array,
  call: FlashCall,
  o: GPUBuffer,
  st?: GPUBuffer,
  keyBlock?: number,
): Promise<void> {
  const { D, Dv, H, B, L, S, plan, stripes, half, workgroupBytes } = call;
  const abort = (message: string): never => fail(FN, message);
  const tiling =
    chooseTiling(D, Dv, workgroupBytes) ?? abort(`no tiling of D = ${D}, Dv = ${Dv} fits ${workgroupBytes} bytes of workgroup memory`);
  const JC = keyBlock ?? tiling.maxJC;
  if (!Number.isInteger(Math.log2(JC)) || JC < 4 || JC > tiling.maxJC) {
    abort(
      `options.keyBlock must be a power of two in [4, ${tiling.maxJC}] (workgroup memory ${workgroupBytes} bytes for D = ${D}, Dv = ${Dv}), got ${JC}`,
    );
  }
  const qTiles = Math.ceil(L / tiling.BQ);
  const device = getWebGPUDevice();
  const maxGroups = device.limits.maxComputeWorkgroupsPerDimension;
  if (qTiles > maxGroups) abort(`grid (${qTiles}, ${H}, ${B}) workgroups exceeds the device's ${maxGroups} per dimension`);
  // RoPE happens in its own pass: the attention kernel is the one without an encoding
  const stat = st ? ":stats" : "";
  const key = `${D}:${Dv}:${tiling.BQ}:${tiling.DC4}:${JC}:${plan.kind === "rotary" ? "none" : plan.key}:${stripes?.axis ?? "-"}:${half ? "f16" : "f32"}${stat}`;
  const pipeline = await pipelines.get(device, FN, key, () => flashProgram(D, Dv, tiling, JC, plan, stripes?.axis ?? null, half, !!st));
  const run = new Dispatcher(device, FN);
  const args: Record<string, number | GPUBuffer> = {
    L,
    S,
    H,
    Hkv: call.Hkv,
    qOff: call.queryOffset,
    left: call.left,
    right: call.right,
    tiles: qTiles,
    scale: call.scale,
  };
  if (stripes) Object.assign(args, { gridW: stripes.grid[1], stripeW: stripes.width });
  let qBuffer = await q.ref.gpuBuffer();
  let kBuffer = await k.ref.gpuBuffer();
  const rotate = await rotation(call);
  if (rotate) {
    qBuffer = rotated(run, rotate, call, "q", qBuffer, false);
    kBuffer = rotated(run, rotate, call, "k", kBuffer, false);
  }
  Object.assign(args, {
    q: qBuffer,
    k: kBuffer,
    v: await v.ref.gpuBuffer(),
    o,
    ...(st ? { st } : {}),
    ...(await biasArguments(run, call)),
  });
  run.dispatch(pipeline, args, [qTiles, H, B]);
  run.submit();
}

/** The RoPE pass of a call (null without RoPE), compiled once per (D, rotated dimensions, pairing, angles' form). */
export async function rotation(call: FlashCall): Promise<Kernel | null> {
  const rotary = call.plan.rotary;
  if (!rotary) return null;
  const { D } = call;
  const device = getWebGPUDevice();
  return rotary.tables
    ? pipelines.get(device, FN, `rotate-tables:${D}:${rotary.R}:${rotary.pairing}`, () => rotateTablesProgram(D, rotary.R, rotary.pairing))
    : pipelines.get(device, FN, `rotate:${D}:${rotary.R}:${rotary.pairing}`, () => rotateProgram(D, rotary.R, rotary.pairing));
}

/**
 * q~ or k~ of a call by its RoPE pass, into `y` (default a temporary of `run`); with `inverse`, the
 * transposed rotation a R(-angle), which takes the gradient of q~ (k~) to the gradient of q (k).
 */
export function rotated(
  run: Dispatcher,
  kernel: Kernel,
  call: FlashCall,
  which: "q" | "k",
  x: GPUBuffer,
  inverse: boolean,
  y?: GPUBuffer,
): GPUBuffer {
  const rotary = call.plan.rotary!;
  const isQ = which === "q";
  const [rows, heads, first] = isQ ? [call.L, call.H, rotary.rotQ] : [call.S, call.Hkv, rotary.rotK];
  const n = call.B * heads * rows * call.D;
  const data = (a: Float32Array) => run.temporary(a.byteLength, a);
  const negated = (a: Float32Array) => (inverse ? a.map((x) => -x) : a);
  const t = rotary.tables;
  const angles: Record<string, GPUBuffer | number> = t
    ? { cosT: data(isQ ? t.qCos : t.kCos), sinT: data(negated(isQ ? t.qSin : t.kSin)) }
    : { pos: data(negated(isQ ? call.qpos : call.kpos)), invFreq: data(call.plan.extras[0] as Float32Array), factor: rotary.factor };
  const out = y ?? run.temporary(n * 4);
  const groups = run.grid(Math.ceil(n / ROTATE_THREADS));
  run.dispatch(kernel, { total: n, rows, heads, first, stride: groups[0] * ROTATE_THREADS, x, y: out, ...angles }, groups);
  return out;
}

/** The bias's bindings of a call: positions and the encoding's arrays (none for no bias and RoPE). */
export async function biasArguments(run: Dispatcher, call: FlashCall): Promise<Record<string, GPUBuffer>> {
  const { plan, qpos, kpos } = call;
  if (plan.kind === "none" || plan.kind === "rotary") return {};
  const args: Record<string, GPUBuffer> = { qpos: run.temporary(qpos.byteLength, qpos), kpos: run.temporary(kpos.byteLength, kpos) };
  for (const [n, e] of plan.extras.entries())
    args[`pe${n}`] = e instanceof Float32Array ? run.temporary(e.byteLength, e) : await e.ref.gpuBuffer();
  return args;
}

/** Number of compiled attention pipelines (RoPE passes included) on the current device. */
export function flashAttentionPipelineCount(): number {
  return pipelines.size(getWebGPUDevice());
}

function positions(p: ArrayLike<number> | undefined, field: string, n: number, offset: number, abort: (m: string) => never): Float32Array {
  if (p === undefined) return Float32Array.from({ length: n }, (_, i) => offset + i);
  if (isArray(p)) abort(`${field} as a jax-js array is not supported by the fused kernel; pass JS numbers`);
  if (p.length !== n) abort(`${field} must hold ${n} positions, got ${p.length}`);
  const out = Float32Array.from(p);
  for (let i = 0; i < n; i++) if (!Number.isFinite(p[i])) abort(`${field}[${i}] must be finite, got ${p[i]}`);
  return out;
}
