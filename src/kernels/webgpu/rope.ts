/**
 * Rotary position embedding applied in one WebGPU pass, float32: the fused
 * form of `rotaryTables` + `applyRotary` (attention/rotary.ts), with the same
 * float32 steps, so it equals the composite on the same device up to the
 * rounding of a fused multiply-add:
 *
 *   angle    = p_l * invFreq[f(c)]                       (f32 product)
 *   out[c]   = x[c] (cos(angle) a) + rot(x)[c] (sin(angle) a)     c < R
 *   out[c]   = x[c]                                                c >= R
 *
 * for x (..., L, D), positions p (L), R = 2 invFreq.length <= D (partial
 * rotary), a the attention factor. "halves": f(c) = c mod R/2, rot(x) =
 * [-x2, x1]; "interleaved": f(c) = floor(c / 2), rot(x)[2i] = -x[2i+1],
 * rot(x)[2i+1] = x[2i]. One invocation per output element.
 *
 * Input: a jax-js float32 array on WebGPU (read through `gpuBuffer()`, never
 * written, consumed as jax-js functions consume their arguments) or a
 * `GpuTensor` (read, left to its owner). Output: a new `GpuTensor`; bring it
 * back into jax-js with `toJaxArray` (a readback).
 *
 * Reference: Su et al., https://arxiv.org/abs/2104.09864; HF transformers
 * `apply_rotary_pos_emb`.
 */
import { getWebGPUDevice, numpy as np } from "@jax-js/jax";
import { checkPairing, type Pairing } from "../../pe/rope/pairing.js";
import { fail } from "../../core/validate.js";
import {
  checkBufferSize,
  GpuTensor,
  grid2d,
  PipelineCache,
  resolveLimits,
  storageBuffer,
  uniformBuffer,
  type KernelLimits,
} from "./gpuTensor.js";

export interface RopeKernelOptions {
  pairing: Pairing;
  /** R/2 inverse frequencies; R <= D coordinates are rotated. */
  invFreq: ArrayLike<number>;
  /** Multiplies cos and sin (YaRN / LongRoPE attention factor); default 1. */
  attentionFactor?: number;
  /** L positions; default offset + l. */
  positions?: ArrayLike<number>;
  /** First position when `positions` is not given; default 0. */
  offset?: number;
  /** Lower buffer limits than the device's (for tests). */
  limits?: KernelLimits;
}

const FN = "rope";
const WORKGROUP = 256;
const pipelines = new PipelineCache();

/** Rotates x (..., L, D) by positions; returns a new float32 `GpuTensor` of the same shape. */
export async function rope(x: np.Array | GpuTensor, options: RopeKernelOptions): Promise<GpuTensor> {
  const owned = x instanceof GpuTensor ? null : x;
  const abort = (message: string): never => {
    owned?.dispose();
    return fail(FN, message);
  };
  const shape = [...x.shape];
  const shapeText = `(${shape.join(", ")})`;
  if (owned) {
    if (owned.device !== "webgpu") abort(`x must be on the webgpu device, got ${owned.device} (shape ${shapeText})`);
    if (owned.dtype !== np.float32) abort(`x must be float32, got ${owned.dtype} (shape ${shapeText})`);
  }
  if (shape.length < 2) abort(`x must be (..., L, D), got shape ${shapeText}`);
  const L = shape[shape.length - 2];
  const D = shape[shape.length - 1];
  try {
    checkPairing(FN, options?.pairing);
  } catch (err) {
    owned?.dispose();
    throw err;
  }
  const half = options.invFreq?.length ?? 0;
  const R = 2 * half;
  if (half < 1 || R > D) abort(`invFreq must hold 1..D/2 = ${Math.floor(D / 2)} frequencies for x ${shapeText}, got ${half}`);
  const inv = Float32Array.from(options.invFreq);
  if (!inv.every(Number.isFinite)) abort("invFreq must be finite");
  const a = options.attentionFactor ?? 1;
  if (!Number.isFinite(a)) abort(`options.attentionFactor must be finite, got ${a}`);
  const offset = options.offset ?? 0;
  if (!Number.isFinite(offset)) abort(`options.offset must be finite, got ${offset}`);
  let pos: Float32Array;
  if (options.positions !== undefined) {
    if (options.positions.length !== L) abort(`options.positions must hold L = ${L} positions for x ${shapeText}, got ${options.positions.length}`);
    pos = Float32Array.from(options.positions);
    if (!pos.every(Number.isFinite)) abort("options.positions must be finite");
  } else {
    pos = Float32Array.from({ length: L }, (_, l) => offset + l);
  }

  const device = getWebGPUDevice();
  const limits = resolveLimits(device, options.limits);
  const total = shape.reduce((p, n) => p * n, 1);
  try {
    checkBufferSize(FN, `x ${shapeText} float32`, total * 4, limits);
    checkBufferSize(FN, `output ${shapeText} float32`, total * 4, limits);
    if (total >= 2 ** 32) fail(FN, `x ${shapeText} has more than 2^32 elements`);
  } catch (err) {
    owned?.dispose();
    throw err;
  }
  let pipeline: GPUComputePipeline;
  try {
    pipeline = await pipelines.get(device, FN, `${D}:${R}:${options.pairing}`, () => ropeSource(D, R, options.pairing));
  } catch (err) {
    owned?.dispose();
    throw err;
  }
  const out = new GpuTensor(shape, storageBuffer(device, total * 4));
  if (total === 0) {
    owned?.dispose();
    return out;
  }
  const input = owned ? await owned.ref.gpuBuffer() : (x as GpuTensor).buffer;
  const groups = Math.ceil(total / WORKGROUP);
  const [gx, gy] = grid2d(device, FN, groups);
  const params = new ArrayBuffer(16);
  new Uint32Array(params, 0, 3).set([total, L, gx * WORKGROUP]);
  new Float32Array(params, 12, 1)[0] = a;
  const temps = [uniformBuffer(device, params), storageBuffer(device, pos.byteLength, pos), storageBuffer(device, inv.byteLength, inv)];
  const bind = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [
      { binding: 0, resource: { buffer: temps[0] } },
      { binding: 1, resource: { buffer: input } },
      { binding: 2, resource: { buffer: out.buffer } },
      { binding: 3, resource: { buffer: temps[1] } },
      { binding: 4, resource: { buffer: temps[2] } },
    ],
  });
  const encoder = device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bind);
  pass.dispatchWorkgroups(gx, gy);
  pass.end();
  device.queue.submit([encoder.finish()]);
  // Submitted work keeps what it reads alive; jax-js may reuse x's buffer only for later work.
  for (const t of temps) t.destroy();
  owned?.dispose();
  return out;
}

/** Number of compiled RoPE pipelines on the current device (one per D, R, pairing). */
export function ropePipelineCount(): number {
  return pipelines.size(getWebGPUDevice());
}

function ropeSource(D: number, R: number, pairing: Pairing): string {
  // partner coordinate and sign of rot(x)[c]
  const partner =
    pairing === "halves"
      ? `let first = c < ${R / 2}u; let f = select(c - ${R / 2}u, c, first); let pc = select(c - ${R / 2}u, c + ${R / 2}u, first);`
      : `let first = (c & 1u) == 0u; let f = c >> 1u; let pc = select(c - 1u, c + 1u, first);`;
  return /* wgsl */ `
struct Params { total: u32, L: u32, stride: u32, factor: f32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read> pos: array<f32>;
@group(0) @binding(4) var<storage, read> invFreq: array<f32>;

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let e = gid.y * P.stride + gid.x;
  if (e >= P.total) { return; }
  let c = e % ${D}u;
  let xc = x[e];
  if (c >= ${R}u) { y[e] = xc; return; }
  ${partner}
  let l = (e / ${D}u) % P.L;
  let angle = pos[l] * invFreq[f];
  let cs = cos(angle) * P.factor;
  let sn = sin(angle) * P.factor;
  let xp = x[e - c + pc];
  let rot = select(xp, -xp, first);
  y[e] = xc * cs + rot * sn;
}
`;
}
