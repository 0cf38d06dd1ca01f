/**
 * A small seeded pseudo-random generator for initialisers and position
 * sampling: xoshiro128** seeded through splitmix32, so that the same seed gives
 * the same numbers on every engine. Not cryptographic.
 *
 * Reference: Blackman & Vigna, "Scrambled linear pseudorandom number
 * generators" (2021), https://prng.di.unimi.it/xoshiro128starstar.c
 */
import { integer } from "../core/validate.js";

export interface Rng {
  /** A uniform 32-bit unsigned integer. */
  nextUint32(): number;
  /** A uniform float in [0, 1) with 53 random bits. */
  uniform(): number;
  /** A uniform integer in [0, n). */
  below(n: number): number;
  /** A standard normal sample (Box-Muller). */
  normal(): number;
}

export function rng(seed: number): Rng {
  integer("random.rng", "seed", seed, 0);
  let x = (seed >>> 0) ^ Math.floor(seed / 2 ** 32);
  const splitmix = (): number => {
    x = (x + 0x9e3779b9) | 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  const s = new Uint32Array([splitmix(), splitmix(), splitmix(), splitmix()]);
  const rotl = (v: number, k: number) => (v << k) | (v >>> (32 - k));
  let spare: number | null = null;

  const nextUint32 = (): number => {
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  };
  const uniform = (): number => ((nextUint32() >>> 5) * 2 ** 26 + (nextUint32() >>> 6)) / 2 ** 53;
  return {
    nextUint32,
    uniform,
    below(n: number): number {
      integer("random.below", "n", n, 1);
      return Math.floor(uniform() * n);
    },
    normal(): number {
      if (spare !== null) {
        const v = spare;
        spare = null;
        return v;
      }
      let u = 0;
      while (u === 0) u = uniform();
      const r = Math.sqrt(-2 * Math.log(u));
      const theta = 2 * Math.PI * uniform();
      spare = r * Math.sin(theta);
      return r * Math.cos(theta);
    },
  };
}
