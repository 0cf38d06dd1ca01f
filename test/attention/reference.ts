/**
 * Plain-JS float64 reference attention: the formula written out with loops,
 * for checking the jax-js composites.
 */
import { numpy as np } from "@jax-js/jax";
import type { Input } from "../gradcheck.js";

export interface RefOptions {
  scale: number;
  causal?: boolean;
  /** [left, right] window on indices */
  window?: [number, number];
  /** (B, S) 1 = real key */
  padding?: number[][];
  queryOffset?: number;
  /** bias(h, i, j) with i, j query and key indices */
  bias?: (h: number, i: number, j: number) => number;
}

/** q (B, H, L, D), k (B, Hkv, S, D), v (B, Hkv, S, Dv) -> (B, H, L, Dv). */
export function referenceAttention(q: Input, k: Input, v: Input, o: RefOptions): Float64Array {
  const [B, H, L, D] = q.shape;
  const [, Hkv, S] = k.shape;
  const Dv = v.shape[3];
  const G = H / Hkv;
  const off = o.queryOffset ?? S - L;
  const out = new Float64Array(B * H * L * Dv);
  const lowest = -Number.MAX_VALUE;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const hk = Math.floor(h / G);
      for (let i = 0; i < L; i++) {
        const logits = new Float64Array(S);
        for (let j = 0; j < S; j++) {
          let s = 0;
          for (let d = 0; d < D; d++) s += q.data[((b * H + h) * L + i) * D + d] * k.data[((b * Hkv + hk) * S + j) * D + d];
          s *= o.scale;
          if (o.bias) s += o.bias(h, i, j);
          const t = off + i;
          let visible = true;
          if (o.causal && j > t) visible = false;
          if (o.window && (t - j > o.window[0] || j - t > o.window[1])) visible = false;
          if (o.padding && !o.padding[b][j]) visible = false;
          logits[j] = visible ? s : lowest;
        }
        const m = Math.max(...logits);
        const p = logits.map((x) => Math.exp(x - m));
        const z = p.reduce((a, c) => a + c, 0);
        for (let j = 0; j < S; j++) {
          for (let d = 0; d < Dv; d++) out[((b * H + h) * L + i) * Dv + d] += (p[j] / z) * v.data[((b * Hkv + hk) * S + j) * Dv + d];
        }
      }
    }
  }
  return out;
}

export const arr = (x: Input): np.Array => np.array(x.data).reshape(x.shape);
