import { describe, expect, it } from "vitest";
import { FIRE_INIT, transform } from "../../src/pe/fire.js";
import { bias as kerpleBias } from "../../src/pe/kerple.js";
import { expectClose, FLOAT64_FORMULA } from "../tolerance.js";

describe("KERPLE", () => {
  it("log and power kernels equal -r1 log(1 + r2 d) and -r1 d^r2 (Chi et al. eq. 7-8)", () => {
    const r1 = [0.5, 1.7];
    const r2 = [0.3, 1.2];
    const L = 6;
    const log = kerpleBias({ kind: "log", r1, r2 }, L, L);
    const pow = kerpleBias({ kind: "power", r1, r2 }, L, L);
    const expLog: number[] = [];
    const expPow: number[] = [];
    for (let h = 0; h < 2; h++) {
      for (let i = 0; i < L; i++) {
        for (let j = 0; j < L; j++) {
          expLog.push(-r1[h] * Math.log(1 + r2[h] * Math.abs(i - j)));
          expPow.push(-r1[h] * Math.abs(i - j) ** r2[h]);
        }
      }
    }
    expectClose(log, expLog, FLOAT64_FORMULA, "log");
    expectClose(pow, expPow, FLOAT64_FORMULA, "power");
  });

  it("rejects out-of-range parameters", () => {
    expect(() => kerpleBias({ kind: "power", r1: [1], r2: [2.5] }, 2, 2)).toThrow(
      /kerple.bias: params.r2\[0\] must be in \(0, 2\], got 2.5/,
    );
    expect(() => kerpleBias({ kind: "log", r1: [1, 2], r2: [1] }, 2, 2)).toThrow(/one value per head, got lengths 2 and 1/);
    expect(() => kerpleBias({ kind: "log", r1: [NaN], r2: [1] }, 2, 2)).toThrow(/params.r1\[0\] must be finite, got NaN/);
    expect(() => kerpleBias({ kind: "log", r1: [-1], r2: [1] }, 2, 2)).toThrow(/params.r1\[0\] must be > 0/);
  });
});

describe("FIRE transform", () => {
  it("equals psi(i - j) / (psi(max(i, L)) + eps), psi(x) = log(|c x| + 1) (Li et al. eq. 5)", () => {
    const p = { c: 0.3, threshold: 3, eps: 1e-6 };
    const L = 7;
    const out = transform(p, L, L);
    const expected: number[] = [];
    for (let i = 0; i < L; i++) {
      for (let j = 0; j < L; j++) {
        expected.push(Math.log(Math.abs(0.3 * (i - j)) + 1) / (Math.log(0.3 * Math.max(i, 3) + 1) + 1e-6));
      }
    }
    expectClose(out, expected, FLOAT64_FORMULA);
    expect(FIRE_INIT).toEqual({ c: 0.1, threshold: 512, eps: 1e-6 });
  });

  it("rejects bad parameters", () => {
    expect(() => transform({ ...FIRE_INIT, threshold: 0 }, 2, 2)).toThrow(/fire.transform: params.threshold must be > 0, got 0/);
    expect(() => transform({ ...FIRE_INIT, c: Infinity }, 2, 2)).toThrow(/params.c must be a finite number, got Infinity/);
  });
});
