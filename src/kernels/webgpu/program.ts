/**
 * The host layer of posenc's WebGPU kernels: what every kernel call does
 * around its WGSL, written once.
 *
 * - `consuming(owned, body)`: runs a kernel call that consumes jax-js arrays
 *   (as jax-js functions consume their arguments), disposing them once the
 *   call returns and also when it throws, so that a refused call leaks nothing.
 * - `program(spec)`: a kernel program declared, not hand-numbered: its uniform
 *   fields (the block `P`), its storage buffers (name, element type, read or
 *   written), its workgroup size and its WGSL body. The declarations (struct,
 *   bindings, the entry point's attribute) are generated from the spec, so
 *   a binding number exists only here.
 * - `Dispatcher`: one command encoder and compute pass per call; binds a
 *   program's uniforms and buffers by name (every declared name must be
 *   given, nothing else), dispatches, tracks the temporaries it created and
 *   frees them after submitting (submitted work keeps what it reads alive).
 * - `onShaderCompiled`: a debug switch that hands every WGSL module compiled
 *   through a `PipelineCache` to a listener (to dump it or snapshot it).
 * - `PipelineCache`: programs compiled once per device and configuration.
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

/** A scalar field of a program's uniform block. */
export type UniformType = "u32" | "i32" | "f32";

/** A storage buffer of a program: `array<type>`, written by the program when `write`. */
export interface StorageBinding {
  name: string;
  /** WGSL element type, e.g. "f32", "vec4<f32>", "atomic<u32>". */
  type: string;
  write?: boolean;
}

/** A kernel program, declared. */
export interface ProgramSpec {
  /**
   * Pipeline-overridable constants (WGSL `override`): sizes and switches set when the pipeline is created, so
   * that one static module serves every configuration; a value's type is its WGSL declaration's.
   */
  overrides?: readonly (readonly [name: string, type: "u32" | "f32" | "bool", value: number | boolean])[];
  /** Fields of the uniform block `P`, in order; none: the program has no uniform block. */
  uniforms: readonly (readonly [name: string, type: UniformType])[];
  /** Storage buffers, in binding order. */
  storage: readonly StorageBinding[];
  /** Invocations per workgroup: x, or (x, y). */
  workgroupSize: number | readonly [number, number];
  /** WGSL before the declarations (e.g. "enable f16;"). */
  enable?: string;
  /** WGSL after the declarations: constants, workgroup memory, helpers and `fn main(...)`, whose attribute is added. */
  body: string;
}

/** A declared program and its generated WGSL. */
export interface Program {
  readonly spec: ProgramSpec;
  readonly code: string;
}

/** Generates a program's WGSL: the uniform struct and bindings from the spec, then its body with the entry point marked. */
export function program(spec: ProgramSpec): Program {
  const main = spec.body.indexOf("\nfn main(");
  if (main < 0 || spec.body.indexOf("\nfn main(", main + 1) >= 0)
    throw new Error("program: the body must define fn main once, at a line start");
  const lines: string[] = spec.enable ? [spec.enable] : [];
  for (const [name, type] of spec.overrides ?? []) lines.push(`override ${name}: ${type};`);
  let binding = 0;
  if (spec.uniforms.length > 0) {
    // a uniform block is a multiple of 16 bytes
    const pad = Array.from({ length: (4 - (spec.uniforms.length % 4)) % 4 }, (_, i) => `pad${i}: u32`);
    lines.push(`struct Params { ${[...spec.uniforms.map(([n, t]) => `${n}: ${t}`), ...pad].join(", ")} }`);
    lines.push(`@group(0) @binding(${binding++}) var<uniform> P: Params;`);
  }
  for (const b of spec.storage)
    lines.push(`@group(0) @binding(${binding++}) var<storage, ${b.write ? "read_write" : "read"}> ${b.name}: array<${b.type}>;`);
  const body = `${spec.body.slice(0, main)}\n@compute @workgroup_size(${[spec.workgroupSize].flat().join(", ")})${spec.body.slice(main)}`;
  return { spec, code: `${lines.join("\n")}\n${body}` };
}

/** A compiled program. */
export interface Kernel {
  readonly pipeline: GPUComputePipeline;
  readonly program: Program;
}

/** What one dispatch binds: every uniform field by name (a number) and every storage buffer by name. */
export type Arguments = Readonly<Record<string, number | GPUBuffer>>;

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

  /** Binds `args` to the kernel's declared names (see `Arguments`) and dispatches `groups` workgroups. */
  dispatch(kernel: Kernel, args: Arguments, groups: Groups): void {
    const [x, y = 1, z = 1] = typeof groups === "number" ? this.grid(groups) : groups;
    const { uniforms, storage } = kernel.program.spec;
    const declared = new Set([...uniforms.map(([n]) => n), ...storage.map((b) => b.name)]);
    for (const name of Object.keys(args)) if (!declared.has(name)) this.#bug(`${name} is not declared by the program`);
    const buffers: GPUBuffer[] = [];
    if (uniforms.length > 0) {
      const words = new ArrayBuffer(16 * Math.ceil(uniforms.length / 4));
      const [u, i, f] = [new Uint32Array(words), new Int32Array(words), new Float32Array(words)];
      uniforms.forEach(([name, type], w) => {
        const value = args[name];
        if (typeof value !== "number") this.#bug(`uniform ${name} needs a number, got ${typeof value}`);
        (type === "u32" ? u : type === "i32" ? i : f)[w] = value as number;
      });
      buffers.push(this.#track(uniformBuffer(this.#device, words))); // freed after submit
    }
    for (const b of storage) {
      const buffer = args[b.name];
      if (typeof buffer === "number" || buffer === undefined) this.#bug(`storage buffer ${b.name} needs a GPUBuffer, got ${typeof buffer}`);
      buffers.push(buffer as GPUBuffer);
    }
    const entries = buffers.map((buffer, binding) => ({ binding, resource: { buffer } }));
    this.#pass ??= this.#encoder.beginComputePass();
    this.#pass.setPipeline(kernel.pipeline);
    this.#pass.setBindGroup(0, this.#device.createBindGroup({ layout: kernel.pipeline.getBindGroupLayout(0), entries }));
    this.#pass.dispatchWorkgroups(x, y, z);
  }

  /** Ends the pass, submits the work and frees the temporaries. */
  submit(): void {
    this.#pass?.end();
    this.#pass = null;
    this.#device.queue.submit([this.#encoder.finish()]);
    for (const t of this.#temps.splice(0)) t.destroy();
  }

  /** A dispatch that does not match its program: a defect of the calling kernel, not of the user's input. */
  #bug(message: string): never {
    return fail(this.#fn, `internal error, ${message}`);
  }

  #track(buffer: GPUBuffer): GPUBuffer {
    this.#temps.push(buffer);
    return buffer;
  }
}

/** Kernels compiled once per device and configuration key; a shader module once per device and WGSL text. */
export class PipelineCache {
  #byDevice = new WeakMap<GPUDevice, Map<string, Kernel>>();
  #modules = new WeakMap<GPUDevice, Map<string, GPUShaderModule>>();

  /** The kernel for `key`, compiled from `source()` the first time; shader errors are thrown, naming `fn`. */
  async get(device: GPUDevice, fn: string, key: string, source: () => Program): Promise<Kernel> {
    let cache = this.#byDevice.get(device);
    if (!cache) this.#byDevice.set(device, (cache = new Map()));
    let kernel = cache.get(key);
    if (!kernel) {
      const prog = source();
      const code = prog.code;
      shaderCompiled(fn, key, code);
      let modules = this.#modules.get(device);
      if (!modules) this.#modules.set(device, (modules = new Map()));
      let module = modules.get(code);
      if (!module) {
        module = device.createShaderModule({ code });
        const errors = (await module.getCompilationInfo()).messages.filter((m) => m.type === "error");
        if (errors.length > 0)
          fail(
            fn,
            `WGSL compilation failed for configuration ${key}: ${errors.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`).join("; ")}`,
          );
        modules.set(code, module);
      }
      const constants = Object.fromEntries((prog.spec.overrides ?? []).map(([name, , value]) => [name, Number(value)]));
      const pipeline = await device.createComputePipelineAsync({ layout: "auto", compute: { module, entryPoint: "main", constants } });
      kernel = { pipeline, program: prog };
      cache.set(key, kernel);
    }
    return kernel;
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
function shaderCompiled(fn: string, key: string, code: string): void {
  listener?.(fn, key, code);
}
