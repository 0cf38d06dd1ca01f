/**
 * The plan of a `flashAttention` call: the positional encoding as the kernel
 * computes it (its kind, the arrays it binds, the constants its WGSL needs)
 * and the workgroup-memory tiling of a head dimension (flashAttention.ts
 * describes both).
 */
import { numpy as np } from "@jax-js/jax";
import type { AttentionPE } from "../../attention/spec.js";
import { fromHFConfig } from "../../pe/rope/hfConfig.js";

/** Keys per tile: 16 invocations times 4 consecutive keys. */
export const KEY_TILE = 64;
/** Invocations per workgroup: a 16 x 16 grid. */
export const THREADS = 256;

export type Kind = "none" | "rotary" | "alibi" | "table" | "t5" | "kerple-log" | "kerple-power";

export interface Plan {
  kind: Kind;
  /** Extra float32 arrays: bound at 7, 8 for a bias, the inverse frequencies for RoPE. */
  extras: (Float32Array | np.Array)[];
  /** Source-level constants for the kind. */
  key: string;
  rotary?: {
    R: number;
    pairing: "halves" | "interleaved";
    rotQ: number;
    rotK: number;
    factor: number;
    /** cos/sin (rows, R) of the queries and the keys, computed beforehand (M-RoPE); the factor is in them. */
    tables?: { qCos: Float32Array; qSin: Float32Array; kCos: Float32Array; kSin: Float32Array };
  };
  t5?: { bidirectional: boolean; numBuckets: number; maxDistance: number };
  tableRadius?: number;
}

/** Workgroup-memory tiling of one configuration (sizes in vec4 where named so). */
export interface Tiling {
  /** Queries per workgroup: 16 rows of invocations times BQ / 16 rows each. */
  BQ: number;
  /** vec4 columns of q and k per staged chunk (a power of two <= 8). */
  DC4: number;
  /** Most keys of v per staged chunk (a power of two in [4, KEY_TILE]). */
  maxJC: number;
  /** vec4 slots of the staging buffer. */
  stage4: number;
}

/**
 * The largest query block (64, 32, 16), then the widest chunk of q and k, that
 * fit `bytes` of workgroup memory: staging max((BQ + KEY_TILE) DC4, 4 ceil(Dv/4))
 * vec4 plus P (BQ x KEY_TILE floats).
 */
export function chooseTiling(D: number, Dv: number, bytes: number): Tiling | null {
  const D4 = Math.ceil(D / 4);
  const DV4 = Math.ceil(Dv / 4);
  let widest = 1;
  while (widest < Math.min(D4, 8)) widest *= 2;
  for (const BQ of [64, 32, 16]) {
    for (let DC4 = widest; DC4 >= 1; DC4 /= 2) {
      const stage4 = Math.max((BQ + KEY_TILE) * DC4, 4 * DV4);
      if (16 * stage4 + 4 * BQ * KEY_TILE > bytes) continue;
      let maxJC = 4;
      while (maxJC * 2 <= KEY_TILE && maxJC * 2 * DV4 <= stage4) maxJC *= 2;
      return { BQ, DC4, maxJC, stage4 };
    }
  }
  return null;
}

/** The plan of a spec that `checkPE` accepted; refuses (with `abort`) what the kernel does not compute. */
export function planPE(
  pe: AttentionPE,
  H: number,
  Hkv: number,
  D: number,
  queryPositions: ArrayLike<number>,
  abort: (m: string) => never,
): Plan {
  const checkArray = (name: string, a: np.Array, shape: number[]) => {
    if (a.dtype !== np.float32 || a.device !== "webgpu" || a.ndim !== shape.length || a.shape.some((n, i) => n !== shape[i])) {
      abort(`${name} must be a float32 webgpu array of shape (${shape.join(", ")}), got ${a.dtype} ${a.device} (${a.shape.join(", ")})`);
    }
  };
  switch (pe.type) {
    case "none":
      return { kind: "none", extras: [], key: "none" };
    case "contextual":
      return abort('CoPE (pe.type "contextual") is not supported by the fused kernel; use attention()');
    case "rotary": {
      if (pe.xpos) abort("xPos is not supported by the fused kernel; use attention()");
      const n = pe.heads ?? H;
      const rotated = { rotQ: H - n, rotK: Hkv - (n / H) * Hkv };
      if ("tables" in pe.frequencies) {
        const { query, key } = pe.frequencies.tables; // checked by checkPE against L, S and D
        const R = query.rotaryDim;
        const tables = {
          qCos: Float32Array.from(query.cos),
          qSin: Float32Array.from(query.sin),
          kCos: Float32Array.from(key.cos),
          kSin: Float32Array.from(key.sin),
        };
        return {
          kind: "rotary",
          extras: [],
          key: `rotary-tables:${R}:${pe.pairing}`,
          rotary: { R, pairing: pe.pairing, ...rotated, factor: 1, tables },
        };
      }
      // as the composite: the current length is max(query position) + 1 ("dynamic" and "longrope" scaling follow it)
      let seqLen = -Infinity;
      for (let i = 0; i < queryPositions.length; i++) seqLen = Math.max(seqLen, queryPositions[i] + 1);
      const fr =
        "hfConfig" in pe.frequencies
          ? fromHFConfig(pe.frequencies.hfConfig, { seqLen, layerType: pe.frequencies.layerType })
          : pe.frequencies;
      const inv = Float32Array.from(fr.invFreq);
      const R = 2 * inv.length;
      if (inv.length < 1 || R > D) abort(`rotary invFreq must hold 1..D/2 = ${Math.floor(D / 2)} frequencies, got ${inv.length}`);
      const factor = fr.attentionFactor ?? 1;
      return {
        kind: "rotary",
        extras: [inv],
        key: `rotary:${R}:${pe.pairing}`,
        rotary: { R, pairing: pe.pairing, ...rotated, factor },
      };
    }
    case "bias":
      switch (pe.kind) {
        case "alibi":
          return { kind: "alibi", extras: [Float32Array.from(pe.slopes)], key: "alibi" };
        case "table": {
          const R = pe.maxDistance;
          checkArray("pe.table", pe.table, [H, 2 * R + 1]);
          return { kind: "table", extras: [pe.table], key: `table:${R}`, tableRadius: R };
        }
        case "t5": {
          const { bidirectional, numBuckets, maxDistance } = pe;
          checkArray("pe.table", pe.table, [numBuckets, H]);
          return {
            kind: "t5",
            extras: [pe.table],
            key: `t5:${bidirectional}:${numBuckets}:${maxDistance}`,
            t5: { bidirectional, numBuckets, maxDistance },
          };
        }
        case "kerple": {
          checkArray("pe.r1", pe.r1, [H]);
          checkArray("pe.r2", pe.r2, [H]);
          const kind = pe.variant === "log" ? "kerple-log" : "kerple-power";
          return { kind, extras: [pe.r1, pe.r2], key: kind };
        }
        case "fire":
        case "mlp":
          return abort(`the ${pe.kind === "fire" ? "FIRE" : "dynamic MLP"} bias is not supported by the fused kernel; use attention()`);
        default:
          return pe satisfies never;
      }
    default:
      return pe satisfies never;
  }
}
