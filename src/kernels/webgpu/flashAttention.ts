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
 * the caller (`toJaxArray` brings it back into jax-js through a readback).
 * float16 storage: q, k, v may all be float16 where the adapter has
 * `shader-f16` (not with RoPE); they are widened to f32 as they are read
 * (exactly), every sum is in f32, and the output is float32, so the result
 * equals the float32 kernel's on the same values.
 * Compiled pipelines are cached per (D, Dv, tiling, bias kind, stripes,
 * storage), and the RoPE pass per (D, rotated dimensions, pairing).
 *
 * Reference: Dao, FlashAttention-2, https://arxiv.org/abs/2307.08691;
 * Dao et al., FlashAttention, https://arxiv.org/abs/2205.14135;
 * Milakov & Gimelshein, online softmax, https://arxiv.org/abs/1805.02867.
 */
import { getWebGPUDevice, numpy as np } from "@jax-js/jax";
import { resolveWindow } from "../../attention/attention.js";
import { isArray } from "../../attention/positions.js";
import { type AttentionPE, peArrays } from "../../attention/spec.js";
import { qkvShape } from "../../core/shapes.js";
import { fail } from "../../core/validate.js";
import { fromHFConfig } from "../../pe/rope/hfConfig.js";
import { checkBufferSize, f32Literal, GpuTensor, type KernelLimits, resolveLimits, storageBuffer } from "./gpuTensor.js";
import { consuming, Dispatcher, PipelineCache } from "./program.js";
import { ROTATE_THREADS, rotateSource, rotateUniforms } from "./rotateShader.js";

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
/** Keys per tile: 16 invocations times 4 consecutive keys. */
const KEY_TILE = 64;
const UNBOUNDED = 1 << 30;
/** Invocations per workgroup: a 16 x 16 grid. */
const THREADS = 256;

const pipelines = new PipelineCache();

type Kind = "none" | "rotary" | "alibi" | "table" | "t5" | "kerple-log" | "kerple-power";

interface Plan {
  kind: Kind;
  /** Extra float32 arrays: bound at 7, 8 for a bias, the inverse frequencies for RoPE. */
  extras: (Float32Array | np.Array)[];
  /** Source-level constants for the kind. */
  key: string;
  rotary?: { R: number; pairing: "halves" | "interleaved"; rotQ: number; rotK: number; factor: number };
  t5?: { bidirectional: boolean; numBuckets: number; maxDistance: number };
  tableRadius?: number;
}

/** Workgroup-memory tiling of one configuration (sizes in vec4 where named so). */
interface Tiling {
  /** Queries per workgroup: 16 rows of invocations times BQ / 16 rows each. */
  BQ: number;
  /** vec4 columns of q and k per staged chunk (a power of two <= 8). */
  DC4: number;
  /** Most keys of v per staged chunk (a power of two in [4, KEY_TILE]). */
  maxJC: number;
  /** vec4 slots of the staging buffer. */
  stage4: number;
}

/**
 * The largest query block (64, 32, 16), then the widest chunk of q and k, that
 * fit `bytes` of workgroup memory: staging max((BQ + KEY_TILE) DC4, 4 ceil(Dv/4))
 * vec4 plus P (BQ x KEY_TILE floats).
 */
function chooseTiling(D: number, Dv: number, bytes: number): Tiling | null {
  const D4 = Math.ceil(D / 4);
  const DV4 = Math.ceil(Dv / 4);
  let widest = 1;
  while (widest < Math.min(D4, 8)) widest *= 2;
  for (const BQ of [64, 32, 16]) {
    for (let DC4 = widest; DC4 >= 1; DC4 /= 2) {
      const stage4 = Math.max((BQ + KEY_TILE) * DC4, 4 * DV4);
      if (16 * stage4 + 4 * BQ * KEY_TILE > bytes) continue;
      let maxJC = 4;
      while (maxJC * 2 <= KEY_TILE && maxJC * 2 * DV4 <= stage4) maxJC *= 2;
      return { BQ, DC4, maxJC, stage4 };
    }
  }
  return null;
}

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
  return consuming([q, k, v, ...peArrays(pe)], () => launch(q, k, v, options, pe));
}

/** Validates, plans, compiles and dispatches one call; `flashAttention` disposes the arrays. */
async function launch(q: np.Array, k: np.Array, v: np.Array, options: FlashAttentionOptions, pe: AttentionPE): Promise<GpuTensor> {
  const abort = (message: string): never => fail(FN, message);
  const shp = (x: np.Array) => `(${x.shape.join(", ")})`;
  const shapes = () => `q=${shp(q)}, k=${shp(k)}, v=${shp(v)}`;
  const { B, H, L, D, Hkv, S, Dv } = qkvShape(q, k, v, true, abort);
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
  const plan = planPE(pe, H, Hkv, D, options.queryPositions ?? qpos, (m) => fail(FN, m));

  const device = getWebGPUDevice();
  const limits = resolveLimits(device, options.limits);
  const workgroupBytes = Math.min(device.limits.maxComputeWorkgroupStorageSize, options.limits?.maxComputeWorkgroupStorageSize ?? Infinity);
  const tiling =
    chooseTiling(D, Dv, workgroupBytes) ?? abort(`no tiling of D = ${D}, Dv = ${Dv} fits ${workgroupBytes} bytes of workgroup memory`);
  const JC = options.keyBlock ?? tiling.maxJC;
  if (!Number.isInteger(Math.log2(JC)) || JC < 4 || JC > tiling.maxJC) {
    abort(
      `options.keyBlock must be a power of two in [4, ${tiling.maxJC}] (workgroup memory ${workgroupBytes} bytes for D = ${D}, Dv = ${Dv}), got ${JC}`,
    );
  }
  const qTiles = Math.ceil(L / tiling.BQ);
  const maxGroups = device.limits.maxComputeWorkgroupsPerDimension;
  if (qTiles > maxGroups || H > maxGroups || B > maxGroups)
    abort(`grid (${qTiles}, ${H}, ${B}) workgroups exceeds the device's ${maxGroups} per dimension (${shapes()})`);
  const bytes = half ? 2 : 4;
  checkBufferSize(FN, `q ${shp(q)} ${q.dtype}`, q.size * bytes, limits);
  checkBufferSize(FN, `k ${shp(k)} ${k.dtype}`, k.size * bytes, limits);
  checkBufferSize(FN, `v ${shp(v)} ${v.dtype}`, v.size * bytes, limits);
  checkBufferSize(FN, `output (${B}, ${H}, ${L}, ${Dv}) float32`, B * H * L * Dv * 4, limits);
  for (const e of plan.extras)
    checkBufferSize(
      FN,
      `positional-encoding array of ${e instanceof Float32Array ? e.length : e.size} floats`,
      (e instanceof Float32Array ? e.length : e.size) * 4,
      limits,
    );

  // RoPE happens in its own pass: the attention kernel is the one without an encoding
  const key = `${D}:${Dv}:${tiling.BQ}:${tiling.DC4}:${JC}:${plan.kind === "rotary" ? "none" : plan.key}:${stripes?.axis ?? "-"}:${half ? "f16" : "f32"}`;
  const pipeline = await pipelines.get(device, FN, key, () => flashSource(D, Dv, tiling, JC, plan, stripes?.axis ?? null, half));
  const rotary = plan.rotary;
  const rotate = rotary
    ? await pipelines.get(device, FN, `rotate:${D}:${rotary.R}:${rotary.pairing}`, () => rotateSource(D, rotary.R, rotary.pairing))
    : null;
  const out = new GpuTensor([B, H, L, Dv], storageBuffer(device, B * H * L * Dv * 4));
  const params = new ArrayBuffer(48);
  const u = new Uint32Array(params);
  const i = new Int32Array(params);
  const f = new Float32Array(params);
  u.set([L, S, H, Hkv], 0);
  i.set([queryOffset, left, right], 4);
  u[7] = qTiles;
  f[8] = scale;
  if (stripes) u.set([stripes.grid[1], stripes.width], 9); // grid width, stripe width
  const run = new Dispatcher(device, FN);
  const bindings = [run.uniform(params)];
  let qBuffer = await q.ref.gpuBuffer();
  let kBuffer = await k.ref.gpuBuffer();
  if (rotate && rotary) {
    // q~ and k~ into temporary buffers: (x, rows per head, heads, first rotated head, positions)
    const invFreq = plan.extras[0] as Float32Array;
    const inv = run.temporary(invFreq.byteLength, invFreq);
    const rotated = (x: GPUBuffer, n: number, rows: number, heads: number, first: number, pos: Float32Array): GPUBuffer => {
      const y = run.temporary(n * 4);
      const groups = run.grid(Math.ceil(n / ROTATE_THREADS));
      const ub = run.uniform(rotateUniforms(n, rows, heads, first, groups[0] * ROTATE_THREADS, rotary.factor));
      run.dispatch(rotate, [ub, x, y, run.temporary(pos.byteLength, pos), inv], groups);
      return y;
    };
    qBuffer = rotated(qBuffer, q.size, L, H, rotary.rotQ, qpos);
    kBuffer = rotated(kBuffer, k.size, S, Hkv, rotary.rotK, kpos);
  }
  bindings.push(qBuffer, kBuffer, await v.ref.gpuBuffer(), out.buffer);
  if (plan.kind !== "none" && plan.kind !== "rotary") {
    bindings.push(run.temporary(qpos.byteLength, qpos), run.temporary(kpos.byteLength, kpos));
    for (const e of plan.extras) bindings.push(e instanceof Float32Array ? run.temporary(e.byteLength, e) : await e.ref.gpuBuffer());
  }
  run.dispatch(pipeline, bindings, [qTiles, H, B]);
  run.submit();
  return out;
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

function planPE(pe: AttentionPE, H: number, Hkv: number, D: number, queryPositions: ArrayLike<number>, abort: (m: string) => never): Plan {
  const checkArray = (name: string, a: np.Array, shape: number[]) => {
    if (a.dtype !== np.float32 || a.device !== "webgpu" || a.ndim !== shape.length || a.shape.some((n, i) => n !== shape[i])) {
      abort(`${name} must be a float32 webgpu array of shape (${shape.join(", ")}), got ${a.dtype} ${a.device} (${a.shape.join(", ")})`);
    }
  };
  switch (pe.type) {
    case "none":
      return { kind: "none", extras: [], key: "none" };
    case "contextual":
      return abort('CoPE (pe.type "contextual") is not supported by the fused kernel; use attention()');
    case "rotary": {
      if (pe.xpos) abort("xPos is not supported by the fused kernel; use attention()");
      const n = pe.heads ?? H;
      if (!Number.isInteger(n) || n < 1 || n > H || (H - n) % (H / Hkv) !== 0) {
        abort(`pe.heads (${n}) must be an integer in [1, ${H}] covering whole key/value groups of ${H / Hkv} heads`);
      }
      // as the composite: the current length is max(query position) + 1 ("dynamic" and "longrope" scaling follow it)
      let seqLen = -Infinity;
      for (let i = 0; i < queryPositions.length; i++) seqLen = Math.max(seqLen, queryPositions[i] + 1);
      const fr =
        "hfConfig" in pe.frequencies
          ? fromHFConfig(pe.frequencies.hfConfig, { seqLen, layerType: pe.frequencies.layerType })
          : pe.frequencies;
      const inv = Float32Array.from(fr.invFreq);
      const R = 2 * inv.length;
      if (inv.length < 1 || R > D) abort(`rotary invFreq must hold 1..D/2 = ${Math.floor(D / 2)} frequencies, got ${inv.length}`);
      if (pe.pairing !== "halves" && pe.pairing !== "interleaved")
        abort(`pe.pairing must be "halves" or "interleaved", got ${JSON.stringify(pe.pairing)}`);
      const factor = fr.attentionFactor ?? 1;
      return {
        kind: "rotary",
        extras: [inv],
        key: `rotary:${R}:${pe.pairing}`,
        rotary: { R, pairing: pe.pairing, rotQ: H - n, rotK: Hkv - (n / H) * Hkv, factor },
      };
    }
    case "bias":
      switch (pe.kind) {
        case "alibi": {
          if (pe.slopes.length !== H) abort(`ALiBi needs one slope per head: ${H}, got ${pe.slopes.length}`);
          return { kind: "alibi", extras: [Float32Array.from(pe.slopes)], key: "alibi" };
        }
        case "table": {
          const R = pe.maxDistance;
          if (!Number.isInteger(R) || R < 0) abort(`pe.maxDistance must be an integer >= 0, got ${R}`);
          checkArray("pe.table", pe.table, [H, 2 * R + 1]);
          return { kind: "table", extras: [pe.table], key: `table:${R}`, tableRadius: R };
        }
        case "t5": {
          const { bidirectional, numBuckets, maxDistance } = pe;
          const half = bidirectional ? Math.floor(numBuckets / 2) : numBuckets;
          const maxExact = Math.floor(half / 2);
          if (!Number.isInteger(numBuckets) || !Number.isInteger(maxDistance) || maxExact < 1 || maxDistance <= maxExact) {
            abort(
              `T5 needs integer numBuckets leaving exact buckets and maxDistance > ${maxExact}, got numBuckets ${numBuckets}, maxDistance ${maxDistance}`,
            );
          }
          checkArray("pe.table", pe.table, [numBuckets, H]);
          return {
            kind: "t5",
            extras: [pe.table],
            key: `t5:${bidirectional}:${numBuckets}:${maxDistance}`,
            t5: { bidirectional, numBuckets, maxDistance },
          };
        }
        case "kerple": {
          checkArray("pe.r1", pe.r1, [H]);
          checkArray("pe.r2", pe.r2, [H]);
          const kind =
            pe.variant === "log"
              ? "kerple-log"
              : pe.variant === "power"
                ? "kerple-power"
                : abort(`pe.variant must be "log" or "power", got ${JSON.stringify(pe.variant)}`);
          return { kind, extras: [pe.r1, pe.r2], key: kind };
        }
        case "fire":
        case "mlp":
          return abort(`the ${pe.kind === "fire" ? "FIRE" : "dynamic MLP"} bias is not supported by the fused kernel; use attention()`);
        default:
          return pe satisfies never;
      }
    default:
      return pe satisfies never;
  }
}

const LOWEST = f32Literal(-3.4028234663852886e38);

/** WGSL of `bias(h, qp, kp)` for a bias kind, "" for none and RoPE. */
function biasSource(plan: Plan): string {
  switch (plan.kind) {
    case "none":
    case "rotary":
      return "";
    case "alibi":
      return "fn bias(h: u32, qp: f32, kp: f32) -> f32 { return -pe0[h] * abs(kp - qp); }";
    case "table": {
      const R = plan.tableRadius!;
      return `fn bias(h: u32, qp: f32, kp: f32) -> f32 {
  let r = i32(clamp(round(kp - qp), ${-R}.0, ${R}.0)) + ${R};
  return pe0[h * ${2 * R + 1}u + u32(r)];
}`;
    }
    case "t5": {
      const { bidirectional, numBuckets, maxDistance } = plan.t5!;
      const n = bidirectional ? Math.floor(numBuckets / 2) : numBuckets;
      const maxExact = Math.floor(n / 2);
      // float32 steps of transformers' _relative_position_bucket (and pe/t5.ts)
      return `fn bias(h: u32, qp: f32, kp: f32) -> f32 {
  let rel = i32(round(kp - qp));
  ${bidirectional ? `let offset = select(0, ${n}, rel > 0); let d = abs(rel);` : "let offset = 0; let d = -min(rel, 0);"}
  var bucket = d;
  if (d >= ${maxExact}) {
    let ratio = f32(d) / ${maxExact}.0;
    let scaled = (log(ratio) / ${f32Literal(Math.log(maxDistance / maxExact))}) * ${n - maxExact}.0;
    bucket = min(${maxExact} + i32(trunc(scaled)), ${n - 1});
  }
  return pe0[u32(bucket + offset) * P.H + h];
}`;
    }
    case "kerple-log":
      // log1p as jax-js evaluates it in float32: a series for |x| <= 0.2, log(1 + x) beyond
      return `fn log1p(x: f32) -> f32 {
  if (abs(x) > 0.2) { return log(x + 1.0); }
  return ((((((((((x * ${f32Literal(-1 / 10)} + ${f32Literal(1 / 9)}) * x - ${f32Literal(1 / 8)}) * x + ${f32Literal(1 / 7)}) * x - ${f32Literal(1 / 6)}) * x + ${f32Literal(1 / 5)}) * x - ${f32Literal(1 / 4)}) * x + ${f32Literal(1 / 3)}) * x - ${f32Literal(1 / 2)}) * x + 1.0) * x);
}
fn bias(h: u32, qp: f32, kp: f32) -> f32 { return -pe0[h] * log1p(pe1[h] * abs(kp - qp)); }`;
    case "kerple-power":
      return `fn bias(h: u32, qp: f32, kp: f32) -> f32 {
  let d = abs(kp - qp);
  return -pe0[h] * select(0.0, exp(pe1[h] * log(select(1.0, d, d > 0.0))), d > 0.0);
}`;
    default:
      return plan.kind satisfies never;
  }
}

/**
 * WGSL of `ld${name}(base, c4) -> vec4<f32>`: floats 4 c4 .. 4 c4 + 3 of the row
 * starting at float `base` of `buf` (n floats per row), zero past the row when
 * chunks of `chunk4` vec4 overrun it; one vec4 load when n is a multiple of 4.
 * Branch-free: the index is clamped into the row and the value selected.
 */
function rowLoader(name: string, buf: string, n: number, chunk4: number, half: boolean): string {
  const n4 = Math.ceil(n / 4);
  // float16 storage is widened to f32 as it is read (exact)
  const wide = (x: string, scalar: boolean) => (half ? (scalar ? `f32(${x})` : `vec4<f32>(${x})`) : x);
  const body =
    n % 4 === 0
      ? n4 % chunk4 === 0
        ? `return ${wide(`${buf}[base / 4u + c4]`, false)};`
        : `return select(vec4<f32>(0.0), ${wide(`${buf}[base / 4u + min(c4, ${n4 - 1}u)]`, false)}, c4 < ${n4}u);`
      : `let c = 4u * c4;\n  return vec4<f32>(${[0, 1, 2, 3].map((e) => `select(0.0, ${wide(`${buf}[base + min(c + ${e}u, ${n - 1}u)]`, true)}, c + ${e}u < ${n}u)`).join(", ")});`;
  return `fn ld${name}(base: u32, c4: u32) -> vec4<f32> {\n  ${body}\n}`;
}

/** WGSL of the attention kernel for one configuration (module header: the tiling). */
function flashSource(
  D: number,
  Dv: number,
  tiling: Tiling,
  JC: number,
  plan: Plan,
  stripes: "rows" | "columns" | null,
  half: boolean,
): string {
  const { BQ, DC4, stage4 } = tiling;
  const BK = KEY_TILE;
  const BK4 = BK / 4;
  const RA = BQ / 16; // query rows per invocation: ty + 16 a
  const KT = 4; // consecutive keys per invocation in S: 4 tx + b
  const D4 = Math.ceil(D / 4);
  const DV4 = Math.ceil(Dv / 4);
  const NV = Math.ceil(DV4 / 16); // vec4 output columns per invocation: tx + 16 n
  const bias = biasSource(plan);
  const hasBias = bias !== "";
  const vecT = (n: number, t = "f32") => (n % 4 === 0 ? `vec4<${t}>` : t);
  const inT = half ? "f16" : "f32";
  const rows = [...Array(RA).keys()];
  const keys = [...Array(KT).keys()];
  const cols = [...Array(NV).keys()];
  const each = <T>(xs: T[], f: (x: T) => string, sep = "\n    ") => xs.map(f).join(sep);
  const pairs = (f: (a: number, b: number) => string, sep = "\n      ") => rows.flatMap((a) => keys.map((b) => f(a, b))).join(sep);
  // an invocation's RA row values in one vec4: one write each, no vec4 written in parts by several invocations
  const pack = (name: string) => `vec4<f32>(${[0, 1, 2, 3].map((a) => (a < RA ? `${name}${a}` : "0.0")).join(", ")})`;
  const outs = (f: (a: number, n: number) => string, sep = "\n      ") => rows.flatMap((a) => cols.map((n) => f(a, n))).join(sep);
  // staging, software-pipelined: each invocation loads the next chunk of q and k
  // (or of v) into registers pf* while it computes on the current one. Rows past
  // L and S are clamped, not zeroed: their queries are never stored, their keys'
  // logits are left out of the maxima and their P entries are exactly 0.
  const nQ = Math.ceil((BQ * DC4) / THREADS);
  const nK = Math.ceil((BK * DC4) / THREADS);
  const nV = Math.ceil((JC * DV4) / THREADS);
  const NPF = Math.max(nQ + nK, nV);
  const slots = (count: number, f: (n: number) => string, first = 0) =>
    [...Array(Math.ceil(count / THREADS)).keys()]
      .map((n) => `{ let e = lid + ${n * THREADS}u; ${count % THREADS === 0 ? "" : `if (e < ${count}u) `}{ ${f(n + first)} } }`)
      .join("\n      ");
  const fetchQK = (j0: string, c0: string) =>
    [
      slots(BQ * DC4, (n) => `pf${n} = ldQ((qRow0 + min(i0 + e / ${DC4}u, P.L - 1u)) * ${D}u, ${c0} + e % ${DC4}u);`),
      slots(BK * DC4, (n) => `pf${n} = ldK((kvRow0 + min(${j0} + e / ${DC4}u, P.S - 1u)) * ${D}u, ${c0} + e % ${DC4}u);`, nQ),
    ].join("\n      ");
  const fetchV = (j0: string, jc: string) =>
    slots(JC * DV4, (n) => `pf${n} = ldV((kvRow0 + min(${j0} + ${jc} + e / ${DV4}u, P.S - 1u)) * ${Dv}u, e % ${DV4}u);`);
  const putQK = [
    slots(BQ * DC4, (n) => `let r = e / ${DC4}u; stage[r * ${DC4}u + ((e % ${DC4}u) ^ sw(r))] = pf${n};`),
    slots(BK * DC4, (n) => `let r = e / ${DC4}u; stage[KOFF + r * ${DC4}u + ((e % ${DC4}u) ^ sw(r))] = pf${n};`, nQ),
  ].join("\n      ");
  const putV = slots(JC * DV4, (n) => `stage[e] = pf${n};`);
  const colGuard = DV4 % 16 === 0 ? "" : `if (tx + 16u * NN < ${DV4}u) `;
  const store =
    Dv % 4 === 0
      ? `o[(row * ${Dv}u) / 4u + g] = acc;`
      : [0, 1, 2, 3].map((e) => `if (4u * g + ${e}u < ${Dv}u) { o[row * ${Dv}u + 4u * g + ${e}u] = acc[${e}]; }`).join(" ");
  return /* wgsl */ `${half ? "enable f16;\n" : ""}
struct Params { L: u32, S: u32, H: u32, Hkv: u32, qOff: i32, left: i32, right: i32, tiles: u32, scale: f32, gridW: i32, stripeW: i32, pad: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> q: array<${vecT(D, inT)}>;
@group(0) @binding(2) var<storage, read> k: array<${vecT(D, inT)}>;
@group(0) @binding(3) var<storage, read> v: array<${vecT(Dv, inT)}>;
@group(0) @binding(4) var<storage, read_write> o: array<${vecT(Dv)}>;
${hasBias ? "@group(0) @binding(5) var<storage, read> qpos: array<f32>;\n@group(0) @binding(6) var<storage, read> kpos: array<f32>;" : ""}
${hasBias ? plan.extras.map((_, n) => `@group(0) @binding(${7 + n}) var<storage, read> pe${n}: array<f32>;`).join("\n") : ""}

const LOWEST = ${LOWEST};
const KOFF = ${BQ * DC4}u;

// q and k chunks (S phase), or v chunks (P V phase), as vec4
var<workgroup> stage: array<vec4<f32>, ${stage4}>;
// P (BQ x BK) as vec4 rows; also the row reductions (16 partials per row)
var<workgroup> pt: array<vec4<f32>, ${BQ * BK4}>;

${bias}
${rowLoader("Q", "q", D, DC4, half)}
${rowLoader("K", "k", D, DC4, half)}
${rowLoader("V", "v", Dv, DV4, half)}

${stripes === "rows" ? "// stripe of token x: its grid row / stripe width\nfn stripe(x: i32) -> i32 { return x / (P.gridW * P.stripeW); }" : stripes === "columns" ? "// stripe of token x: its grid column / stripe width\nfn stripe(x: i32) -> i32 { return (x % P.gridW) / P.stripeW; }" : ""}

// XOR swizzle of a staged row's vec4 columns (bank-conflict-free q and k reads)
fn sw(r: u32) -> u32 { return (r ^ (r >> 2u)) & ${DC4 - 1}u; }

@compute @workgroup_size(${THREADS})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let b = wg.z;
  let h = wg.y;
  let hk = h / (P.H / P.Hkv);
  let i0 = (P.tiles - 1u - wg.x) * ${BQ}u;
  let tx = lid % 16u;
  let ty = lid / 16u;
  let qRow0 = (b * P.H + h) * P.L;
  let kvRow0 = (b * P.Hkv + hk) * P.S;

  // this invocation's query rows ty + 16 a: index t and position
  ${each(rows, (a) => `let t${a} = P.qOff + i32(min(i0 + ty + ${16 * a}u, P.L - 1u));`)}
  ${hasBias ? each(rows, (a) => `let qp${a} = qpos[min(i0 + ty + ${16 * a}u, P.L - 1u)];`) : ""}

  // keys any query of this block can see; all of them if one query sees none
  let tFirst = P.qOff + i32(i0);
  let tLast = P.qOff + i32(min(i0 + ${BQ}u, P.L)) - 1;
  var lo = 0;
  var hi = i32(P.S) - 1;
  if (tLast - P.left < i32(P.S)) {
    lo = max(0, tFirst - P.left);
    hi = min(hi, tLast + P.right);
  }${
    stripes === "rows"
      ? `
  // horizontal stripes are contiguous runs of tokens: keys of the block's first to last stripe
  lo = max(lo, stripe(tFirst) * P.gridW * P.stripeW);
  hi = min(hi, (stripe(tLast) + 1) * P.gridW * P.stripeW - 1);`
      : ""
  }

  ${each(rows, (a) => `var m${a} = LOWEST;\n    var l${a} = 0.0;`)}
  ${outs((a, n) => `var o${a}_${n} = vec4<f32>(0.0);`, "\n  ")}
  ${each([...Array(NPF).keys()], (n) => `var pf${n} = vec4<f32>(0.0);`, "\n  ")}
  ${fetchQK("u32(lo)", "0u")}

  for (var j0 = u32(lo); j0 <= u32(hi); j0 += ${BK}u) {
    // 1. S = Q K^T over chunks of ${DC4} vec4 columns
    ${pairs((a, b) => `var s${a}_${b} = 0.0;`, "\n    ")}
    for (var c0 = 0u; c0 < ${D4}u; c0 += ${DC4}u) {
      workgroupBarrier();
      ${putQK}
      workgroupBarrier();
      if (c0 + ${DC4}u < ${D4}u) { ${fetchQK("j0", `c0 + ${DC4}u`)} } else { ${fetchV("j0", "0u")} }
      for (var c = 0u; c < ${DC4}u; c++) {
        ${each(rows, (a) => `let q${a} = stage[(ty + ${16 * a}u) * ${DC4}u + (c ^ sw(ty + ${16 * a}u))];`, "\n        ")}
        ${each(keys, (b) => `let k${b} = stage[KOFF + (${KT}u * tx + ${b}u) * ${DC4}u + (c ^ sw(${KT}u * tx + ${b}u))];`, "\n        ")}
        ${pairs((a, b) => `s${a}_${b} = fma(q${a}.w, k${b}.w, fma(q${a}.z, k${b}.z, fma(q${a}.y, k${b}.y, fma(q${a}.x, k${b}.x, s${a}_${b}))));`, "\n        ")}
      }
    }

    // 2. scale, bias, mask; row maxima through workgroup memory
    ${each(keys, (b) => `let kj${b} = j0 + ${KT}u * tx + ${b}u;`)}
    ${hasBias ? each(keys, (b) => `let kp${b} = kpos[min(kj${b}, P.S - 1u)];`) : ""}
    ${pairs((a, b) => `s${a}_${b} = s${a}_${b} * P.scale${hasBias ? ` + bias(h, qp${a}, kp${b})` : ""};`, "\n    ")}
    ${each(rows, (a) => `var mx${a} = LOWEST;`)}
    // a tile whose keys all exist and are visible to every query of the block needs no mask
    let inside = j0 + ${BK}u <= P.S && tLast - i32(j0) <= P.left && i32(j0 + ${BK - 1}u) - tFirst <= P.right${
      stripes === "rows"
        ? " && stripe(tFirst) == stripe(tLast) && stripe(i32(j0)) == stripe(tFirst) && stripe(i32(j0 + " +
          String(BK - 1) +
          "u)) == stripe(tFirst)"
        : stripes === "columns"
          ? " && false"
          : ""
    };
    if (inside) {
      ${each(rows, (a) => `mx${a} = max(max(s${a}_0, s${a}_1), max(s${a}_2, s${a}_3));`, "\n      ")}
    } else {
      ${pairs((a, b) => `s${a}_${b} = select(LOWEST, s${a}_${b}, t${a} - i32(kj${b}) <= P.left && i32(kj${b}) - t${a} <= P.right${stripes ? ` && stripe(t${a}) == stripe(i32(kj${b}))` : ""});`, "\n      ")}
      ${each(rows, (a) => `${keys.map((b) => `if (kj${b} < P.S) { mx${a} = max(mx${a}, s${a}_${b}); }`).join(" ")}`, "\n      ")}
    }
    pt[lid] = ${pack("mx")};
    workgroupBarrier();
    ${each(rows, (a) => `var mt${a} = m${a};`)}
    for (var x = ty * 16u; x < ty * 16u + 16u; x++) {
      let w = pt[x];
      ${each(rows, (a) => `mt${a} = max(mt${a}, w[${a}]);`, "\n      ")}
    }
    workgroupBarrier();
    ${each(rows, (a) => `let alpha${a} = exp(m${a} - mt${a});\n    m${a} = mt${a};`)}
    ${pairs((a, b) => `var p${a}_${b} = exp(s${a}_${b} - mt${a});`, "\n    ")}
    if (!inside) {
      ${pairs((a, b) => `p${a}_${b} = select(0.0, p${a}_${b}, kj${b} < P.S);`, "\n      ")}
    }
    ${each(rows, (a) => `l${a} = l${a} * alpha${a}${keys.map((b) => ` + p${a}_${b}`).join("")};`)}
    ${outs((a, n) => `o${a}_${n} = o${a}_${n} * alpha${a};`, "\n    ")}
    ${each(rows, (a) => `pt[(ty + ${16 * a}u) * ${BK4}u + tx] = vec4<f32>(p${a}_0, p${a}_1, p${a}_2, p${a}_3);`)}

    // 3. O += P V over chunks of ${JC} keys
    for (var jc = 0u; jc < ${BK}u; jc += ${JC}u) {
      if (jc > 0u) { workgroupBarrier(); }
      ${putV}
      workgroupBarrier();
      if (jc + ${JC}u < ${BK}u) { ${fetchV("j0", `jc + ${JC}u`)} } else if (j0 + ${BK}u <= u32(hi)) { ${fetchQK(`j0 + ${BK}u`, "0u")} }
      for (var j4 = 0u; j4 < ${JC / 4}u; j4++) {
        ${each(rows, (a) => `let pa${a} = pt[(ty + ${16 * a}u) * ${BK4}u + jc / 4u + j4];`, "\n        ")}
        ${cols
          .map((n) => {
            const guard = colGuard.replace("NN", `${n}u`);
            const vs = [0, 1, 2, 3].map((e) => `let v${e} = stage[(4u * j4 + ${e}u) * ${DV4}u + tx + ${16 * n}u];`).join(" ");
            const fmas = rows
              .map(
                (a) =>
                  `o${a}_${n} = fma(vec4<f32>(pa${a}.w), v3, fma(vec4<f32>(pa${a}.z), v2, fma(vec4<f32>(pa${a}.y), v1, fma(vec4<f32>(pa${a}.x), v0, o${a}_${n}))));`,
              )
              .join("\n          ");
            return `${guard}{\n          ${vs}\n          ${fmas}\n        }`;
          })
          .join("\n        ")}
      }
    }
  }

  // row sums: add up the 16 partials of each row
  workgroupBarrier();
  pt[lid] = ${pack("l")};
  workgroupBarrier();
  var lt = vec4<f32>(0.0);
  for (var x = ty * 16u; x < ty * 16u + 16u; x++) { lt = lt + pt[x]; }
  ${each(
    rows,
    (a) => `{
    let i = i0 + ty + ${16 * a}u;
    if (i < P.L) {
      let row = qRow0 + i;
      ${cols.map((n) => `${colGuard.replace("NN", `${n}u`)}{ let g = tx + ${16 * n}u; let acc = o${a}_${n} / lt[${a}]; ${store} }`).join("\n      ")}
    }
  }`,
    "\n  ",
  )}
}
`;
}
