/**
 * Which coordinates of a head form the rotated pairs:
 *
 * - "halves" (HF transformers / Llama / GPT-NeoX): pair i is (x[i], x[i + r/2]),
 *   rotate_half(x) = [-x2, x1];
 * - "interleaved" (GPT-J, RoFormer, x-transformers, rotary-embedding-torch):
 *   pair i is (x[2i], x[2i+1]), rotate_every_two(x)[2i] = -x[2i+1], [2i+1] = x[2i].
 *
 * The two give the same attention scores after a fixed permutation of the
 * head dimensions, but weights trained with one are wrong under the other.
 */
import { fail } from "../../core/validate.js";

export type Pairing = "halves" | "interleaved";

export function checkPairing(fn: string, pairing: unknown): Pairing {
  if (pairing !== "halves" && pairing !== "interleaved") {
    fail(fn, `options.pairing must be "halves" or "interleaved", got ${JSON.stringify(pairing)}`);
  }
  return pairing;
}

/** Index of the frequency used by coordinate c (0 <= c < rotaryDim). */
export function frequencyIndex(pairing: Pairing, c: number, rotaryDim: number): number {
  return pairing === "halves" ? c % (rotaryDim / 2) : c >> 1;
}

/** Index of the coordinate c is paired with, and the sign its partner takes in rot(x)[c]. */
export function partner(pairing: Pairing, c: number, rotaryDim: number): { index: number; sign: number } {
  if (pairing === "halves") {
    const half = rotaryDim / 2;
    return c < half ? { index: c + half, sign: -1 } : { index: c - half, sign: 1 };
  }
  return c % 2 === 0 ? { index: c + 1, sign: -1 } : { index: c - 1, sign: 1 };
}
