/**
 * Iterator helpers (`Iterator.prototype.map`, `.toArray`, ...) are used by
 * `@jax-js/jax` (e.g. in `einsum`) and are native only from Node 22. core-js
 * installs them only where they are missing, so this is a no-op on newer
 * engines and in current browsers. Imported first by the package entry point.
 */
import "core-js/actual/iterator/index.js";
