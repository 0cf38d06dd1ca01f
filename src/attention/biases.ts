/**
 * Additive positional biases on jax-js arrays, differentiable in their
 * learnable parameters: (h, L, S) for query positions (L), key positions (S)
 * and a range of heads. The float64 references are in `pe/` (alibi, t5,
 * kerple, fire).
 *
 * - alibi:  -m_h |i - j|
 * - t5:     table[bucket(j - i), h]
 * - kerple: -r1_h log(1 + r2_h |i - j|)  or  -r1_h |i - j|^r2_h
 * - fire:   MLP(psi(i - j) / (psi(max(i, |L|)) + eps))_h,  psi(x) = log(|c x| + 1)
 * - mlp:    MLP(j - i)_h (or of sign(j - i) log(|j - i| + 1))
 * - table:  table[h, clip(j - i, -R, R) + R]
 *
 * The spec's arrays are read, not consumed (callers own them); the position
 * arrays are consumed.
 */
import { nn, numpy as np } from "@jax-js/jax";
import { constant } from "../core/constant.js";
import { rowsAt } from "../core/rowsAt.js";
import { bucketer } from "../pe/t5.js";
import type { BiasPE, Mlp } from "./spec.js";

export interface BiasContext {
  /** (L) query positions, consumed. */
  queryPositions: np.Array;
  /** (S) key positions, consumed. */
  keyPositions: np.Array;
  /** Static positions when known (exact T5 buckets are computed from them). */
  staticQuery: Float64Array | null;
  staticKey: Float64Array | null;
  /** Heads [h0, h1). */
  heads: [number, number];
}

/** The (h1 - h0, L, S) bias. */
export function positionalBias(pe: BiasPE, ctx: BiasContext): np.Array {
  const [h0, h1] = ctx.heads;
  const dtype = ctx.queryPositions.dtype;
  const L = ctx.queryPositions.shape[0];
  const S = ctx.keyPositions.shape[0];
  // (L, S) relative position j - i
  const rel = () => np.subtract(ctx.keyPositions.ref.reshape([1, S]), ctx.queryPositions.ref.reshape([L, 1]));
  const done = (out: np.Array) => {
    ctx.queryPositions.dispose();
    ctx.keyPositions.dispose();
    return out;
  };
  switch (pe.kind) {
    case "alibi": {
      const m = constant(Array.from(pe.slopes).slice(h0, h1), dtype).reshape([h1 - h0, 1, 1]);
      return done(np.multiply(np.negative(m), np.abs(rel()).reshape([1, L, S])));
    }
    case "t5": {
      const buckets =
        ctx.staticQuery && ctx.staticKey
          ? np.array(staticBuckets(pe, ctx.staticQuery, ctx.staticKey)).reshape([L, S])
          : tracedBuckets(pe, rel());
      return done(rowsAt(pe.table.ref.slice([], [h0, h1]), buckets).transpose([2, 0, 1])); // (numBuckets, h) at (L, S) -> (h, L, S)
    }
    case "kerple": {
      const r1 = pe.r1.ref.slice([h0, h1]).reshape([h1 - h0, 1, 1]);
      const r2 = pe.r2.ref.slice([h0, h1]).reshape([h1 - h0, 1, 1]);
      const d = np.abs(rel()).reshape([1, L, S]);
      if (pe.variant === "log") return done(np.multiply(np.negative(r1), np.log1p(np.multiply(r2, d))));
      // d^r2 with d = 0 -> 0, written so that no log(0) enters the gradient
      const positive = np.greater(d.ref, 0);
      const safe = np.where(positive.ref, d, 1);
      const power = np.where(positive, np.exp(np.multiply(r2, np.log(safe))), 0);
      return done(np.multiply(np.negative(r1), power));
    }
    case "fire": {
      const c = pe.c.ref;
      const psi = (x: np.Array) => np.log(np.add(np.abs(np.multiply(c.ref, x)), 1));
      const numer = psi(np.negative(rel())); // psi(i - j)
      const norm = np.add(psi(np.maximum(ctx.queryPositions.ref, np.abs(pe.threshold.ref))), pe.eps).reshape([L, 1]);
      c.dispose();
      return done(mlpHeads(pe.mlp, np.divide(numer, norm), "relu", h0, h1));
    }
    case "mlp": {
      let d = rel();
      if (pe.logDistance) d = np.multiply(np.sign(d.ref), np.log1p(np.abs(d)));
      return done(mlpHeads(pe.mlp, d, "silu", h0, h1));
    }
    case "table": {
      const R = pe.maxDistance;
      const idx = np.add(np.clip(np.round(rel()), -R, R), R).astype(np.int32);
      return done(rowsAt(pe.table.ref.slice([h0, h1]).transpose(), idx).transpose([2, 0, 1])); // (2R+1, h) at (L, S) -> (h, L, S)
    }
    default:
      return pe satisfies never;
  }
}

/** Linear(1, W) -> act -> Linear(W, H)[:, h0:h1] applied to every entry of x (L, S); returns (h, L, S). */
function mlpHeads(mlp: Mlp, x: np.Array, act: "relu" | "silu", h0: number, h1: number): np.Array {
  const [L, S] = x.shape;
  const hidden = np.add(np.matmul(x.reshape([L * S, 1]), mlp.w1.ref), mlp.b1.ref);
  const a = act === "relu" ? nn.relu(hidden) : nn.silu(hidden);
  const out = np.add(np.matmul(a, mlp.w2.ref.slice([], [h0, h1])), mlp.b2.ref.slice([h0, h1]));
  return out.reshape([L, S, h1 - h0]).transpose([2, 0, 1]);
}

function staticBuckets(pe: Extract<BiasPE, { kind: "t5" }>, q: Float64Array, k: Float64Array): Int32Array {
  const bucket = bucketer({ bidirectional: pe.bidirectional, numBuckets: pe.numBuckets, maxDistance: pe.maxDistance });
  const out = new Int32Array(q.length * k.length);
  for (let i = 0; i < q.length; i++) for (let j = 0; j < k.length; j++) out[i * k.length + j] = bucket(Math.round(k[j] - q[i]));
  return out;
}

/** T5 buckets computed in the graph (float32 steps as transformers), for traced positions. */
function tracedBuckets(pe: Extract<BiasPE, { kind: "t5" }>, rel: np.Array): np.Array {
  let n = pe.numBuckets;
  let offset: np.Array | number = 0;
  let d: np.Array;
  if (pe.bidirectional) {
    n = Math.floor(n / 2);
    offset = np.multiply(np.greater(rel.ref, 0).astype(rel.dtype), n);
    d = np.abs(rel);
  } else {
    d = np.negative(np.minimum(rel, 0));
  }
  const maxExact = Math.floor(n / 2);
  const ratio = np.log(np.divide(np.maximum(d.ref, maxExact), maxExact));
  const large = np.minimum(
    np.add(np.floor(np.multiply(np.divide(ratio, Math.log(pe.maxDistance / maxExact)), n - maxExact)), maxExact),
    n - 1,
  );
  const bucket = np.add(np.where(np.less(d.ref, maxExact), d, large), offset);
  return bucket.astype(np.int32);
}
