/**
 * Checks shared by the per-device runtime tests: a small jitted computation
 * with einsum (which needs iterator helpers, polyfilled on Node 20) compared
 * with posenc's float64 RoPE.
 */
import { jit, numpy as np } from "@jax-js/jax";
import { expect } from "vitest";
import { applyRope, tables } from "../../src/pe/rope/apply.js";
import { inverseFrequencies } from "../../src/pe/rope/frequencies.js";
import { FLOAT32_EPS } from "../tolerance.js";

/** RoPE (halves pairing) as array ops, scores q.k^T by einsum, against the float64 pe/ math. */
export async function expectRopeScoresMatch(): Promise<void> {
  const L = 6;
  const D = 8;
  const q = Float64Array.from({ length: L * D }, (_, i) => Math.sin(i + 1));
  const k = Float64Array.from({ length: L * D }, (_, i) => Math.cos(2 * i + 1));
  const t = tables(L, inverseFrequencies(D, 10000), { pairing: "halves" });
  const qr = applyRope(q, t, { pairing: "halves", headDim: D });
  const kr = applyRope(k, t, { pairing: "halves", headDim: D });
  const expected = new Float64Array(L * L);
  for (let i = 0; i < L; i++) for (let j = 0; j < L; j++) for (let c = 0; c < D; c++) expected[i * L + j] += qr[i * D + c] * kr[j * D + c];

  const rotate = (x: np.Array, cos: np.Array, sin: np.Array) => {
    const [x1, x2] = np.split(x.ref, 2, -1);
    const rot = np.concatenate([np.negative(x2), x1], -1);
    return np.add(np.multiply(x, cos.ref), np.multiply(rot, sin));
  };
  const scores = jit((qa: np.Array, ka: np.Array, cos: np.Array, sin: np.Array) =>
    np.einsum("id,jd->ij", rotate(qa, cos.ref, sin.ref), rotate(ka, cos, sin)),
  );
  const arr = (v: Float64Array, shape: number[]) => np.array(Float32Array.from(v)).reshape(shape);
  const out = scores(arr(q, [L, D]), arr(k, [L, D]), arr(t.cos, [L, D]), arr(t.sin, [L, D]));
  const got = await out.data();
  scores.dispose();
  // float32 inputs and a D-term dot product of values <= 1: a few ulps of D
  for (let i = 0; i < L * L; i++) expect(Math.abs(got[i] - expected[i])).toBeLessThan(4 * D * FLOAT32_EPS * 4);
}
