/**
 * Size checks and work splitting for the attention composites that create
 * large intermediates (the FFT Toeplitz products of kernelized attention).
 *
 * jax-js does not refuse an array larger than the device can bind (WebGPU
 * `maxStorageBufferBindingSize`): Dawn reports a validation error and wrong
 * numbers come back. WebAssembly has a 4 GiB linear memory for all arrays
 * together, and jax-js's allocator never returns memory to the system. So the
 * composites check every array they create against two numbers:
 *
 * - `maxBufferBytes`: the hard limit of one array; by default the started
 *   device's `maxStorageBufferBindingSize` (`currentLimits()`). An array that
 *   cannot be split (the output) and is larger throws a clear error.
 * - `chunkBytes`: the target size of the largest intermediate of one chunk of
 *   work; the work is split (by head, then by channel block) so that no chunk
 *   exceeds it. Default min(16 MiB, maxBufferBytes). jax-js allocates all the
 *   buffers of the operations it has been given before it runs them, about 16
 *   arrays of up to that size per chunk of the FFT Toeplitz product; a caller
 *   that waits for each chunk before building the next
 *   (`kernelizedAttentionInChunks`) keeps ~256 MiB of them alive at most,
 *   above the inputs and the output, whatever the sequence length.
 *
 * Both can be passed explicitly (`memory: { maxBufferBytes, chunkBytes }`),
 * which is also how the tests simulate a device with small limits.
 */
import type { DType } from "@jax-js/jax";
import { describe, fail } from "../core/validate.js";
import { currentLimits } from "../runtime/init.js";

/** Default size of the largest intermediate array of one chunk of work. */
export const DEFAULT_CHUNK_BYTES = 16 * 2 ** 20;

export interface MemoryOptions {
  /** Largest array that may be created, in bytes (default: the device's `maxStorageBufferBindingSize`). */
  maxBufferBytes?: number;
  /** Target size of the largest intermediate of one chunk, in bytes (default min(16 MiB, maxBufferBytes)). */
  chunkBytes?: number;
}

export interface MemoryBudget {
  maxBufferBytes: number;
  chunkBytes: number;
}

/** Resolves the limits of `memory` against the started device. */
export function memoryBudget(fn: string, memory: MemoryOptions | undefined): MemoryBudget {
  const given = memory?.maxBufferBytes;
  if (given !== undefined && (!Number.isInteger(given) || given < 1)) {
    fail(fn, `memory.maxBufferBytes must be an integer >= 1, got ${describe(given)}`);
  }
  const maxBufferBytes = given ?? currentLimits().maxStorageBufferBindingSize;
  const chunk = memory?.chunkBytes;
  if (chunk !== undefined && (!Number.isInteger(chunk) || chunk < 1)) {
    fail(fn, `memory.chunkBytes must be an integer >= 1, got ${describe(chunk)}`);
  }
  if (chunk !== undefined && chunk > maxBufferBytes) {
    fail(fn, `memory.chunkBytes (${chunk}) must be <= maxBufferBytes (${maxBufferBytes})`);
  }
  return { maxBufferBytes, chunkBytes: chunk ?? Math.min(DEFAULT_CHUNK_BYTES, maxBufferBytes) };
}

/** Bytes per element of a float dtype. */
export function bytesPer(dtype: DType): number {
  return dtype === "float64" ? 8 : dtype === "float16" ? 2 : 4;
}

/** Throws unless an array of `shape` and `dtype` fits in `maxBufferBytes`. */
export function checkFits(fn: string, what: string, shape: number[], dtype: DType, budget: MemoryBudget): void {
  const bytes = shape.reduce((a, b) => a * b, 1) * bytesPer(dtype);
  if (bytes > budget.maxBufferBytes) {
    fail(
      fn,
      `${what} (${shape.join(", ")}) ${dtype} needs ${bytes} bytes, more than the device allows for one array ` +
        `(maxBufferBytes ${budget.maxBufferBytes}); use fewer heads, a shorter sequence or a smaller batch per call`,
    );
  }
}

/** Splits 0..total into ceil(total / maxSize) blocks of near-equal size (equal sizes let the allocator reuse buffers). */
export function blocks(total: number, maxSize: number): Array<[number, number]> {
  const count = Math.ceil(total / Math.max(1, maxSize));
  const size = Math.ceil(total / count);
  const out: Array<[number, number]> = [];
  for (let start = 0; start < total; start += size) out.push([start, Math.min(total, start + size)]);
  return out;
}
