/**
 * posenc: positional encodings and position-aware attention for TypeScript,
 * on WebAssembly and WebGPU.
 */
import "./runtime/polyfill.js";

export { init, runtime, teardown } from "./runtime/init.js";
export type { DeviceKind, DeviceLimits, DeviceRequest, InitOptions, Runtime } from "./runtime/init.js";

export * as rope from "./pe/rope/index.js";
export * as alibi from "./pe/alibi.js";
export * as t5 from "./pe/t5.js";
export * as kerple from "./pe/kerple.js";
export * as fire from "./pe/fire.js";
export * as sinusoidal from "./pe/sinusoidal.js";
export * as learned from "./pe/learned.js";
export * as randomized from "./pe/randomized.js";
export * as axialRope from "./pe/axialRope.js";
export { sincos2d } from "./pe/sincos2d.js";
export { peg } from "./pe/peg.js";
export { rng } from "./pe/random.js";
export type { Rng } from "./pe/random.js";
