import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { normal, truncatedNormal } from "../../src/pe/learned.js";
import { rng } from "../../src/pe/random.js";
import { positions1d, positions2d } from "../../src/pe/randomized.js";

describe("randomized positions", () => {
  it("are sorted, distinct, in range and reproducible by seed", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 0, max: 200 }), fc.nat(), (L, extra, seed) => {
        const N = L + extra + 1;
        const p = positions1d(L, N, seed);
        if (p.length !== L) return false;
        for (let i = 0; i < L; i++) {
          if (!Number.isInteger(p[i]) || p[i] < 0 || p[i] >= N) return false;
          if (i > 0 && !(p[i] > p[i - 1])) return false;
        }
        return positions1d(L, N, seed).every((v, i) => v === p[i]);
      }),
    );
  });

  it("include each position with probability L / N (uniform subset)", () => {
    const L = 8;
    const N = 32;
    const trials = 4000;
    const counts = new Float64Array(N);
    for (let s = 0; s < trials; s++) for (const v of positions1d(L, N, s)) counts[v]++;
    // Each count ~ Binomial(trials, 1/4): mean 1000, sd ~27; 5 sd bound over 32 positions.
    const mean = (trials * L) / N;
    const sd = Math.sqrt(trials * (L / N) * (1 - L / N));
    for (let v = 0; v < N; v++) expect(Math.abs(counts[v] - mean), `position ${v}`).toBeLessThan(5 * sd);
  });

  it("2-D: rows and columns drawn per axis from their own ranges", () => {
    const { rows, cols } = positions2d({ height: 4, width: 6, maxHeight: 16, maxWidth: 64 }, 7);
    expect(rows.length).toBe(4);
    expect(cols.length).toBe(6);
    expect(Math.max(...rows)).toBeLessThan(16);
    expect(Math.max(...cols)).toBeLessThan(64);
    expect([...rows]).toEqual([...rows].sort((a, b) => a - b));
    expect(() => positions2d({ height: 5, width: 2, maxHeight: 4, maxWidth: 4 }, 0)).toThrow(
      /randomized.positions2d: grid.height \(5\) must be <= grid.maxHeight \(4\)/,
    );
    expect(() => positions1d(3, 2, 0)).toThrow(/randomized.positions1d: length \(3\) must be <= maxLength \(2\)/);
  });
});

describe("learned-table initialisers", () => {
  it("normal: sample mean and std match N(mean, std^2)", () => {
    const n = 200_000;
    const x = normal(n, { std: 0.02, mean: 0.5, seed: 1 });
    const mean = x.reduce((a, b) => a + b, 0) / n;
    const sd = Math.sqrt(x.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
    // standard errors: 0.02 / sqrt(n) = 4.5e-5 for the mean, ~0.02 / sqrt(2n) = 3.2e-5 for the std
    expect(Math.abs(mean - 0.5)).toBeLessThan(5 * 4.5e-5);
    expect(Math.abs(sd - 0.02)).toBeLessThan(5 * 3.2e-5);
    expect(Array.from(normal(5, { std: 1, seed: 3 }))).toEqual(Array.from(normal(5, { std: 1, seed: 3 })));
  });

  it("truncatedNormal: within bounds, variance of the truncated distribution", () => {
    // N(0, 1) truncated to [-1, 1]: variance = 1 - 2 phi(1) / (2 Phi(1) - 1) = 0.29112509
    const n = 200_000;
    const x = truncatedNormal(n, { std: 1, seed: 2, lower: -1, upper: 1 });
    expect(x.every((v) => v >= -1 && v <= 1)).toBe(true);
    const variance = x.reduce((a, b) => a + b * b, 0) / n;
    expect(Math.abs(variance - 0.29112509)).toBeLessThan(0.005);
    expect(() => truncatedNormal(3, { std: 1, seed: 0, lower: 1, upper: 1 })).toThrow(
      /learned.truncatedNormal: init.lower must be < init.upper/,
    );
    expect(() => normal(3, { std: 0, seed: 0 })).toThrow(/learned.normal: init.std must be > 0, got 0/);
  });

  it("rng: uniform in [0, 1), deterministic by seed, seeds decorrelated", () => {
    const a = rng(42);
    const b = rng(42);
    const c = rng(43);
    let same = 0;
    for (let i = 0; i < 1000; i++) {
      const u = a.uniform();
      expect(u).toBeGreaterThanOrEqual(0);
      expect(u).toBeLessThan(1);
      expect(b.uniform()).toBe(u);
      if (c.uniform() === u) same++;
    }
    expect(same).toBe(0);
    expect(() => rng(-1)).toThrow(/random.rng: seed must be an integer >= 0, got -1/);
  });
});
