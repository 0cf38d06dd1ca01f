/**
 * Handwriting metrics against direct evaluations of their definitions:
 * best-path CTC decoding, Levenshtein distance and CER on hand-worked
 * cases, Jacobi eigen-decomposition by reconstruction, and the Fréchet
 * distance against its closed form for one-dimensional sets.
 */
import { describe, expect, it } from "vitest";
import { characterErrorRate, editDistance, frechetDistance, greedyDecode, symmetricEigen } from "../../src/lab/handwritingMetrics.js";
import { randn } from "../gradcheck.js";

describe("greedyDecode", () => {
  it("takes each column's best label, merges repeats and drops blanks", () => {
    // columns' best labels: 1 1 0 1 2 2 0 0  ->  1 1 2 (the blank separates the repeated 1)
    const best = [1, 1, 0, 1, 2, 2, 0, 0];
    const V = 3;
    const logits = best.flatMap((b) => Array.from({ length: V }, (_, v) => (v === b ? 2 : -1)));
    expect(greedyDecode(logits, 1, best.length, V)).toEqual([[1, 1, 2]]);
    // with blank 2 instead, 2 is dropped and 0 kept
    expect(greedyDecode(logits, 1, best.length, V, 2)).toEqual([[1, 0, 1, 0]]);
  });

  it("rejects logits of the wrong size and a blank past the vocabulary", () => {
    expect(() => greedyDecode([0, 1, 2], 1, 2, 2)).toThrow(/greedyDecode: logits must hold .* = 4 values, got 3/);
    expect(() => greedyDecode([0, 1, 2, 3], 1, 2, 2, 2)).toThrow(/greedyDecode: blank must be below vocabulary 2, got 2/);
  });
});

describe("edit distance and CER", () => {
  it("counts insertions, deletions and substitutions", () => {
    expect(editDistance("kitten", "sitting")).toBe(3);
    expect(editDistance("", "abc")).toBe(3);
    expect(editDistance("abc", "abc")).toBe(0);
    expect(editDistance("ab", "ba")).toBe(2);
  });

  it("is the summed distance over the summed truth length", () => {
    expect(characterErrorRate(["kitten", "abc"], ["sitting", "abd"])).toBeCloseTo((3 + 1) / (7 + 3), 15);
    expect(characterErrorRate(["", ""], ["ab", "c"])).toBe(1);
    expect(() => characterErrorRate(["a"], ["a", "b"])).toThrow(
      /characterErrorRate: read and truth must have the same length, got 1 and 2/,
    );
    expect(() => characterErrorRate([""], [""])).toThrow(/characterErrorRate: truth holds no characters/);
  });
});

describe("symmetricEigen", () => {
  it("reconstructs a random symmetric 6x6 matrix as V diag(l) V^T with orthonormal V", () => {
    const d = 6;
    const r = randn([d, d], 3).data;
    const m = new Float64Array(d * d);
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) m[i * d + j] = r[i * d + j] + r[j * d + i];
    const { values, vectors } = symmetricEigen(m, d);
    for (let i = 0; i < d; i++)
      for (let j = 0; j < d; j++) {
        let back = 0;
        let gram = 0;
        for (let k = 0; k < d; k++) {
          back += vectors[i * d + k] * values[k] * vectors[j * d + k];
          gram += vectors[k * d + i] * vectors[k * d + j];
        }
        expect(Math.abs(back - m[i * d + j])).toBeLessThan(1e-12);
        expect(Math.abs(gram - (i === j ? 1 : 0))).toBeLessThan(1e-12);
      }
  });
});

describe("frechetDistance", () => {
  /** n rows of d independent coordinates, coordinate j scaled by s[j] and shifted by mu[j]. */
  const sample = (n: number, mu: number[], s: number[], seed: number) => {
    const d = mu.length;
    const z = randn([n, d], seed).data;
    return Float64Array.from(z, (v, i) => mu[i % d] + s[i % d] * v);
  };
  /** Unbiased moments per coordinate: for diagonal covariances the distance is sum (m1 - m2)^2 + (s1 - s2)^2. */
  const diagonalClosedForm = (x: Float64Array, y: Float64Array, n: number, d: number) => {
    let out = 0;
    for (let j = 0; j < d; j++) {
      const col = (a: Float64Array) => Array.from({ length: n }, (_, i) => a[i * d + j]);
      const mean = (c: number[]) => c.reduce((a, b) => a + b, 0) / c.length;
      const sd = (c: number[]) => Math.sqrt(c.reduce((a, b) => a + (b - mean(c)) ** 2, 0) / (c.length - 1));
      out += (mean(col(x)) - mean(col(y))) ** 2 + (sd(col(x)) - sd(col(y))) ** 2;
    }
    return out;
  };

  it("is 0 for a set against itself", () => {
    const x = sample(50, [0, 1, 2], [1, 2, 0.5], 1);
    expect(Math.abs(frechetDistance(x, 50, x, 50, 3))).toBeLessThan(1e-9);
  });

  it("matches the closed form of one-dimensional sets", () => {
    const x = sample(40, [0.3], [1.5], 2);
    const y = sample(40, [-1], [0.4], 3);
    expect(frechetDistance(x, 40, y, 40, 1)).toBeCloseTo(diagonalClosedForm(x, y, 40, 1), 10);
  });

  it("rejects sets of fewer than two rows or of the wrong size", () => {
    expect(() => frechetDistance([1, 2], 1, [1, 2], 1, 2)).toThrow(/frechetDistance: n must be an integer >= 2/);
    expect(() => frechetDistance([1, 2, 3], 2, [1, 2, 3, 4], 2, 2)).toThrow(/frechetDistance: x must hold n \* d = 4 values, got 3/);
  });
});
