/**
 * WebGPU for Node through Dawn (the `webgpu` package).
 *
 * Dawn's `GPU` object must stay referenced for the whole run: if it is
 * garbage-collected, Dawn crashes or hangs. It is therefore installed on
 * `globalThis.navigator.gpu`, where `@jax-js/jax` looks for it, together with
 * the `userAgent` and `hardwareConcurrency` fields jax-js also reads.
 */
import os from "node:os";

const isNode = typeof process !== "undefined" && !!process.versions?.node;

/** Whether this engine is Node (as opposed to a browser or worker). */
export function runningInNode(): boolean {
  return isNode;
}

/**
 * Makes `navigator.gpu` available in Node by creating Dawn's GPU object once.
 * Returns the GPU object, or throws when the `webgpu` package cannot load.
 */
export async function installNodeGpu(): Promise<GPU> {
  const nav = ensureNavigator();
  if (nav.gpu) return nav.gpu;
  let mod: { create(options: string[]): GPU; globals: object };
  try {
    mod = (await import("webgpu")) as typeof mod;
  } catch (err) {
    throw new Error(
      `posenc.init: device "webgpu" needs the "webgpu" package (Dawn) in Node, and it failed to load: ${(err as Error).message}`,
    );
  }
  // GPUBufferUsage, GPUShaderStage, ... as globals, as a browser has them.
  for (const [key, value] of Object.entries(mod.globals)) {
    if (!(key in globalThis)) (globalThis as Record<string, unknown>)[key] = value;
  }
  const gpu = mod.create([]);
  Object.defineProperty(nav, "gpu", { value: gpu, configurable: true, enumerable: true });
  return gpu;
}

interface MutableNavigator {
  gpu?: GPU;
  userAgent?: string;
  hardwareConcurrency?: number;
}

/** Node 20 has no `navigator`; Node >= 21 has one without `gpu`. */
function ensureNavigator(): MutableNavigator {
  const g = globalThis as { navigator?: MutableNavigator };
  if (g.navigator === undefined) {
    Object.defineProperty(globalThis, "navigator", {
      value: {
        userAgent: `Node.js/${process.versions.node}`,
        hardwareConcurrency: os.availableParallelism?.() ?? os.cpus().length,
      },
      configurable: true,
      writable: true,
    });
  }
  return g.navigator as MutableNavigator;
}
