/**
 * What a benchmark case is for `npm run bench` (bench/run.ts): a computation
 * at sequence length L, the implementations of it that posenc has (a fused
 * WebGPU kernel, the jitted jax-js composite), its FLOP count and the
 * minimum bytes it must move. A case lists its implementations; adding one
 * (e.g. a new fused kernel) is adding one function to that list.
 */
import type { numpy as np } from "@jax-js/jax";
import type { GpuTensor } from "../../src/kernels/webgpu/gpuTensor.js";
import type { Runtime } from "../../src/runtime/init.js";

/** The fixed shape of every case: batch, heads, head dim (= value dim), random features. */
export const SHAPE = { B: 1, H: 8, D: 64, M: 64 } as const;

/** The device the cases run on, as the harness found it. */
export interface BenchEnv {
  runtime: Runtime;
  /** Whether WebGPU is the device (fused kernels need it). */
  webgpu: boolean;
  /** Whether the WebGPU adapter is a CPU/software one (lavapipe, SwiftShader). */
  software: boolean;
}

/** A result still on the device: read once for the agreement check, or dropped. */
export interface Output {
  /** Its values on the host; frees the result. */
  read(): Promise<ArrayLike<number>>;
  /** Frees the result unread. */
  dispose(): void;
}

/** A composite's jax-js array as an `Output` (`data()` consumes the array). */
export function arrayOutput(a: np.Array): Output {
  return { read: () => a.data(), dispose: () => a.dispose() };
}

/** A fused kernel's `GpuTensor` as an `Output`. */
export function tensorOutput(t: GpuTensor): Output {
  return {
    read: async () => {
      const values = await t.data();
      t.dispose();
      return values;
    },
    dispose: () => t.dispose(),
  };
}

/** One way of computing a case. */
export interface Implementation {
  /** "fused": one posenc WebGPU kernel; "composite": jitted jax-js operations. */
  role: "fused" | "composite";
  /** What runs, e.g. "flashAttention" or "jit(attention)". */
  name: string;
  /** Why it cannot run on this device at this size, or null. */
  skip: string | null;
  /** Anything the table should say about this choice of implementation. */
  note?: string;
  /** One forward pass; resolves once its GPU work is submitted (fused) or its output realized (composite). */
  run(): Promise<Output>;
  /** Frees what it holds (compiled programs). */
  dispose(): void;
}

/** The implementations of a case at one size, over inputs they share. */
export interface CaseInstance {
  implementations: Implementation[];
  /** Frees the shared inputs. */
  dispose(): void;
}

/** Which PyTorch anchor of scripts/bench/torch_anchor.py a case is compared with. */
export type TorchAnchor = "sdpa_causal" | "sdpa_bias" | "kernelized";

export interface BenchCase {
  /** Short name used in the table and the JSON. */
  id: string;
  /** The `--cases` group it belongs to. */
  group: "softmax" | "kernelized";
  /** One line saying what is computed. */
  title: string;
  torch: TorchAnchor;
  /** max |fused - composite| <= atol + rtol |composite| for the outputs to agree; none: max |diff| is reported only. */
  tolerance?: { rtol: number; atol: number };
  /** Floating-point operations of one forward pass (see each case for the count). */
  flops(L: number): number;
  /** Bytes that any implementation must read and write at least (inputs once, output once). */
  bytes(L: number): number;
  /** Inputs for length L and the implementations over them. */
  setup(L: number, env: BenchEnv): CaseInstance;
}

/** float32 N(0, 1) values from a seeded generator. */
export function normals(n: number, next: () => number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = next();
  return out;
}

/** Bytes as "1.5 GiB" / "64 MiB". */
export function formatBytes(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GiB` : `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}
