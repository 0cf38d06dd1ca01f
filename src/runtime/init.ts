/**
 * Device start-up for posenc: one call that starts `@jax-js/jax` correctly in
 * Node and in browsers, on WebAssembly or WebGPU.
 *
 * - `"wasm"`: the WebAssembly backend, everywhere.
 * - `"webgpu"`: WebGPU (Dawn in Node, `navigator.gpu` in browsers); throws a
 *   clear error when no adapter is found, never falls back silently.
 * - `"auto"`: WebGPU when an adapter exists, otherwise WebAssembly.
 * - `"cpu"`: jax-js's plain JavaScript backend: slow, but its transcendental
 *   functions are `Math.sin`, `Math.exp`, ... (the WebAssembly and WebGPU
 *   backends use polynomial approximations, accurate to ~1e-7 relative even
 *   in float64). posenc's float64 reference checks and gradient checks run on it.
 *
 * `teardown()` destroys the WebGPU device so that Node can exit.
 */
import "./polyfill.js";
import { defaultDevice, getWebGPUDevice, init as jaxInit } from "@jax-js/jax";
import { watchDevice } from "./deviceFault.js";
import { installNodeGpu, runningInNode } from "./host.js";

export type DeviceRequest = "cpu" | "wasm" | "webgpu" | "auto";
export type DeviceKind = "cpu" | "wasm" | "webgpu";

export interface InitOptions {
  /** Which device to run on. Default `"auto"`. */
  device?: DeviceRequest;
}

/** Limits that posenc checks array sizes against before creating them. */
export interface DeviceLimits {
  /** Largest storage buffer one kernel may bind, in bytes. */
  maxStorageBufferBindingSize: number;
  /** Largest buffer that may be allocated, in bytes. */
  maxBufferSize: number;
}

export interface Runtime {
  /** The device arrays are created on. */
  device: DeviceKind;
  /** Adapter description (WebGPU), `"WebAssembly"` or `"JavaScript (reference)"`. */
  description: string;
  /** Buffer limits of the device (WebAssembly: its 4 GiB linear memory). */
  limits: DeviceLimits;
  /** Whether the WebGPU device supports `shader-f16`. */
  shaderF16: boolean;
}

const WASM_LIMITS: DeviceLimits = {
  // wasm32 linear memory is addressed with 32-bit offsets.
  maxStorageBufferBindingSize: 2 ** 32 - 1,
  maxBufferSize: 2 ** 32 - 1,
};

const CPU_LIMITS: DeviceLimits = {
  // JavaScript typed arrays are limited to 2^31 - 1 elements on 64-bit engines.
  maxStorageBufferBindingSize: 2 ** 31 - 1,
  maxBufferSize: 2 ** 31 - 1,
};

let current: Runtime | null = null;
let tornDown = false;

/**
 * Starts the array engine on the requested device and makes it the default.
 * Calling it again with the same request returns the same runtime.
 */
export async function init(options: InitOptions = {}): Promise<Runtime> {
  const request = options.device ?? "auto";
  if (request !== "cpu" && request !== "wasm" && request !== "webgpu" && request !== "auto") {
    throw new Error(`posenc.init: options.device must be "cpu", "wasm", "webgpu" or "auto", got ${JSON.stringify(request)}`);
  }
  if (tornDown) throw new Error("posenc.init: the runtime was torn down; start a new process to use a device again");
  if (current && (request === "auto" || request === current.device)) return current;

  if (request === "cpu") {
    await jaxInit("cpu");
    return activate({ device: "cpu", description: "JavaScript (reference)", limits: CPU_LIMITS, shaderF16: false });
  }
  if (request === "wasm") {
    await jaxInit("wasm");
    return activate({ device: "wasm", description: "WebAssembly", limits: WASM_LIMITS, shaderF16: false });
  }

  const webgpu = await startWebGPU(request === "webgpu");
  if (webgpu) return activate(webgpu);
  await jaxInit("wasm");
  return activate({ device: "wasm", description: "WebAssembly", limits: WASM_LIMITS, shaderF16: false });
}

/** The runtime started by `init`, or throws if none was started. */
export function runtime(): Runtime {
  if (!current) throw new Error("posenc.runtime: no device started; call `await init({ device })` first");
  return current;
}

/**
 * Buffer limits of the device arrays are created on: the started runtime's,
 * or, when jax-js was started directly, those of its default device.
 */
export function currentLimits(): DeviceLimits {
  if (current) return current.limits;
  const device = defaultDevice();
  if (device === "webgpu") {
    const { maxStorageBufferBindingSize, maxBufferSize } = getWebGPUDevice().limits;
    return { maxStorageBufferBindingSize, maxBufferSize };
  }
  return device === "cpu" ? CPU_LIMITS : WASM_LIMITS;
}

/**
 * Destroys the WebGPU device, if one was started, so that Node can exit.
 * Arrays on it become unusable; the runtime cannot be started again.
 */
export async function teardown(): Promise<void> {
  if (current?.device === "webgpu") getWebGPUDevice().destroy();
  current = null;
  tornDown = true;
}

function activate(rt: Runtime): Runtime {
  defaultDevice(rt.device);
  current = rt;
  return rt;
}

async function startWebGPU(required: boolean): Promise<Runtime | null> {
  const fail = (why: string): null => {
    if (required) throw new Error(`posenc.init: device "webgpu" was requested but ${why}`);
    return null;
  };
  if (runningInNode()) {
    try {
      await installNodeGpu();
    } catch (err) {
      return fail((err as Error).message);
    }
  } else if (typeof navigator === "undefined" || !("gpu" in navigator) || !navigator.gpu) {
    return fail("this browser exposes no navigator.gpu (WebGPU is not supported or not enabled)");
  }
  const available = await jaxInit("webgpu");
  if (!available.includes("webgpu")) {
    return fail(
      runningInNode()
        ? "Dawn found no WebGPU adapter. On Linux it needs a Vulkan driver: the GPU vendor's, or Mesa >= 23 lavapipe " +
            "(Debian bookworm: apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1)"
        : "navigator.gpu.requestAdapter() returned no adapter",
    );
  }
  const device = getWebGPUDevice();
  watchDevice(device);
  const info = device.adapterInfo;
  const description = [info?.vendor, info?.architecture, info?.device, info?.description].filter((s) => !!s).join(" ") || "WebGPU adapter";
  return {
    device: "webgpu",
    description,
    limits: {
      maxStorageBufferBindingSize: device.limits.maxStorageBufferBindingSize,
      maxBufferSize: device.limits.maxBufferSize,
    },
    shaderF16: device.features.has("shader-f16"),
  };
}
