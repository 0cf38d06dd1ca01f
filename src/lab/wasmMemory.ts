/**
 * Records the WebAssembly memories created after this module is evaluated, so
 * that a test can see how far jax-js's linear memory grows (jax-js keeps it
 * private; it only grows, so its size is its peak). Import it before
 * anything that imports `@jax-js/jax`.
 */
export const wasmMemories: WebAssembly.Memory[] = [];

const NativeMemory = WebAssembly.Memory;
function RecordedMemory(descriptor: WebAssembly.MemoryDescriptor): WebAssembly.Memory {
  const memory = new NativeMemory(descriptor);
  wasmMemories.push(memory);
  return memory;
}
RecordedMemory.prototype = NativeMemory.prototype;
(WebAssembly as unknown as { Memory: unknown }).Memory = RecordedMemory;

/** Puts the native constructor back. */
export function stopRecordingWasmMemory(): void {
  (WebAssembly as unknown as { Memory: unknown }).Memory = NativeMemory;
}
