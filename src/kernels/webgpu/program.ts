/**
 * The host layer of posenc's WebGPU kernels: what every kernel call does
 * around its WGSL, written once.
 *
 * - `consuming(owned, body)`: runs a kernel call that consumes jax-js arrays
 *   (as jax-js functions consume their arguments), disposing them once the
 *   call returns and also when it throws, so that a refused call leaks nothing.
 * - `Dispatcher`: one command encoder and compute pass per call; binds a
 *   pipeline's buffers by binding number (the uniform block at 0 when the
 *   program has one, then storage buffers 1, 2, ...), dispatches, tracks the
 *   temporaries it created and frees them after submitting (submitted work
 *   keeps what it reads alive).
 * - `onShaderCompiled`: a debug switch that hands every WGSL module compiled
 *   through a `PipelineCache` to a listener (to dump it or snapshot it).
 * - `PipelineCache`: pipelines compiled once per device and configuration.
 */
import type { numpy as np } from "@jax-js/jax";
import { fail } from "../../core/validate.js";
import { grid2d, storageBuffer, uniformBuffer } from "./gpuTensor.js";

/**
 * Runs `body`, then disposes `owned` (the jax-js arrays the call consumes),
 * whether `body` returned or threw.
 */
export async function consuming<T>(owned: readonly (np.Array | undefined | null)[], body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } finally {
    for (const a of owned) a?.dispose();
  }
}

/** Workgroup counts: (x, y, z), or a total spread over a 2-D grid within the device's per-dimension limit. */
export type Groups = number | readonly [number, number] | readonly [number, number, number];

/** One command encoder and compute pass of a kernel call. */
export class Dispatcher {
  readonly #device: GPUDevice;
  readonly #fn: string;
  readonly #encoder: GPUCommandEncoder;
  #pass: GPUComputePassEncoder | null = null;
  readonly #temps: GPUBuffer[] = [];

  constructor(device: GPUDevice, fn: string) {
    this.#device = device;
    this.#fn = fn;
    this.#encoder = device.createCommandEncoder();
  }

  /** The (x, y) grid covering `total` workgroups (see `grid2d`). */
  grid(total: number): [number, number] {
    return grid2d(this.#device, this.#fn, total);
  }

  /** A uniform buffer holding `words`, freed after `submit`. */
  uniform(words: ArrayBuffer): GPUBuffer {
    return this.#track(uniformBuffer(this.#device, words));
  }

  /** A storage buffer of `bytes` (filled with `values` when given), freed after `submit`. */
  temporary(bytes: number, values?: Float32Array | Uint32Array): GPUBuffer {
    return this.#track(storageBuffer(this.#device, bytes, values));
  }

  /** Zeroes `buffer` before the dispatches that follow. */
  clear(buffer: GPUBuffer): void {
    this.#pass?.end();
    this.#pass = null;
    this.#encoder.clearBuffer(buffer);
  }

  /** Binds `bindings[i]` at binding i of group 0 and dispatches `groups` workgroups. */
  dispatch(pipeline: GPUComputePipeline, bindings: readonly GPUBuffer[], groups: Groups): void {
    const [x, y = 1, z = 1] = typeof groups === "number" ? this.grid(groups) : groups;
    const entries = bindings.map((buffer, binding) => ({ binding, resource: { buffer } }));
    this.#pass ??= this.#encoder.beginComputePass();
    this.#pass.setPipeline(pipeline);
    this.#pass.setBindGroup(0, this.#device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries }));
    this.#pass.dispatchWorkgroups(x, y, z);
  }

  /** Ends the pass, submits the work and frees the temporaries. */
  submit(): void {
    this.#pass?.end();
    this.#pass = null;
    this.#device.queue.submit([this.#encoder.finish()]);
    for (const t of this.#temps.splice(0)) t.destroy();
  }

  #track(buffer: GPUBuffer): GPUBuffer {
    this.#temps.push(buffer);
    return buffer;
  }
}

/** Compute pipelines compiled once per device and configuration key. */
export class PipelineCache {
  #byDevice = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();

  /** The pipeline for `key`, compiled from `source()` the first time; shader errors are thrown, naming `fn`. */
  async get(device: GPUDevice, fn: string, key: string, source: () => string): Promise<GPUComputePipeline> {
    let cache = this.#byDevice.get(device);
    if (!cache) this.#byDevice.set(device, (cache = new Map()));
    let pipeline = cache.get(key);
    if (!pipeline) {
      const code = source();
      shaderCompiled(fn, key, code);
      const module = device.createShaderModule({ code });
      const errors = (await module.getCompilationInfo()).messages.filter((m) => m.type === "error");
      if (errors.length > 0)
        fail(
          fn,
          `WGSL compilation failed for configuration ${key}: ${errors.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`).join("; ")}`,
        );
      pipeline = await device.createComputePipelineAsync({ layout: "auto", compute: { module, entryPoint: "main" } });
      cache.set(key, pipeline);
    }
    return pipeline;
  }

  /** Number of compiled pipelines on `device` (for tests). */
  size(device: GPUDevice): number {
    return this.#byDevice.get(device)?.size ?? 0;
  }
}

/** Receives each WGSL module as it is compiled: the kernel's name, the configuration key, the source. */
export type ShaderListener = (fn: string, key: string, code: string) => void;

let listener: ShaderListener | null = null;

/** Sets (or, with null, clears) the listener that receives every compiled WGSL module. */
export function onShaderCompiled(l: ShaderListener | null): void {
  listener = l;
}

/** Hands a module to the listener, if one is set (called by `PipelineCache`). */
export function shaderCompiled(fn: string, key: string, code: string): void {
  listener?.(fn, key, code);
}
