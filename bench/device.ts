/**
 * The device `npm run bench` (bench/run.ts) runs on: the WebGPU adapter is
 * looked at before anything starts (to pick default sizes and to run the
 * PyTorch anchors before posenc holds GPU memory), described for the report,
 * and classified as a GPU or a CPU/software adapter (Mesa lavapipe,
 * SwiftShader), on which the harness defaults to small sizes.
 */
import { installNodeGpu } from "../src/runtime/host.js";

export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean;
  /** A CPU/software implementation of WebGPU. */
  software: boolean;
}

/** The adapter Dawn would give jax-js (high-performance), or null when there is none. */
export async function probeAdapter(): Promise<AdapterDescription | null> {
  try {
    const gpu = await installNodeGpu();
    const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
    return adapter ? describeAdapter(adapter.info) : null;
  } catch {
    return null;
  }
}

export function describeAdapter(info: GPUAdapterInfo): AdapterDescription {
  const fallback = (info as { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
  const d = { vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description };
  const software = fallback || /llvmpipe|lavapipe|swiftshader|software/i.test(Object.values(d).join(" "));
  return { ...d, isFallbackAdapter: fallback, software };
}

/** Limits of the device that bound the benchmark's buffers and kernels. */
export function deviceLimits(device: GPUDevice): Record<string, number> {
  const names = [
    "maxBufferSize",
    "maxStorageBufferBindingSize",
    "maxComputeWorkgroupStorageSize",
    "maxComputeInvocationsPerWorkgroup",
    "maxComputeWorkgroupsPerDimension",
  ] as const;
  return Object.fromEntries(names.map((n) => [n, device.limits[n]]));
}
