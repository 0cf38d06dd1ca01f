/**
 * Old names of renamed exports, kept for one release and then removed
 * (CHANGELOG.md lists them with their new names).
 */
import {
  initKernelizedLayer,
  KERNELIZED_EPS,
  type KernelizedLayerConfig,
  type KernelizedLayerParams,
  kernelizedLayer,
} from "./nn/kernelizedLayer.js";

/** @deprecated Renamed `KernelizedLayerConfig` ("kernel" names the GPU kernels); removed in the next release. */
export type KernelConfig = KernelizedLayerConfig;
/** @deprecated Renamed `KernelizedLayerParams`; removed in the next release. */
export type KernelParams = KernelizedLayerParams;
/** @deprecated Renamed `initKernelizedLayer`; removed in the next release. */
export const initKernel = initKernelizedLayer;
/** @deprecated Renamed `KERNELIZED_EPS`; removed in the next release. */
export const KERNEL_EPS = KERNELIZED_EPS;
/** @deprecated Renamed `kernelizedLayer`; removed in the next release. */
export const kernelAttention = kernelizedLayer;
