/**
 * The output type of posenc's fused WebGPU kernels, and the buffer plumbing
 * they share.
 *
 * Interop with `@jax-js/jax` 0.1.25: a kernel reads jax-js arrays through
 * `array.gpuBuffer()` (a read-only view of the array's storage on the device
 * from `getWebGPUDevice()`) and writes its result into a buffer of its own,
 * returned as a `GpuTensor`. `toJaxArray` moves a `GpuTensor` into jax-js
 * without leaving the GPU: it allocates a fresh jax-js array for it (one that
 * posenc created and nobody else holds), takes that array's buffer and copies
 * the tensor into it before anything reads the array; jax-js then reads, jits
 * and differentiates those values (test/kernels/interop.webgpu.test.ts pins
 * this; it is never done to an array a user passed in). Kernels that accept a
 * `GpuTensor` as input (e.g. `rope`) chain without a copy.
 *
 * Every buffer a kernel creates or binds is checked first against the
 * device's `maxBufferSize` and `maxStorageBufferBindingSize` (or a smaller
 * `limits` override, for tests): Dawn would otherwise log a validation error
 * and return wrong numbers.
 */
import { getWebGPUDevice, numpy as np } from "@jax-js/jax";
import { fail } from "../../core/validate.js";

/** Buffer limits a kernel checks against; defaults are the device's. */
export interface KernelLimits {
  maxStorageBufferBindingSize?: number;
  maxBufferSize?: number;
}

/** A float32 tensor in a GPUBuffer owned by posenc (row-major, contiguous). */
export class GpuTensor {
  readonly dtype = "float32" as const;
  #buffer: GPUBuffer | null;

  constructor(
    readonly shape: readonly number[],
    buffer: GPUBuffer,
  ) {
    this.#buffer = buffer;
  }

  /** Number of elements. */
  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  /** The storage buffer (STORAGE | COPY_SRC); throws after `dispose()`. */
  get buffer(): GPUBuffer {
    if (!this.#buffer) throw new Error(`GpuTensor: used after dispose(), shape (${this.shape.join(", ")})`);
    return this.#buffer;
  }

  /** Copies the values back to the host (waits for the GPU work that writes them). */
  async data(): Promise<Float32Array> {
    const bytes = this.size * 4;
    if (bytes === 0) return new Float32Array(0);
    return readFloats(getWebGPUDevice(), this.buffer, 0, bytes);
  }

  /** Frees the buffer (work already submitted that reads it still completes). */
  dispose(): void {
    this.#buffer?.destroy();
    this.#buffer = null;
  }
}

/** `bytes` of a GPU buffer (COPY_SRC) from `offset`, as float32 values, through a staging buffer; waits for the work that writes them. */
export async function readFloats(device: GPUDevice, buffer: GPUBuffer, offset: number, bytes: number): Promise<Float32Array> {
  const staging = device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const encoder = device.createCommandEncoder();
  encoder.copyBufferToBuffer(buffer, offset, staging, 0, bytes);
  device.queue.submit([encoder.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const out = new Float32Array(staging.getMappedRange().slice(0));
  staging.unmap();
  staging.destroy();
  return out;
}

/** A jax-js float32 array with the tensor's values, by a copy on the GPU (no readback); disposes the tensor. */
export async function toJaxArray(t: GpuTensor): Promise<np.Array> {
  const shape = [...t.shape];
  const bytes = 4 * shape.reduce((a, b) => a * b, 1);
  // fresh: created here for this output, held by nobody else, written before anything reads it
  const out = np.zeros(shape, { dtype: np.float32, device: "webgpu" });
  if (bytes > 0) {
    const target = await out.ref.gpuBuffer();
    const device = getWebGPUDevice();
    const encoder = device.createCommandEncoder();
    encoder.copyBufferToBuffer(t.buffer, 0, target, 0, bytes);
    device.queue.submit([encoder.finish()]);
  }
  t.dispose(); // submitted work keeps the source alive
  return out;
}

/**
 * A fresh jax-js float32 array on WebGPU and its storage buffer, for a kernel to write its output into
 * before anything reads the array (module header: only into an array created here, held by nobody else).
 */
export async function freshJaxArray(shape: number[]): Promise<{ array: np.Array; buffer: GPUBuffer }> {
  const array = np.zeros(shape, { dtype: np.float32, device: "webgpu" });
  return { array, buffer: await array.ref.gpuBuffer() };
}

/** The device limits, lowered by an override. */
export function resolveLimits(device: GPUDevice, override: KernelLimits | undefined): Required<KernelLimits> {
  return {
    maxStorageBufferBindingSize: Math.min(device.limits.maxStorageBufferBindingSize, override?.maxStorageBufferBindingSize ?? Infinity),
    maxBufferSize: Math.min(device.limits.maxBufferSize, override?.maxBufferSize ?? Infinity),
  };
}

/** Throws `fn: <what> needs N bytes ...` when a storage buffer of `bytes` exceeds the limits. */
export function checkBufferSize(fn: string, what: string, bytes: number, limits: Required<KernelLimits>): void {
  const cap = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
  if (bytes > cap) {
    fail(
      fn,
      `${what} needs ${bytes} bytes, more than the device allows for one storage buffer ` +
        `(maxStorageBufferBindingSize ${limits.maxStorageBufferBindingSize}, maxBufferSize ${limits.maxBufferSize})`,
    );
  }
}

/** A new STORAGE buffer, at least 4 bytes, filled with `values` when given. */
export function storageBuffer(device: GPUDevice, bytes: number, values?: Float32Array | Uint32Array, extraUsage = 0): GPUBuffer {
  const size = Math.max(4, Math.ceil(bytes / 4) * 4);
  const buffer = device.createBuffer({
    size,
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST | extraUsage,
  });
  if (values && values.byteLength > 0) device.queue.writeBuffer(buffer, 0, values.buffer, values.byteOffset, values.byteLength);
  return buffer;
}

/** A UNIFORM buffer holding `words` (32-bit each; pad to 16 bytes). */
export function uniformBuffer(device: GPUDevice, words: ArrayBuffer): GPUBuffer {
  const size = Math.ceil(words.byteLength / 16) * 16;
  const buffer = device.createBuffer({ size, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(buffer, 0, words, 0, words.byteLength);
  return buffer;
}

/** A WGSL f32 literal with the exact bits of fround(x). */
export function f32Literal(x: number): string {
  const bits = new Uint32Array(new Float32Array([x]).buffer)[0];
  return `bitcast<f32>(${bits}u)`;
}

/** Workgroup counts (x, y) covering `groups` workgroups within the per-dimension limit. */
export function grid2d(device: GPUDevice, fn: string, groups: number): [number, number] {
  const max = device.limits.maxComputeWorkgroupsPerDimension;
  const x = Math.min(groups, max);
  const y = Math.ceil(groups / Math.max(1, x));
  if (y > max) fail(fn, `${groups} workgroups exceed the device's ${max} x ${max} dispatch limit`);
  return [Math.max(1, x), Math.max(1, y)];
}
