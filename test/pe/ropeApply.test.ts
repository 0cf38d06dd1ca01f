import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { applyRope, tables } from "../../src/pe/rope/apply.js";
import { inverseFrequencies } from "../../src/pe/rope/frequencies.js";
import type { Pairing } from "../../src/pe/rope/pairing.js";
import { xposScales } from "../../src/pe/rope/xpos.js";

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};
const vec = (n: number) => fc.array(fc.double({ min: -3, max: 3, noNaN: true }), { minLength: n, maxLength: n });
const pairing = fc.constantFrom<Pairing>("halves", "interleaved");
/** |a - b| within 1e-9 relative to the magnitudes involved. */
const near = (a: number, b: number, scale: number) => Math.abs(a - b) <= 1e-9 * (1 + scale);

/** One row x rotated at position p. */
function rotate(x: number[], p: number, rotaryDim: number, pr: Pairing, base = 10000): Float64Array {
  return applyRope(x, tables([p], inverseFrequencies(rotaryDim, base), { pairing: pr }), { pairing: pr, headDim: x.length });
}

describe("RoPE application", () => {
  it("q.k depends only on m - n (both pairings, partial rotary leaves the rest dot-invariant)", () => {
    fc.assert(
      fc.property(
        pairing,
        vec(8),
        vec(8),
        fc.integer({ min: 0, max: 5000 }),
        fc.integer({ min: 0, max: 5000 }),
        fc.integer({ min: -300, max: 300 }),
        (pr, q, k, m, n, shift) => {
          fc.pre(m + shift >= 0 && n + shift >= 0);
          for (const rotaryDim of [8, 4]) {
            const a = dot(rotate(q, m, rotaryDim, pr), rotate(k, n, rotaryDim, pr));
            const b = dot(rotate(q, m + shift, rotaryDim, pr), rotate(k, n + shift, rotaryDim, pr));
            if (!near(a, b, dot(q, q) + dot(k, k))) return false;
          }
          return true;
        },
      ),
    );
  });

  it("preserves norms and passes the non-rotary dims through", () => {
    fc.assert(
      fc.property(pairing, vec(10), fc.double({ min: -1e4, max: 1e4, noNaN: true }), (pr, x, p) => {
        const y = rotate(x, p, 6, pr);
        return near(dot(y, y), dot(x, x), dot(x, x)) && y[6] === x[6] && y[9] === x[9];
      }),
    );
  });

  it("pairings: halves rotates (x[i], x[i + r/2]), interleaved rotates (x[2i], x[2i+1])", () => {
    const x = [1, 2, 3, 4];
    const inv = inverseFrequencies(4, 10000); // [1, 0.01]
    const p = 0.7;
    const h = rotate(x, p, 4, "halves");
    const c0 = Math.cos(p),
      s0 = Math.sin(p),
      c1 = Math.cos(p * inv[1]),
      s1 = Math.sin(p * inv[1]);
    // halves: pair 0 = (x0, x2) at theta_0, pair 1 = (x1, x3) at theta_1
    expect(h[0]).toBeCloseTo(1 * c0 - 3 * s0, 14);
    expect(h[2]).toBeCloseTo(3 * c0 + 1 * s0, 14);
    expect(h[1]).toBeCloseTo(2 * c1 - 4 * s1, 14);
    expect(h[3]).toBeCloseTo(4 * c1 + 2 * s1, 14);
    const i = rotate(x, p, 4, "interleaved");
    expect(i[0]).toBeCloseTo(1 * c0 - 2 * s0, 14);
    expect(i[1]).toBeCloseTo(2 * c0 + 1 * s0, 14);
    expect(i[2]).toBeCloseTo(3 * c1 - 4 * s1, 14);
    expect(i[3]).toBeCloseTo(4 * c1 + 3 * s1, 14);
  });

  it("xPos: scaled q.k depends on m - n only through zeta^((m - n)/scaleBase) times the RoPE score", () => {
    fc.assert(
      fc.property(
        pairing,
        vec(8),
        vec(8),
        fc.integer({ min: 0, max: 2000 }),
        fc.integer({ min: 0, max: 2000 }),
        fc.integer({ min: 0, max: 500 }),
        (pr, q, k, m, n, shift) => {
          const opts = { pairing: pr, center: 100, scaleBase: 512 };
          const score = (mm: number, nn: number) => {
            const sq = xposScales([mm], 8, opts).query;
            const sk = xposScales([nn], 8, opts).key;
            return dot(
              rotate(q, mm, 8, pr).map((v, c) => v * sq[c]),
              rotate(k, nn, 8, pr).map((v, c) => v * sk[c]),
            );
          };
          return near(score(m, n), score(m + shift, n + shift), dot(q, q) + dot(k, k));
        },
      ),
    );
  });

  it("rejects mismatched shapes and unknown pairings", () => {
    const t = tables(2, inverseFrequencies(4, 10000), { pairing: "halves" });
    expect(() => applyRope([1, 2, 3], t, { pairing: "halves", headDim: 4 })).toThrow(
      /rope.applyRope: x must hold L \* headDim = 2 \* 4 = 8 values, got 3/,
    );
    expect(() => applyRope(new Float64Array(4), t, { pairing: "halves", headDim: 2 })).toThrow(
      /tables rotaryDim \(4\) exceeds options.headDim \(2\)/,
    );
    // @ts-expect-error unknown pairing
    expect(() => tables(2, [1], { pairing: "gptj" })).toThrow(/rope.tables: options.pairing must be "halves" or "interleaved", got "gptj"/);
    expect(() => tables(2, [NaN], { pairing: "halves" })).toThrow(/rope.tables: invFreq\[0\] must be finite/);
  });
});
