/**
 * config.json of the model families users run, read as each family's own
 * config class and rotary module read it (transformers fixtures,
 * scripts/fixtures/hf_families.py): frequencies, attention factor, cos/sin,
 * the pairing, and DeepSeek's softmax scale.
 */
import { describe, expect, it } from "vitest";
import { tables } from "../../src/pe/rope/apply.js";
import { fromHFConfig, type HFConfig } from "../../src/pe/rope/hfConfig.js";
import { fixture } from "../fixtures.js";
import { expectClose, FLOAT32_EPS } from "../tolerance.js";

interface FamilyCase {
  name: string;
  family: string;
  layerType: string | null;
  config: HFConfig;
  positions: number[];
  width: number;
  invFreq?: number[];
  attentionFactor?: number;
  cos?: number[];
  sin?: number[];
  /** GPT-J: one column per pair. */
  pairCos?: number[];
  pairSin?: number[];
  softmaxScale?: number;
  pairing: "halves" | "interleaved";
}

const cases = fixture<FamilyCase>("hf_families").cases;

/** As hfRope.test.ts: float32 theta and angle in transformers, |p theta| (ln(base) + 9) + 4 ulps. */
const bound = (angle: number, base: number, factor: number) => factor * (angle * (Math.log(base) + 9) + 4) * FLOAT32_EPS;

describe("config.json of each family, read as transformers reads it", () => {
  it("covers the families", () => {
    const families = new Set(cases.map((c) => c.family));
    for (const f of [
      "llama",
      "mistral",
      "mixtral",
      "qwen2",
      "phi3",
      "deepseek_v2",
      "deepseek_v3",
      "gemma2",
      "gemma3_text",
      "gpt_neox",
      "gptj",
      "falcon",
    ])
      expect(families.has(f), f).toBe(true);
  });

  for (const c of cases) {
    it(c.name, () => {
      const seqLen = Math.max(...c.positions) + 1;
      const r = fromHFConfig(c.config, { seqLen, ...(c.layerType ? { layerType: c.layerType } : {}) });
      expect(r.rotaryDim).toBe(c.width);
      expect(r.pairing).toBe(c.pairing);
      const base = r.parameters.base;
      if (c.pairCos && c.pairSin) {
        // GPT-J: create_sinusoidal_positions, interleaved pairs; float32 as the others
        const t = tables(c.positions, r.invFreq, { pairing: "interleaved" });
        const half = c.width / 2;
        for (let p = 0; p < c.positions.length; p++) {
          for (let i = 0; i < half; i++) {
            const b = bound(Math.abs(c.positions[p] * r.invFreq[i]), base, 1);
            expect(Math.abs(t.cos[p * c.width + 2 * i] - c.pairCos[p * half + i])).toBeLessThanOrEqual(b);
            expect(Math.abs(t.sin[p * c.width + 2 * i + 1] - c.pairSin[p * half + i])).toBeLessThanOrEqual(b);
          }
        }
        return;
      }
      // the rotary module's tables are in the halves layout, whichever pairing the family applies them with
      expectClose(r.invFreq, c.invFreq!, { rtol: (Math.log(base) + 8) * FLOAT32_EPS, atol: 0 }, `${c.name} invFreq`);
      expect(r.attentionFactor).toBeCloseTo(c.attentionFactor!, 6);
      const t = tables(c.positions, r.invFreq, { pairing: "halves", attentionFactor: r.attentionFactor });
      for (const [name, ours, theirs] of [
        ["cos", t.cos, c.cos!],
        ["sin", t.sin, c.sin!],
      ] as const) {
        for (let p = 0; p < c.positions.length; p++) {
          for (let j = 0; j < c.width; j++) {
            const b = bound(Math.abs(c.positions[p] * r.invFreq[j % (c.width / 2)]), base, r.attentionFactor);
            const diff = Math.abs(ours[p * c.width + j] - theirs[p * c.width + j]);
            if (diff > b)
              expect.fail(`${name}[${c.positions[p]}, ${j}]: ${ours[p * c.width + j]} vs ${theirs[p * c.width + j]} (bound ${b})`);
          }
        }
      }
      // DeepSeek: the attention module's scaling over 1 / sqrt(qk_head_dim); 1 for every other family
      expect(r.softmaxScale).toBeCloseTo(c.softmaxScale ?? 1, 6);
    });
  }
});
