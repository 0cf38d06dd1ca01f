/**
 * Errors the WebGPU device raised outside any error scope. When a buffer
 * cannot be allocated (the GPU's memory is full, for instance because other
 * processes hold it), WebGPU does not throw: the buffer is invalid, every
 * kernel that touches it is skipped, and reading it back gives zeros or
 * stale data. jax-js only logs such errors. posenc records the first one
 * (and a lost device) so that what was computed after it is refused by name
 * instead of reported: `checkDevice` throws once the device has faulted.
 */

let fault: string | null = null;
const watched = new WeakSet<GPUDevice>();

/** Records the first uncaptured error of `device`, and its loss. */
export function watchDevice(device: GPUDevice): void {
  if (watched.has(device)) return;
  watched.add(device);
  device.addEventListener("uncapturederror", (event) => {
    fault ??= (event as GPUUncapturedErrorEvent).error.message || "an error without a message";
  });
  device.lost.then((info) => {
    if (info.reason !== "destroyed") fault ??= `the device was lost (${info.message || info.reason})`;
  });
}

/** The first error the device reported, or null. */
export function deviceFault(): string | null {
  return fault;
}

/** Throws, naming `fn`, when the device has reported an error: results computed since may be zeros or stale. */
export function checkDevice(fn: string): void {
  if (fault !== null)
    throw new Error(
      `${fn}: the WebGPU device reported an error, so results computed since are not valid (out of GPU memory? other processes may hold it): ${fault}`,
    );
}
