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
 * rot(x)[2i+1] = x[2i]. One invocation per output element (the shader is
 * rotateShader.ts, shared with the RoPE pass of `flashAttention`).
 *
 * Input: a jax-js float32 array on WebGPU (read through `gpuBuffer()`, never
 * written, consumed as jax-js functions consume their arguments) or a
 * `GpuTensor` (read, left to its owner). Output: a new `GpuTensor`; bring it
 * back into jax-js with `toJaxArray` (a copy on the GPU).
 *
 * Reference: Su et al., https://arxiv.org/abs/2104.09864; HF transformers
 * `apply_rotary_pos_emb`.
 */
import { getWebGPUDevice, numpy as np } from "@jax-js/jax";
import { fail } from "../../core/validate.js";
import { checkPairing, type Pairing } from "../../pe/rope/pairing.js";
import { checkBufferSize, GpuTensor, type KernelLimits, resolveLimits, storageBuffer } from "./gpuTensor.js";
import { consuming, Dispatcher, PipelineCache } from "./program.js";
import { ROTATE_THREADS, rotateProgram } from "./rotateShader.js";

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
const pipelines = new PipelineCache();

/** Rotates x (..., L, D) by positions; returns a new float32 `GpuTensor` of the same shape. */
export async function rope(x: np.Array | GpuTensor, options: RopeKernelOptions): Promise<GpuTensor> {
  const owned = x instanceof GpuTensor ? null : x;
  return consuming([owned], async () => {
    const shape = [...x.shape];
    const shapeText = `(${shape.join(", ")})`;
    if (owned) {
      if (owned.device !== "webgpu") fail(FN, `x must be on the webgpu device, got ${owned.device} (shape ${shapeText})`);
      if (owned.dtype !== np.float32) fail(FN, `x must be float32, got ${owned.dtype} (shape ${shapeText})`);
    }
    if (shape.length < 2) fail(FN, `x must be (..., L, D), got shape ${shapeText}`);
    const L = shape[shape.length - 2];
    const D = shape[shape.length - 1];
    checkPairing(FN, options?.pairing);
    const half = options.invFreq?.length ?? 0;
    const R = 2 * half;
    if (half < 1 || R > D) fail(FN, `invFreq must hold 1..D/2 = ${Math.floor(D / 2)} frequencies for x ${shapeText}, got ${half}`);
    const inv = Float32Array.from(options.invFreq);
    if (!inv.every(Number.isFinite)) fail(FN, "invFreq must be finite");
    const a = options.attentionFactor ?? 1;
    if (!Number.isFinite(a)) fail(FN, `options.attentionFactor must be finite, got ${a}`);
    const offset = options.offset ?? 0;
    if (!Number.isFinite(offset)) fail(FN, `options.offset must be finite, got ${offset}`);
    let pos: Float32Array;
    if (options.positions !== undefined) {
      if (options.positions.length !== L)
        fail(FN, `options.positions must hold L = ${L} positions for x ${shapeText}, got ${options.positions.length}`);
      pos = Float32Array.from(options.positions);
      if (!pos.every(Number.isFinite)) fail(FN, "options.positions must be finite");
    } else {
      pos = Float32Array.from({ length: L }, (_, l) => offset + l);
    }

    const device = getWebGPUDevice();
    const limits = resolveLimits(device, options.limits);
    const total = shape.reduce((p, n) => p * n, 1);
    checkBufferSize(FN, `x ${shapeText} float32`, total * 4, limits);
    checkBufferSize(FN, `output ${shapeText} float32`, total * 4, limits);
    if (total >= 2 ** 32) fail(FN, `x ${shapeText} has more than 2^32 elements`);
    const pipeline = await pipelines.get(device, FN, `${D}:${R}:${options.pairing}`, () => rotateProgram(D, R, options.pairing));
    const out = new GpuTensor(shape, storageBuffer(device, total * 4));
    if (total === 0) return out;
    const input = owned ? await owned.ref.gpuBuffer() : (x as GpuTensor).buffer;
    const run = new Dispatcher(device, FN);
    const groups = run.grid(Math.ceil(total / ROTATE_THREADS));
    // every row of every head rotated: one head of L rows
    const uniforms = { total, rows: L, heads: 1, first: 0, stride: groups[0] * ROTATE_THREADS, factor: a };
    const buffers = { x: input, y: out.buffer, pos: run.temporary(pos.byteLength, pos), invFreq: run.temporary(inv.byteLength, inv) };
    run.dispatch(pipeline, { ...uniforms, ...buffers }, groups);
    run.submit();
    return out;
  });
}

/** Number of compiled RoPE pipelines on the current device (one per D, R, pairing). */
export function ropePipelineCount(): number {
  return pipelines.size(getWebGPUDevice());
}
