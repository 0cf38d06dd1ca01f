import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, it } from "vitest";
import { applyRotary, rotaryTables } from "../../src/attention/rotary.js";
import { applyRope, tables } from "../../src/pe/rope/apply.js";
import { inverseFrequencies } from "../../src/pe/rope/frequencies.js";
import { xposScales } from "../../src/pe/rope/xpos.js";
import { init } from "../../src/runtime/init.js";
import { checkGradients, randn, read } from "../gradcheck.js";
import { expectClose, FLOAT64_FORMULA } from "../tolerance.js";

beforeAll(async () => {
  await init({ device: "cpu" });
});

describe("applyRotary (jax-js) equals pe/rope in float64", () => {
  for (const pairing of ["halves", "interleaved"] as const) {
    for (const R of [8, 4]) {
      it(`${pairing}, rotaryDim ${R} of 8, attention factor 1.3, xPos on queries`, async () => {
        const L = 5;
        const D = 8;
        const positions = [3, 4, 5, 9, 100];
        const x = randn([2, L, D], 11);
        const inv = inverseFrequencies(R, 10000);
        const { cos, sin } = rotaryTables(np.array(Float64Array.from(positions)), inv, {
          pairing,
          attentionFactor: 1.3,
          xpos: { scaleBase: 64, center: 2, sign: 1 },
        });
        const out = await read(applyRotary(np.array(x.data).reshape(x.shape), cos, sin, pairing));
        const t = tables(positions, inv, { pairing, attentionFactor: 1.3 });
        const sc = xposScales(positions, R, { pairing, center: 2, scaleBase: 64 }).query;
        const scaled = { ...t, cos: t.cos.map((v, i) => v * sc[i]), sin: t.sin.map((v, i) => v * sc[i]) };
        for (let h = 0; h < 2; h++) {
          const ref = applyRope(x.data.slice(h * L * D, (h + 1) * L * D), scaled, { pairing, headDim: D });
          expectClose(out.slice(h * L * D, (h + 1) * L * D), ref, FLOAT64_FORMULA, `head ${h}`);
        }
      });
    }
  }

  it("is differentiable in x and the positions", async () => {
    const inv = inverseFrequencies(4, 100);
    await checkGradients(
      (x, p) => {
        const { cos, sin } = rotaryTables(p, inv, { pairing: "halves", xpos: { scaleBase: 16, center: 1, sign: -1 } });
        return applyRotary(x, cos, sin, "halves");
      },
      [randn([2, 3, 6], 5), { data: Float64Array.of(0.5, 1.5, 7), shape: [3] }],
    );
  });

  it("rejects tables that do not fit", () => {
    const { cos, sin } = rotaryTables(np.arange(3).astype(np.float64), inverseFrequencies(8, 100), { pairing: "halves" });
    expect(() => applyRotary(np.zeros([3, 4], { dtype: np.float64 }), cos, sin, "halves")).toThrow(
      /applyRotary: tables cos \(3, 8\) and sin \(3, 8\) do not fit x \(3, 4\)/,
    );
  });
});
