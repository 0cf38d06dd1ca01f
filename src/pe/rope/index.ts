/** Rotary position embeddings: frequencies, scalings, tables, application, xPos. */
export { inverseFrequencies, wavelengths } from "./frequencies.js";
export type { Pairing } from "./pairing.js";
export { tables, applyRope } from "./apply.js";
export type { RopeTables, TableOptions, ApplyOptions } from "./apply.js";
export { bases as xposBases, xposScales } from "./xpos.js";
export type { XposOptions, XposScales } from "./xpos.js";
export { ropeFrequencies, yarnMscale, yarnCorrectionDim, yarnCorrectionRange, ROPE_TYPES } from "./scaling.js";
export type { RopeType, RopeParameters, RopeFrequencies } from "./scaling.js";
export { fromHFConfig, parseHFConfig } from "./hfConfig.js";
export type { HFConfig, FromHFConfigOptions, HFRope } from "./hfConfig.js";
