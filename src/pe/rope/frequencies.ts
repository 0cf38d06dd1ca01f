/**
 * RoPE frequencies: rotary pair i of a rotaryDim-dimensional rotation turns
 * by angle p * theta_i at position p, with theta_i = base^(-2i/rotaryDim).
 *
 * Reference: Su et al., "RoFormer" (2021), https://arxiv.org/abs/2104.09864
 */
import { evenDim, positive } from "../../core/validate.js";

/** theta_i = base^(-2i/rotaryDim), i = 0..rotaryDim/2-1. */
export function inverseFrequencies(rotaryDim: number, base: number): Float64Array {
  evenDim("rope.inverseFrequencies", "rotaryDim", rotaryDim);
  positive("rope.inverseFrequencies", "base", base);
  return Float64Array.from({ length: rotaryDim / 2 }, (_, i) => base ** (-(2 * i) / rotaryDim));
}

/** Wavelength 2 pi / theta of each frequency, in positions. */
export function wavelengths(invFreq: ArrayLike<number>): Float64Array {
  return Float64Array.from(invFreq, (f) => (2 * Math.PI) / f);
}
