import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bias, partialSlopes, slopes } from "../../src/pe/alibi.js";
import { expectClose, FLOAT64_FORMULA } from "../tolerance.js";

describe("alibi.slopes", () => {
  it("power-of-two head counts: the geometric sequence 2^(-8k/n) (Press et al. section 3)", () => {
    for (const n of [1, 2, 4, 8, 16, 32, 64]) {
      const expected = Array.from({ length: n }, (_, k) => 2 ** ((-8 * (k + 1)) / n));
      expectClose(slopes(n, { precision: "float64" }), expected, FLOAT64_FORMULA, `n=${n}`);
    }
    // The paper's example: 8 heads -> 1/2, 1/4, ..., 1/256.
    expect(Array.from(slopes(8))).toEqual([1 / 2, 1 / 4, 1 / 8, 1 / 16, 1 / 32, 1 / 64, 1 / 128, 1 / 256]);
  });

  it("other head counts: slopes of the closest power p, then every other slope of 2p", () => {
    for (const n of [3, 5, 6, 7, 12, 20, 24, 40, 100]) {
      const p = 2 ** Math.floor(Math.log2(n));
      const first = Array.from({ length: p }, (_, k) => 2 ** ((-8 * (k + 1)) / p));
      const extra = Array.from({ length: n - p }, (_, r) => 2 ** ((-8 * (2 * r + 1)) / (2 * p)));
      expectClose(slopes(n, { precision: "float64" }), [...first, ...extra], FLOAT64_FORMULA, `n=${n}`);
    }
  });

  it("partial heads: the first alibiHeads heads carry slopes(alibiHeads), the rest 0", () => {
    expect(Array.from(partialSlopes(6, 4))).toEqual([...slopes(4), 0, 0]);
    expect(() => partialSlopes(4, 6)).toThrow(/alibi.partialSlopes: alibiHeads \(6\) must be <= numHeads \(4\)/);
  });

  it("bias is -m |i - j| and decreases monotonically with distance", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 24 }), fc.integer({ min: 1, max: 12 }), (heads, L) => {
        const m = slopes(heads);
        const b = bias(m, L, L);
        for (let h = 0; h < heads; h++) {
          for (let i = 0; i < L; i++) {
            for (let j = 0; j < L; j++) {
              const v = b[(h * L + i) * L + j];
              if (v !== -m[h] * Math.abs(i - j)) return false;
              if (j > 0 && j <= i && !(v > b[(h * L + i) * L + j - 1])) return false;
            }
          }
        }
        return true;
      }),
    );
  });

  it("custom positions", () => {
    const b = bias([0.5], [0, 10], [0, 4, 10]);
    expect(Array.from(b)).toEqual([-0, -2, -5, -5, -3, -0]);
  });

  it("rejects bad head counts", () => {
    expect(() => slopes(0)).toThrow(/alibi.slopes: numHeads must be an integer >= 1, got 0/);
    expect(() => slopes(2.5)).toThrow(/alibi.slopes: numHeads must be an integer >= 1, got 2.5/);
    expect(() => slopes(NaN)).toThrow(/alibi.slopes: numHeads must be an integer >= 1, got NaN/);
    expect(() => bias([NaN], 2, 2)).toThrow(/alibi.bias: slopes\[0\] must be finite, got NaN/);
  });
});
