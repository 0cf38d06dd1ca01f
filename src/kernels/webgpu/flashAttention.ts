/**
 * Fused softmax attention with positional encodings on WebGPU, float32: the
 * forward pass of `attention` (attention/attention.ts) in one kernel, tiled
 * with an online softmax so that no (L, S) matrix is ever stored.
 *
 *   logits_ij = scale q~_i . k~_j + bias_h(p_i, p_j)      q~, k~: q, k rotated in-kernel (RoPE)
 *   logits_ij = visible(i, j) ? logits_ij : lowest float32
 *   out_i     = sum_j softmax_j(logits_i) v_j
 *
 * Shapes as the composite: q (B, H, L, D), k (B, Hkv, S, D), v (B, Hkv, S, Dv)
 * with H a multiple of Hkv (grouped-query), query i at index queryOffset + i
 * (default S - L), key j at index j; masks compare indices (causal: j <= t,
 * window [left, right]: t - left <= j <= t + right), positional encodings use
 * positions (default the indices, or given as JS numbers).
 *
 * Positional terms computed inside the kernel, with the composite's float32
 * steps: ALiBi -m_h |p_j - p_i|; the learned table b[h, clip(p_j - p_i, -R, R) + R];
 * T5 buckets (bucket index in float32 as transformers and pe/t5.ts, then
 * table[bucket, h]); KERPLE log -r1 log1p(r2 d) (log1p as jax-js evaluates it)
 * and power -r1 d^r2; RoPE ("halves" or "interleaved", partial rotary, the
 * last `heads` heads, attention factor, fixed inverse frequencies or a Hugging
 * Face config) applied to q when it is loaded and to k as each key tile is
 * loaded. Not supported (refused with an error): FIRE, the dynamic MLP bias,
 * CoPE, xPos, padding masks and positions given as jax-js arrays.
 *
 * Tiling: one workgroup of 64 invocations per (batch, head, block of 64
 * queries); each invocation keeps its query row (D floats) and output
 * accumulator (Dv floats) in registers; blocks of BK keys and values (BK =
 * min(64, workgroup memory / (4 (D + Dv)))) are staged in workgroup memory,
 * scored, and folded into the running max and sum. Blocks that no query of
 * the workgroup can see (causal, window) are skipped, except when some query
 * sees no key at all: the composite then averages all values (every logit is
 * the lowest float32), and so does the kernel by visiting every block.
 *
 * Interop: q, k, v and the encoding's arrays are jax-js float32 arrays on
 * WebGPU, read through `gpuBuffer()` (never written) and consumed, as the
 * composite consumes them; the result is a new `GpuTensor` owned by the
 * caller (`toJaxArray` brings it back into jax-js through a readback).
 * Compiled pipelines are cached per (D, Dv, key block, encoding kind).
 *
 * Reference: Dao et al., FlashAttention, https://arxiv.org/abs/2205.14135;
 * Milakov & Gimelshein, online softmax, https://arxiv.org/abs/1805.02867.
 */
import { getWebGPUDevice, numpy as np } from "@jax-js/jax";
import { isArray } from "../../attention/positions.js";
import { resolveWindow } from "../../attention/attention.js";
import { peArrays, type AttentionPE } from "../../attention/spec.js";
import { fromHFConfig } from "../../pe/rope/hfConfig.js";
import { fail } from "../../pe/validate.js";
import {
  checkBufferSize,
  f32Literal,
  GpuTensor,
  PipelineCache,
  resolveLimits,
  storageBuffer,
  uniformBuffer,
  type KernelLimits,
} from "./gpuTensor.js";

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
  /** Keys per block staged in workgroup memory; default the largest <= 64 that fits. */
  keyBlock?: number;
  /** Lower buffer limits than the device's (for tests). */
  limits?: KernelLimits;
}

const FN = "flashAttention";
/** Queries per workgroup (one invocation each). */
export const QUERY_BLOCK = 64;
/** Largest head dimensions kept in registers. */
export const MAX_HEAD_DIM = 256;
const UNBOUNDED = 1 << 30;

const pipelines = new PipelineCache();

type Kind = "none" | "rotary" | "alibi" | "table" | "t5" | "kerple-log" | "kerple-power";

interface Plan {
  kind: Kind;
  /** Extra float32 arrays bound at 7, 8: JS values or jax-js arrays. */
  extras: (Float32Array | np.Array)[];
  /** Source-level constants for the kind. */
  key: string;
  rotary?: { R: number; pairing: "halves" | "interleaved"; rotQ: number; rotK: number; factor: number };
  t5?: { bidirectional: boolean; numBuckets: number; maxDistance: number };
  tableRadius?: number;
}

/** Fused attention; returns out (B, H, L, Dv) as a float32 `GpuTensor`. Consumes q, k, v and the encoding's arrays. */
export async function flashAttention(q: np.Array, k: np.Array, v: np.Array, options: FlashAttentionOptions = {}): Promise<GpuTensor> {
  const pe = options.pe ?? { type: "none" };
  const owned = [q, k, v, ...peArrays(pe)];
  const abort = (message: string): never => {
    for (const a of owned) a.dispose();
    return fail(FN, message);
  };
  const shp = (x: np.Array) => `(${x.shape.join(", ")})`;
  const shapes = () => `q=${shp(q)}, k=${shp(k)}, v=${shp(v)}`;
  if (q.ndim !== 4 || k.ndim !== 4 || v.ndim !== 4) abort(`q, k, v must be (B, H, L, D), got ${shapes()}`);
  const [B, H, L, D] = q.shape;
  const [Bk, Hkv, S, Dk] = k.shape;
  const Dv = v.shape[3];
  if (Bk !== B || v.shape[0] !== B || Dk !== D || v.shape[1] !== Hkv || v.shape[2] !== S) {
    abort(`q, k, v shapes mismatch: ${shapes()} (need k (B, Hkv, S, D) and v (B, Hkv, S, Dv))`);
  }
  for (const [name, x] of [["q", q], ["k", k], ["v", v]] as const) {
    if (x.dtype !== np.float32) abort(`${name} must be float32, got ${x.dtype} (${shapes()})`);
    if (x.device !== "webgpu") abort(`${name} must be on the webgpu device, got ${x.device} (${shapes()})`);
  }
  if (B < 1 || H < 1 || L < 1 || S < 1) abort(`B, H, L and S must be >= 1, got ${shapes()}`);
  if (H % Hkv !== 0) abort(`query heads (${H}) must be a multiple of key/value heads (${Hkv}), got ${shapes()}`);
  if (D < 1 || D > MAX_HEAD_DIM || Dv < 1 || Dv > MAX_HEAD_DIM) abort(`head dimensions D = ${D} and Dv = ${Dv} must be in [1, ${MAX_HEAD_DIM}] (${shapes()})`);
  const queryOffset = options.queryOffset ?? S - L;
  if (!Number.isInteger(queryOffset) || queryOffset < 0 || queryOffset >= UNBOUNDED) {
    abort(`options.queryOffset must be an integer >= 0, got ${queryOffset} (${shapes()})`);
  }
  if ((options as { paddingMask?: unknown }).paddingMask !== undefined) abort("padding masks are not supported by the fused kernel; use attention()");
  const causal = options.causal ?? false;
  const window = resolveWindow(options.window, causal, abort);
  const left = window ? Math.min(window[0], UNBOUNDED) : UNBOUNDED;
  const right = causal ? 0 : window ? Math.min(window[1], UNBOUNDED) : UNBOUNDED;
  const scale = options.scale ?? 1 / Math.sqrt(D);
  if (!Number.isFinite(scale)) abort(`options.scale must be finite, got ${scale}`);
  const qpos = positions(options.queryPositions, "options.queryPositions", L, queryOffset, abort);
  const kpos = positions(options.keyPositions, "options.keyPositions", S, 0, abort);
  let plan: Plan;
  try {
    plan = planPE(pe, H, Hkv, D, options.queryPositions ?? qpos, (m) => fail(FN, m));
  } catch (err) {
    for (const a of owned) a.dispose();
    throw err;
  }

  const device = getWebGPUDevice();
  const limits = resolveLimits(device, options.limits);
  const maxBlock = Math.min(64, Math.floor(device.limits.maxComputeWorkgroupStorageSize / (4 * (D + Dv))));
  const BK = options.keyBlock ?? maxBlock;
  if (!Number.isInteger(BK) || BK < 1 || BK > maxBlock) {
    abort(`options.keyBlock must be an integer in [1, ${maxBlock}] (workgroup memory ${device.limits.maxComputeWorkgroupStorageSize} bytes for D = ${D}, Dv = ${Dv}), got ${BK}`);
  }
  const qTiles = Math.ceil(L / QUERY_BLOCK);
  const maxGroups = device.limits.maxComputeWorkgroupsPerDimension;
  if (qTiles > maxGroups || H > maxGroups || B > maxGroups) abort(`grid (${qTiles}, ${H}, ${B}) workgroups exceeds the device's ${maxGroups} per dimension (${shapes()})`);
  try {
    checkBufferSize(FN, `q ${shp(q)} float32`, q.size * 4, limits);
    checkBufferSize(FN, `k ${shp(k)} float32`, k.size * 4, limits);
    checkBufferSize(FN, `v ${shp(v)} float32`, v.size * 4, limits);
    checkBufferSize(FN, `output (${B}, ${H}, ${L}, ${Dv}) float32`, B * H * L * Dv * 4, limits);
    for (const e of plan.extras) checkBufferSize(FN, `positional-encoding array of ${e instanceof Float32Array ? e.length : e.size} floats`, (e instanceof Float32Array ? e.length : e.size) * 4, limits);
  } catch (err) {
    for (const a of owned) a.dispose();
    throw err;
  }

  const key = `${D}:${Dv}:${BK}:${plan.key}`;
  let pipeline: GPUComputePipeline;
  try {
    pipeline = await pipelines.get(device, FN, key, () => flashSource(D, Dv, BK, plan));
  } catch (err) {
    for (const a of owned) a.dispose();
    throw err;
  }
  const out = new GpuTensor([B, H, L, Dv], storageBuffer(device, B * H * L * Dv * 4));
  const params = new ArrayBuffer(48);
  const u = new Uint32Array(params);
  const i = new Int32Array(params);
  const f = new Float32Array(params);
  u.set([L, S, H, Hkv], 0);
  i.set([queryOffset, left, right], 4);
  u[7] = plan.rotary?.rotQ ?? 0;
  u[8] = plan.rotary?.rotK ?? 0;
  f[9] = scale;
  f[10] = plan.rotary?.factor ?? 1;
  const temps: GPUBuffer[] = [uniformBuffer(device, params)];
  const usesPositions = plan.kind !== "none";
  const entries: GPUBindGroupEntry[] = [
    { binding: 0, resource: { buffer: temps[0] } },
    { binding: 1, resource: { buffer: await q.ref.gpuBuffer() } },
    { binding: 2, resource: { buffer: await k.ref.gpuBuffer() } },
    { binding: 3, resource: { buffer: await v.ref.gpuBuffer() } },
    { binding: 4, resource: { buffer: out.buffer } },
  ];
  if (usesPositions) {
    temps.push(storageBuffer(device, qpos.byteLength, qpos), storageBuffer(device, kpos.byteLength, kpos));
    entries.push({ binding: 5, resource: { buffer: temps[1] } }, { binding: 6, resource: { buffer: temps[2] } });
  }
  for (const [n, e] of plan.extras.entries()) {
    let buffer: GPUBuffer;
    if (e instanceof Float32Array) {
      buffer = storageBuffer(device, e.byteLength, e);
      temps.push(buffer);
    } else {
      buffer = await e.ref.gpuBuffer();
    }
    entries.push({ binding: 7 + n, resource: { buffer } });
  }
  const bind = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
  const encoder = device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bind);
  pass.dispatchWorkgroups(qTiles, H, B);
  pass.end();
  device.queue.submit([encoder.finish()]);
  // Submitted work keeps what it reads alive; jax-js may reuse the inputs' buffers only for later work.
  for (const t of temps) t.destroy();
  for (const a of owned) a.dispose();
  return out;
}

/** Number of compiled attention pipelines on the current device. */
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
      return abort("CoPE (pe.type \"contextual\") is not supported by the fused kernel; use attention()");
    case "rotary": {
      if (pe.xpos) abort("xPos is not supported by the fused kernel; use attention()");
      const n = pe.heads ?? H;
      if (!Number.isInteger(n) || n < 1 || n > H || (H - n) % (H / Hkv) !== 0) {
        abort(`pe.heads (${n}) must be an integer in [1, ${H}] covering whole key/value groups of ${H / Hkv} heads`);
      }
      // as the composite: the current length is max(query position) + 1 ("dynamic" and "longrope" scaling follow it)
      let seqLen = -Infinity;
      for (let i = 0; i < queryPositions.length; i++) seqLen = Math.max(seqLen, queryPositions[i] + 1);
      const fr = "hfConfig" in pe.frequencies ? fromHFConfig(pe.frequencies.hfConfig, { seqLen, layerType: pe.frequencies.layerType }) : pe.frequencies;
      const inv = Float32Array.from(fr.invFreq);
      const R = 2 * inv.length;
      if (inv.length < 1 || R > D) abort(`rotary invFreq must hold 1..D/2 = ${Math.floor(D / 2)} frequencies, got ${inv.length}`);
      if (pe.pairing !== "halves" && pe.pairing !== "interleaved") abort(`pe.pairing must be "halves" or "interleaved", got ${JSON.stringify(pe.pairing)}`);
      const factor = fr.attentionFactor ?? 1;
      return { kind: "rotary", extras: [inv], key: `rotary:${R}:${pe.pairing}`, rotary: { R, pairing: pe.pairing, rotQ: H - n, rotK: Hkv - (n / H) * Hkv, factor } };
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
            abort(`T5 needs integer numBuckets leaving exact buckets and maxDistance > ${maxExact}, got numBuckets ${numBuckets}, maxDistance ${maxDistance}`);
          }
          checkArray("pe.table", pe.table, [numBuckets, H]);
          return { kind: "t5", extras: [pe.table], key: `t5:${bidirectional}:${numBuckets}:${maxDistance}`, t5: { bidirectional, numBuckets, maxDistance } };
        }
        case "kerple": {
          checkArray("pe.r1", pe.r1, [H]);
          checkArray("pe.r2", pe.r2, [H]);
          const kind = pe.variant === "log" ? "kerple-log" : pe.variant === "power" ? "kerple-power" : abort(`pe.variant must be "log" or "power", got ${JSON.stringify(pe.variant)}`);
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

/** WGSL for one configuration. */
function flashSource(D: number, Dv: number, BK: number, plan: Plan): string {
  const extras = plan.extras.map((_, n) => `@group(0) @binding(${7 + n}) var<storage, read> pe${n}: array<f32>;`).join("\n");
  const positionsDecl =
    plan.kind === "none"
      ? ""
      : `@group(0) @binding(5) var<storage, read> qpos: array<f32>;\n@group(0) @binding(6) var<storage, read> kpos: array<f32>;`;
  let biasFn = "";
  let qRotate = "";
  let kRotate = "";
  switch (plan.kind) {
    case "none":
    case "rotary":
      break;
    case "alibi":
      biasFn = "fn bias(h: u32, qp: f32, kp: f32) -> f32 { return -pe0[h] * abs(kp - qp); }";
      break;
    case "table": {
      const R = plan.tableRadius!;
      biasFn = `fn bias(h: u32, qp: f32, kp: f32) -> f32 {
  let r = i32(clamp(round(kp - qp), ${-R}.0, ${R}.0)) + ${R};
  return pe0[h * ${2 * R + 1}u + u32(r)];
}`;
      break;
    }
    case "t5": {
      const { bidirectional, numBuckets, maxDistance } = plan.t5!;
      const n = bidirectional ? Math.floor(numBuckets / 2) : numBuckets;
      const maxExact = Math.floor(n / 2);
      // float32 steps of transformers' _relative_position_bucket (and pe/t5.ts)
      biasFn = `fn bias(h: u32, qp: f32, kp: f32) -> f32 {
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
      break;
    }
    case "kerple-log":
      // log1p as jax-js evaluates it in float32: a series for |x| <= 0.2, log(1 + x) beyond
      biasFn = `fn log1p(x: f32) -> f32 {
  if (abs(x) > 0.2) { return log(x + 1.0); }
  return ((((((((((x * ${f32Literal(-1 / 10)} + ${f32Literal(1 / 9)}) * x - ${f32Literal(1 / 8)}) * x + ${f32Literal(1 / 7)}) * x - ${f32Literal(1 / 6)}) * x + ${f32Literal(1 / 5)}) * x - ${f32Literal(1 / 4)}) * x + ${f32Literal(1 / 3)}) * x - ${f32Literal(1 / 2)}) * x + 1.0) * x);
}
fn bias(h: u32, qp: f32, kp: f32) -> f32 { return -pe0[h] * log1p(pe1[h] * abs(kp - qp)); }`;
      break;
    case "kerple-power":
      biasFn = `fn bias(h: u32, qp: f32, kp: f32) -> f32 {
  let d = abs(kp - qp);
  return -pe0[h] * select(0.0, exp(pe1[h] * log(select(1.0, d, d > 0.0))), d > 0.0);
}`;
      break;
    default:
      plan.kind satisfies never;
  }
  if (plan.rotary) {
    const { R, pairing } = plan.rotary;
    const half = R / 2;
    const pair = pairing === "halves" ? [`f`, `f + ${half}u`] : [`2u * f`, `2u * f + 1u`];
    qRotate = `
  if (h >= P.rotQ) {
    let qp = qpos[iq];
    for (var f = 0u; f < ${half}u; f++) {
      let angle = qp * pe0[f];
      let cs = cos(angle) * P.factor;
      let sn = sin(angle) * P.factor;
      let x1 = qr[${pair[0]}];
      let x2 = qr[${pair[1]}];
      qr[${pair[0]}] = x1 * cs + (-x2) * sn;
      qr[${pair[1]}] = x2 * cs + x1 * sn;
    }
  }`;
    const partner =
      pairing === "halves"
        ? `let first = c < ${half}u; let f = select(c - ${half}u, c, first); let pc = select(c - ${half}u, c + ${half}u, first);`
        : `let first = (c & 1u) == 0u; let f = c >> 1u; let pc = select(c - 1u, c + 1u, first);`;
    kRotate = `
        if (hk >= P.rotK && c < ${R}u) {
          ${partner}
          let angle = kpos[j] * pe0[f];
          let cs = cos(angle) * P.factor;
          let sn = sin(angle) * P.factor;
          let xp = k[kb + pc];
          x = x * cs + select(xp, -xp, first) * sn;
        }`;
  }
  const hasBias = biasFn !== "";
  return /* wgsl */ `
struct Params { L: u32, S: u32, H: u32, Hkv: u32, qOff: i32, left: i32, right: i32, rotQ: u32, rotK: u32, scale: f32, factor: f32, pad: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read_write> o: array<f32>;
${positionsDecl}
${extras}

const D = ${D}u;
const DV = ${Dv}u;
const BK = ${BK}u;
const BQ = ${QUERY_BLOCK}u;
const LOWEST = ${LOWEST};

var<workgroup> kt: array<f32, ${BK * D}>;
var<workgroup> vt: array<f32, ${BK * Dv}>;

${biasFn}

@compute @workgroup_size(${QUERY_BLOCK})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let b = wg.z;
  let h = wg.y;
  let hk = h / (P.H / P.Hkv);
  let i = wg.x * BQ + lid;
  let iq = min(i, P.L - 1u);

  // this invocation's query row (rotated), in registers
  var qr: array<f32, ${D}>;
  let qb = ((b * P.H + h) * P.L + iq) * D;
  for (var c = 0u; c < D; c++) { qr[c] = q[qb + c]; }${qRotate}
  ${hasBias ? "let qp = qpos[iq];" : ""}
  let t = P.qOff + i32(iq);

  // keys any query of this block can see; all of them if one query sees none
  let t0 = P.qOff + i32(wg.x * BQ);
  let t1 = P.qOff + i32(min(wg.x * BQ + BQ, P.L)) - 1;
  var lo = 0;
  var hi = i32(P.S) - 1;
  if (t1 - P.left < i32(P.S)) {
    lo = max(0, t0 - P.left);
    hi = min(hi, t1 + P.right);
  }

  var m = LOWEST;
  var l = 0.0;
  var acc: array<f32, ${Dv}>;
  for (var c = 0u; c < DV; c++) { acc[c] = 0.0; }
  var s: array<f32, ${BK}>;
  let kvBase = (b * P.Hkv + hk) * P.S;

  for (var j0 = u32(lo); j0 <= u32(hi); j0 += BK) {
    workgroupBarrier();
    for (var e = lid; e < BK * D; e += BQ) {
      let j = j0 + e / D;
      let c = e % D;
      var x = 0.0;
      if (j < P.S) {
        let kb = (kvBase + j) * D;
        x = k[kb + c];${kRotate}
      }
      kt[e] = x;
    }
    for (var e = lid; e < BK * DV; e += BQ) {
      let j = j0 + e / DV;
      var x = 0.0;
      if (j < P.S) { x = v[(kvBase + j) * DV + e % DV]; }
      vt[e] = x;
    }
    workgroupBarrier();

    var mt = m;
    for (var jj = 0u; jj < BK; jj++) {
      let j = j0 + jj;
      var dot = 0.0;
      for (var c = 0u; c < D; c++) { dot += qr[c] * kt[jj * D + c]; }
      var logit = dot * P.scale;
      ${hasBias ? "logit = logit + bias(h, qp, kpos[min(j, P.S - 1u)]);" : ""}
      let dt = t - i32(j);
      logit = select(LOWEST, logit, dt <= P.left && -dt <= P.right);
      s[jj] = logit;
      if (j < P.S) { mt = max(mt, logit); }
    }
    let alpha = exp(m - mt);
    l = l * alpha;
    for (var c = 0u; c < DV; c++) { acc[c] = acc[c] * alpha; }
    for (var jj = 0u; jj < BK; jj++) {
      if (j0 + jj < P.S) {
        let p = exp(s[jj] - mt);
        l = l + p;
        for (var c = 0u; c < DV; c++) { acc[c] = acc[c] + p * vt[jj * DV + c]; }
      }
    }
    m = mt;
  }

  if (i < P.L) {
    let ob = ((b * P.H + h) * P.L + i) * DV;
    for (var c = 0u; c < DV; c++) { o[ob + c] = acc[c] / l; }
  }
}
`;
}
