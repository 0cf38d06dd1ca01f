/**
 * Language features `@jax-js/jax` needs that Node 20 lacks, installed only
 * where missing (no-ops on newer engines and current browsers). Imported
 * before jax-js by the package entry point and the runtime.
 *
 * - Iterator helpers (`Iterator.prototype.map`, `.toArray`, ...), used by
 *   `einsum`: native from Node 22; core-js, imported only where they are missing.
 * - `Float16Array`: jax-js tests `data instanceof Float16Array` when it
 *   builds an array from a Float64Array, and creates one for float16 data;
 *   native from Node 24; @petamoriken/float16.
 */
import { Float16Array } from "@petamoriken/float16";

// loaded only on engines without Iterator helpers (Node 20): browsers and Node >= 22 never load core-js
const iterator = (globalThis as { Iterator?: { prototype?: { map?: unknown } } }).Iterator;
if (typeof iterator?.prototype?.map !== "function") {
  // @ts-expect-error core-js ships no declarations
  await import("core-js/actual/iterator/index.js");
}

if (typeof (globalThis as { Float16Array?: unknown }).Float16Array === "undefined") {
  Object.defineProperty(globalThis, "Float16Array", { value: Float16Array, configurable: true, writable: true });
}
