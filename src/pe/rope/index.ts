/** Rotary position embeddings: frequencies, scalings, tables, application, xPos. */

export type { ApplyOptions, RopeTables, TableOptions } from "./apply.js";
export { applyRope, tables } from "./apply.js";
export { inverseFrequencies, wavelengths } from "./frequencies.js";
export type { FromHFConfigOptions, HFConfig, HFRope } from "./hfConfig.js";
export { fromHFConfig, layerTypes, parseHFConfig } from "./hfConfig.js";
export type { MropeOptions, MropePositions, MropeSegment } from "./mrope.js";
export { mropeAxes, mropePositions, mropeTables } from "./mrope.js";
export type { Pairing } from "./pairing.js";
export type { RopeFrequencies, RopeParameters, RopeType } from "./scaling.js";
export { ROPE_TYPES, ropeFrequencies, yarnCorrectionDim, yarnCorrectionRange, yarnMscale } from "./scaling.js";
export type { XposOptions, XposScales } from "./xpos.js";
export { bases as xposBases, xposScales } from "./xpos.js";
