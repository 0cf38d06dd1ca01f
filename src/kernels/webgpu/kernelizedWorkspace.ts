/**
 * The work buffers of the fused kernelized kernel, kept per device between
 * calls by role (features, spectrum, scratch), and its twiddle table.
 */
import { getWebGPUDevice } from "@jax-js/jax";
import { twiddleTable } from "./fft.js";
import { storageBuffer } from "./gpuTensor.js";

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
export function workBuffer(device: GPUDevice, role: string, bytes: number): GPUBuffer {
  let pool = workspaces.get(device);
  if (!pool) workspaces.set(device, (pool = new Map()));
  const have = pool.get(role);
  if (have && have.size >= bytes) return have;
  have?.destroy();
  const buffer = storageBuffer(device, bytes);
  pool.set(role, buffer);
  return buffer;
}

/** The twiddle table of length-n transforms, kept until a call needs another n. */
export function twiddles(device: GPUDevice, n: number): GPUBuffer {
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
