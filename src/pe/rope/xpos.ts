/**
 * xPos: RoPE with an exponential decay that makes attention length-aware.
 * Frequency pair i has a base zeta_i = (2i + 0.4 d) / (1.4 d) (d = rotaryDim);
 * at position p, with power = (p - center) / scaleBase, queries are scaled by
 * zeta_i^power and keys by zeta_i^(-power), so q.k decays like
 * zeta^((m - n)/scaleBase) with the distance m - n.
 *
 * Reference: Sun et al., "A Length-Extrapolatable Transformer" (2022),
 * https://arxiv.org/abs/2212.10554; rotary-embedding-torch `get_scale`
 * (center = seq_len // 2, scale_base 512).
 */
import { evenDim, finite, positionsOf, positive } from "../../core/validate.js";
import { checkPairing, frequencyIndex, type Pairing } from "./pairing.js";

export interface XposOptions {
  pairing: Pairing;
  /** Positions are centred at this value before scaling (reference: floor(seqLen / 2)). */
  center: number;
  /** Scale base (reference default 512). */
  scaleBase: number;
}

export interface XposScales {
  /** (L, rotaryDim) multipliers for queries. */
  query: Float64Array;
  /** (L, rotaryDim) multipliers for keys (the reciprocals). */
  key: Float64Array;
}

/** zeta_i = (2i + 0.4 d) / (1.4 d), i = 0..d/2-1. */
export function bases(rotaryDim: number): Float64Array {
  evenDim("rope.xpos.bases", "rotaryDim", rotaryDim);
  return Float64Array.from({ length: rotaryDim / 2 }, (_, i) => (2 * i + 0.4 * rotaryDim) / (1.4 * rotaryDim));
}

export function xposScales(positions: number | ArrayLike<number>, rotaryDim: number, options: XposOptions): XposScales {
  const fn = "rope.xposScales";
  const pairing = checkPairing(fn, options?.pairing);
  const center = finite(fn, "options.center", options.center);
  const scaleBase = positive(fn, "options.scaleBase", options.scaleBase);
  const zeta = bases(rotaryDim);
  const pos = positionsOf(fn, positions);
  const query = new Float64Array(pos.length * rotaryDim);
  const key = new Float64Array(pos.length * rotaryDim);
  for (let p = 0; p < pos.length; p++) {
    const power = (pos[p] - center) / scaleBase;
    for (let c = 0; c < rotaryDim; c++) {
      const s = zeta[frequencyIndex(pairing, c, rotaryDim)] ** power;
      query[p * rotaryDim + c] = s;
      key[p * rotaryDim + c] = 1 / s;
    }
  }
  return { query, key };
}
