/** Multimodal RoPE against transformers 5.x: Qwen2-VL and Qwen2.5-VL (sectioned), Qwen3-VL (interleaved), Qwen2-VL's get_rope_index. */
import { describe, expect, it } from "vitest";
import { applyRope, tables } from "../../src/pe/rope/apply.js";
import { fromHFConfig, type HFConfig } from "../../src/pe/rope/hfConfig.js";
import { type MropeSegment, mropeAxes, mropePositions, mropeTables } from "../../src/pe/rope/mrope.js";
import { fixture } from "../fixtures.js";
import { expectClose, FLOAT32_EPS } from "../tolerance.js";

interface RotaryCase {
  name: string;
  config: HFConfig;
  section: [number, number, number];
  interleaved: boolean;
  positions: [number[], number[], number[]];
  headDim: number;
  invFreq: number[];
  cos: number[];
  sin: number[];
  q: number[];
  k: number[];
  qOut: number[];
  kOut: number[];
}
interface IndexCase {
  name: string;
  segments: MropeSegment[];
  positions: [number[], number[], number[]];
}

const cases = fixture<RotaryCase | IndexCase>("hf_mrope").cases;
const rotary = cases.filter((c): c is RotaryCase => "cos" in c);
const index = cases.filter((c): c is IndexCase => "segments" in c);

/**
 * transformers rounds theta and the angle p theta to float32 before cos/sin
 * (as in hfRope.test.ts): |p theta| (ln(base) + 9) 2^-24, plus ~4 ulps.
 */
const tableBound = (angle: number) => (angle * (Math.log(10000) + 9) + 4) * FLOAT32_EPS;

describe("M-RoPE matches transformers", () => {
  it("has Qwen2-VL, Qwen2.5-VL and Qwen3-VL, and the position index of an image and of a video", () => {
    expect(rotary.map((c) => c.name)).toEqual(["qwen2-vl sectioned", "qwen2.5-vl sectioned", "qwen3-vl interleaved"]);
    expect(index).toHaveLength(2);
  });

  for (const c of rotary) {
    it(`${c.name}: fromHFConfig reads the sections, the tables equal the rotary module's, q and k rotate as apply_rotary_pos_emb`, () => {
      const r = fromHFConfig(c.config);
      expect(r.mropeSection).toEqual(c.section);
      expect(r.mropeInterleaved).toBe(c.interleaved);
      expectClose(r.invFreq, c.invFreq, { rtol: (Math.log(10000) + 8) * FLOAT32_EPS, atol: 0 }, `${c.name} invFreq`);
      const [temporal, height, width] = c.positions;
      const t = mropeTables({ temporal, height, width }, r.invFreq, {
        section: r.mropeSection!,
        interleaved: r.mropeInterleaved,
        pairing: "halves",
      });
      const axes = mropeAxes(c.section, c.interleaved);
      const R = t.rotaryDim;
      for (const [name, ours, theirs] of [
        ["cos", t.cos, c.cos],
        ["sin", t.sin, c.sin],
      ] as const) {
        for (let l = 0; l < t.length; l++) {
          for (let j = 0; j < R; j++) {
            const f = j % (R / 2);
            const bound = tableBound(Math.abs(c.positions[axes[f]][l] * r.invFreq[f]));
            const diff = Math.abs(ours[l * R + j] - theirs[l * R + j]);
            if (diff > bound) expect.fail(`${name}[${l}, ${j}]: ${ours[l * R + j]} vs ${theirs[l * R + j]} (bound ${bound})`);
          }
        }
      }
      const D = c.headDim;
      const L = t.length;
      for (const [x, expected] of [
        [c.q, c.qOut],
        [c.k, c.kOut],
      ]) {
        for (let h = 0; h < x.length / (L * D); h++) {
          const rows = x.slice(h * L * D, (h + 1) * L * D);
          // positions <= 7, |x| <~ 5: float32 angles and products give a few ulps of 5 * 8
          expectClose(applyRope(rows, t, { pairing: "halves", headDim: D }), expected.slice(h * L * D, (h + 1) * L * D), {
            rtol: 0,
            atol: 8 * 5 * 4 * FLOAT32_EPS,
          });
        }
      }
    });
  }

  for (const c of index) {
    it(`${c.name}: mropePositions of the same text and image runs`, () => {
      const p = mropePositions(c.segments);
      expect([Array.from(p.temporal), Array.from(p.height), Array.from(p.width)]).toEqual(c.positions);
    });
  }

  it("on text alone M-RoPE is RoPE, and bad input is refused by name", () => {
    const p = mropePositions([{ text: 5 }]);
    expect(Array.from(p.height)).toEqual([0, 1, 2, 3, 4]);
    for (const interleaved of [false, true]) {
      const m = mropeTables(p, [1, 0.1, 0.01], { section: [1, 1, 1], interleaved, pairing: "halves" });
      const plain = tables(5, [1, 0.1, 0.01], { pairing: "halves" });
      expect([m.cos, m.sin]).toEqual([plain.cos, plain.sin]);
    }
    expect(() => mropeTables(p, [1, 0.1, 0.01], { section: [1, 1, 2], pairing: "halves" })).toThrow(
      "rope.mropeTables: options.section [1, 1, 2] must sum to rotary dims / 2 = 3, got 4",
    );
    expect(() => mropeTables({ ...p, width: [0] }, [1, 0.1], { section: [1, 1, 0], pairing: "halves" })).toThrow(
      "rope.mropeTables: positions.temporal, .height and .width must have one length, got 5, 5, 1",
    );
    expect(() => mropePositions([{ video: 3 } as never])).toThrow(
      "rope.mropePositions: segments[0] must be { text } or { image: { t, h, w } }",
    );
    expect(() =>
      fromHFConfig({ hidden_size: 64, num_attention_heads: 4, rope_scaling: { type: "mrope", mrope_section: [2, 2, 2] } }),
    ).toThrow("rope.fromHFConfig: rope_parameters.mrope_section [2, 2, 2] must sum to rotary dims / 2 = 8, got 6");
  });
});
