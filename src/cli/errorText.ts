/**
 * What the command line prints for an error it did not expect: the error's
 * message, never an empty line (an error without a message, which two
 * `lab stability` runs on the GPU ended with, shows its name and where it
 * was thrown), and for the engine's WebAssembly out-of-memory error what it
 * means and what to do.
 */

const WASM_MEMORY = "Allocation exceeds the 4 GiB memory32 limit";

export function errorText(err: unknown): string {
  if (!(err instanceof Error)) return `${typeof err} thrown: ${String(err)}`;
  if (err.message === "") {
    const at = err.stack?.split("\n").find((l) => l.trim().startsWith("at "));
    return `${err.name} without a message${at ? ` (${at.trim()})` : ""}`;
  }
  if (err.message.includes(WASM_MEMORY))
    return `${err.message}: the arrays this run needs at once do not fit WebAssembly's memory; use --device webgpu, or a smaller model, batch or length`;
  return err.message;
}
