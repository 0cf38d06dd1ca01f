import { describe, expect, it } from "vitest";
import { inverseFrequencies, scaledInitScale, sinusoidal } from "../../src/pe/sinusoidal.js";
import { expectClose, FLOAT64_FORMULA } from "../tolerance.js";

// Direct evaluation of Vaswani et al. section 3.5: PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(...).
function vaswani(L: number, d: number, base = 10000): number[] {
  const out: number[] = [];
  for (let pos = 0; pos < L; pos++) {
    for (let k = 0; k < d; k++) {
      const i = Math.floor(k / 2);
      const angle = pos / base ** ((2 * i) / d);
      out.push(k % 2 === 0 ? Math.sin(angle) : Math.cos(angle));
    }
  }
  return out;
}

describe("sinusoidal", () => {
  it("interleaved layout equals the paper's formula", () => {
    expectClose(sinusoidal(50, 16, { layout: "interleaved" }), vaswani(50, 16), FLOAT64_FORMULA);
    expectClose(sinusoidal(7, 8, { layout: "interleaved", base: 500 }), vaswani(7, 8, 500), FLOAT64_FORMULA);
  });

  it("concatenated layout holds the same values, sines first (x-transformers ScaledSinusoidalEmbedding)", () => {
    const L = 9;
    const d = 12;
    const inter = sinusoidal(L, d, { layout: "interleaved" });
    const scale = scaledInitScale(d);
    const cat = sinusoidal(L, d, { layout: "concatenated", scale });
    for (let p = 0; p < L; p++) {
      for (let i = 0; i < d / 2; i++) {
        expect(cat[p * d + i]).toBeCloseTo(scale * inter[p * d + 2 * i], 14);
        expect(cat[p * d + d / 2 + i]).toBeCloseTo(scale * inter[p * d + 2 * i + 1], 14);
      }
    }
    expect(scale).toBe(1 / Math.sqrt(12));
  });

  it("explicit (fractional) positions", () => {
    const t = sinusoidal([0.5, 3.25], 4, { layout: "interleaved" });
    const inv = inverseFrequencies(4);
    expectClose(
      t,
      [
        Math.sin(0.5),
        Math.cos(0.5),
        Math.sin(0.5 * inv[1]),
        Math.cos(0.5 * inv[1]),
        Math.sin(3.25),
        Math.cos(3.25),
        Math.sin(3.25 * inv[1]),
        Math.cos(3.25 * inv[1]),
      ],
      FLOAT64_FORMULA,
    );
  });

  it("rejects bad input with the function and field named", () => {
    expect(() => sinusoidal(4, 7, { layout: "interleaved" })).toThrow(/sinusoidal: dim must be even, got 7/);
    // @ts-expect-error layout is required
    expect(() => sinusoidal(4, 8, {})).toThrow(/sinusoidal: options.layout must be "interleaved" or "concatenated"/);
    expect(() => sinusoidal([0, NaN], 8, { layout: "interleaved" })).toThrow(/sinusoidal: positions\[1\] must be finite, got NaN/);
    expect(() => sinusoidal(4, 8, { layout: "interleaved", base: -1 })).toThrow(/options.base must be > 0/);
  });
});
