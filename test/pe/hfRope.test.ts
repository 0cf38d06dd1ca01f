import { describe, expect, it } from "vitest";
import { applyRope, tables } from "../../src/pe/rope/apply.js";
import { inverseFrequencies } from "../../src/pe/rope/frequencies.js";
import { fromHFConfig, type HFConfig } from "../../src/pe/rope/hfConfig.js";
import { fixture } from "../fixtures.js";
import { expectClose, FLOAT32_EPS } from "../tolerance.js";

interface InitCase {
  name: string;
  config: HFConfig;
  savedConfig: HFConfig;
  seqLen: number | null;
  ropeType: string;
  invFreq: number[];
  attentionFactor: number;
  positions?: number[];
  cos?: number[];
  sin?: number[];
}

/**
 * transformers computes theta_i = 1 / base^(fround(2i/d)) in float32: the
 * rounded exponent moves the power by up to ln(base) * 2^-24 relative, and the
 * pow, reciprocal and (for the scaled types) the blend, ramp and factor
 * products add a few roundings more: (ln(base) + 8) float32 ulps relative.
 */
const hfInvFreqTolerance = (base: number) => ({ rtol: (Math.log(base) + 8) * FLOAT32_EPS, atol: 0 });
/** The attention factor is a Python float (float64) in transformers. */
const ATTENTION_FACTOR_DIGITS = 14;

const init = fixture<InitCase>("hf_rope_init");

describe("rope.fromHFConfig matches transformers' RoPE init functions", () => {
  it("covers every rope type", () => {
    expect(new Set(init.cases.map((c) => c.ropeType))).toEqual(
      new Set(["default", "linear", "dynamic", "yarn", "longrope", "llama3", "proportional"]),
    );
  });

  for (const c of init.cases) {
    for (const form of ["config", "savedConfig"] as const) {
      it(`${c.name} (${form === "config" ? "config as written" : "config as saved by transformers"})`, () => {
        const r = fromHFConfig(c[form], c.seqLen === null ? {} : { seqLen: c.seqLen });
        expect(r.type).toBe(c.ropeType);
        expect(r.rotaryDim).toBe(r.type === "proportional" ? r.headDim : 2 * c.invFreq.length);
        expect(r.attentionFactor).toBeCloseTo(c.attentionFactor, ATTENTION_FACTOR_DIGITS);
        expectClose(r.invFreq, c.invFreq, hfInvFreqTolerance(r.parameters.base), `${c.name} invFreq`);
      });
    }
    const { cos, sin, positions } = c;
    if (cos && sin && positions) {
      it(`${c.name}: cos/sin tables equal the rotary module's (halves layout, attention factor applied)`, () => {
        // The module sees positions up to max(p): "dynamic" and "longrope" pick their frequencies from that length.
        const r0 = fromHFConfig(c.config, { seqLen: Math.max(...positions) + 1 });
        const t = tables(positions, r0.invFreq, { pairing: "halves", attentionFactor: r0.attentionFactor });
        // transformers rounds theta (see hfInvFreqTolerance) and the angle p * theta to float32 before
        // cos/sin: the angle is off by up to |p theta| (ln(base) + 9) 2^-24; cos/sin, the factor and
        // the cast add ~4 ulps of the result.
        const r = t.rotaryDim;
        const lnBase = Math.log(r0.parameters.base);
        for (const [name, ours, theirs] of [
          ["cos", t.cos, cos],
          ["sin", t.sin, sin],
        ] as const) {
          for (let p = 0; p < positions.length; p++) {
            for (let j = 0; j < r; j++) {
              const angle = Math.abs(positions[p] * r0.invFreq[j % (r / 2)]);
              const bound = r0.attentionFactor * (angle * (lnBase + 9) + 4) * FLOAT32_EPS;
              const diff = Math.abs(ours[p * r + j] - theirs[p * r + j]);
              if (diff > bound) expect.fail(`${name}[${positions[p]}, ${j}]: ${ours[p * r + j]} vs ${theirs[p * r + j]} (bound ${bound})`);
            }
          }
        }
      });
    }
  }
});

interface ApplyCase {
  name: string;
  pairing: "halves" | "interleaved";
  headDim: number;
  rotaryDim: number;
  base: number;
  positions: number[];
  q: number[];
  k?: number[];
  qOut: number[];
  kOut?: number[];
}

const apply = fixture<ApplyCase>("hf_rope_apply");

describe("rope.applyRope matches transformers' apply functions", () => {
  for (const c of apply.cases) {
    it(c.name, () => {
      const D = c.headDim;
      const S = c.positions.length;
      const t = tables(c.positions, inverseFrequencies(c.rotaryDim, c.base), { pairing: c.pairing });
      const pairs: [number[], number[]][] = [[c.q, c.qOut]];
      if (c.k && c.kOut) pairs.push([c.k, c.kOut]);
      for (const [x, expected] of pairs) {
        const heads = x.length / (S * D);
        for (let h = 0; h < heads; h++) {
          const rows = x.slice(h * S * D, (h + 1) * S * D);
          const ours = applyRope(rows, t, { pairing: c.pairing, headDim: D });
          // positions <= 16, |x| <~ 5: float32 angles and products give a few ulps of 5 * 16
          expectClose(ours, expected.slice(h * S * D, (h + 1) * S * D), { rtol: 0, atol: 16 * 5 * 4 * FLOAT32_EPS }, `${c.name} head ${h}`);
        }
      }
    });
  }
});
