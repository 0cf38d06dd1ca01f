/**
 * Named tolerances and comparison helpers for the numeric tests.
 */
import { expect } from "vitest";

/** Unit roundoff of float32 (2^-24). */
export const FLOAT32_EPS = 2 ** -24;
/** Unit roundoff of float64 (2^-53). */
export const FLOAT64_EPS = 2 ** -53;

/**
 * float64 re-implementations of the same formula, evaluated in a different
 * order: a few hundred ulps of float64 at most.
 */
export const FLOAT64_FORMULA = { rtol: 1e-12, atol: 1e-12 };

/**
 * A float64 result against a reference that computed the same formula in
 * float32 with a handful of rounded steps (sin/cos of float32 angles,
 * products): 8 float32 ulps relative, and an absolute floor for values near
 * zero where sin/cos of a rounded angle differ absolutely by |angle| * eps.
 */
export const FLOAT32_REFERENCE = { rtol: 8 * FLOAT32_EPS, atol: 8 * FLOAT32_EPS };

/**
 * jax-js's jit fuses reductions (einsum, softmax) into kernels whose float64
 * results differ from the eager path in the last digits (measured ~2e-8 on
 * O(1) outputs on the cpu device); a wrong position or index would move them
 * by O(0.1).
 */
export const JIT_VS_EAGER = { rtol: 1e-6, atol: 1e-6 };

/**
 * Two float32 evaluations of the same training step that differ only in
 * round-off (kernelized attention by FFT or with the dense matrix, whose
 * outputs differ by ~1e-4 of the largest value), followed over tens of
 * AdamW steps at a stable learning rate: the losses agreed to 3e-6 relative
 * over 30 steps. An evaluation that dropped the bias or the causal mask would
 * move them by 1e-2 or more.
 */
export const FLOAT32_TRAINING_CURVE = { rtol: 1e-4, atol: 0 };

export interface Tolerance {
  rtol: number;
  atol: number;
}

/** Max over i of |a - e| / (atol + rtol |e|) must be <= 1; reports the worst index. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance, what = "values"): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    const r = a === e ? 0 : Math.abs(a - e) / (tol.atol + tol.rtol * Math.abs(e));
    if (!(r <= worst)) {
      worst = Number.isNaN(r) ? Infinity : r;
      at = i;
    }
  }
  if (worst > 1) {
    expect.fail(
      `${what}: index ${at}: got ${actual[at]}, expected ${expected[at]} (error ${worst.toFixed(2)}x tolerance rtol=${tol.rtol}, atol=${tol.atol})`,
    );
  }
}
