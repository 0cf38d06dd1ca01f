import { describe, expect, it } from "vitest";
import { type FlagSpec, parseFlags } from "../../bench/flags.js";

const spec = {
  sizes: { kind: "ints", default: [256, 512] },
  reps: { kind: "int", default: 5 },
  fft: { kind: "int", default: undefined },
  pe: { kind: "names", default: ["none", "alibi"], allowed: ["none", "alibi", "rope"] },
  "no-composite": { kind: "switch" },
} satisfies Record<string, FlagSpec>;

describe("bench flags", () => {
  it("gives the defaults, and the values given", () => {
    expect(parseFlags("b.ts", [], spec)).toEqual({
      sizes: [256, 512],
      reps: 5,
      fft: undefined,
      pe: ["none", "alibi"],
      "no-composite": false,
    });
    expect(parseFlags("b.ts", ["--sizes", "1024,4096", "--no-composite", "--pe", "rope", "--fft", "8"], spec)).toEqual({
      sizes: [1024, 4096],
      reps: 5,
      fft: 8,
      pe: ["rope"],
      "no-composite": true,
    });
  });

  it("refuses unknown flags, missing values, non-integers and unknown names, naming them", () => {
    expect(() => parseFlags("b.ts", ["--rep", "3"], spec)).toThrow(
      'b.ts: unknown option "--rep"; known: --sizes, --reps, --fft, --pe, --no-composite',
    );
    expect(() => parseFlags("b.ts", ["--reps"], spec)).toThrow("b.ts: --reps needs a value");
    expect(() => parseFlags("b.ts", ["--reps", "--no-composite"], spec)).toThrow("b.ts: --reps needs a value");
    expect(() => parseFlags("b.ts", ["--reps", "2.5"], spec)).toThrow('b.ts: --reps takes positive integers, got "2.5"');
    expect(() => parseFlags("b.ts", ["--sizes", "256,x"], spec)).toThrow('b.ts: --sizes takes positive integers, got "x"');
    expect(() => parseFlags("b.ts", ["--pe", "rope,fire"], spec)).toThrow('b.ts: --pe takes none, alibi, rope, got "fire"');
  });
});
