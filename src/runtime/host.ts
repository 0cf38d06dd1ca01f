/**
 * What posenc needs from Node and a browser cannot give: Dawn's WebGPU, the
 * files the package ships (data/), optional packages, and files on disk.
 * Everything Node-only in posenc goes through this module, and only this
 * module imports `node:*` or `webgpu`.
 *
 * Bundlers for the browser read package.json's `"browser"` map and take
 * host.browser.ts instead: the same functions, where each Node-only one
 * throws an error that names the caller and its browser form.
 *
 * Dawn's `GPU` object must stay referenced for the whole run: if it is
 * garbage-collected, Dawn crashes or hangs. It is therefore installed on
 * `globalThis.navigator.gpu`, where `@jax-js/jax` looks for it, together with
 * the `userAgent` and `hardwareConcurrency` fields jax-js also reads.
 */
import { readFileSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

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

/** The text of a file the package ships in data/ (`fn` is the caller, for its browser error). */
export function shippedText(_fn: string, name: string): string {
  return readFileSync(fileURLToPath(new URL(`../../data/${name}`, import.meta.url)), "utf8");
}

/** An installed package loaded with `require` (the CommonJS-only ones); throws when it is missing. */
export function requirePackage(_fn: string, name: string): unknown {
  return createRequire(import.meta.url)(name);
}

/** `dir` joined with `file`, as the errors of the file functions name it. */
export function pathIn(dir: string, file: string): string {
  return join(dir, file);
}

/** The bytes of a file. */
export async function readBytes(_fn: string, path: string): Promise<Uint8Array> {
  return new Uint8Array(await readFile(path));
}

/** Writes each named file into `dir`, creating it. */
export async function writeFilesIn(_fn: string, dir: string, files: Record<string, Uint8Array | string>): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [name, data] of Object.entries(files)) await writeFile(join(dir, name), data);
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
