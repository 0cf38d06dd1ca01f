/** attention() with rotary tables computed beforehand (M-RoPE) equals attention of q and k rotated by rope.applyRope (float64, "cpu"). */
import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, it } from "vitest";
import { attention } from "../../src/attention/attention.js";
import { applyRope } from "../../src/pe/rope/apply.js";
import { inverseFrequencies } from "../../src/pe/rope/frequencies.js";
import { mropePositions, mropeTables } from "../../src/pe/rope/mrope.js";
import { init } from "../../src/runtime/init.js";
import { randn, read } from "../gradcheck.js";
import { expectClose, FLOAT64_FORMULA } from "../tolerance.js";

beforeAll(async () => {
  await init({ device: "cpu" });
});

describe("attention with M-RoPE tables", () => {
  it("equals attention of rows rotated by the same tables, causal, grouped-query", async () => {
    const positions = mropePositions([{ text: 2 }, { image: { t: 1, h: 2, w: 3 } }, { text: 3 }]);
    const L = positions.temporal.length;
    const D = 12;
    const t = mropeTables(positions, inverseFrequencies(D, 100), { section: [2, 2, 2], pairing: "halves" });
    const q = randn([1, 4, L, D], 1);
    const k = randn([1, 2, L, D], 2);
    const v = randn([1, 2, L, 5], 3);
    const arr = (x: { data: Float64Array; shape: number[] }) => np.array(x.data).reshape(x.shape);
    const rotated = (x: { data: Float64Array; shape: number[] }) => {
      const [B, H] = x.shape;
      const out = new Float64Array(x.data.length);
      for (let h = 0; h < B * H; h++)
        out.set(applyRope(x.data.subarray(h * L * D, (h + 1) * L * D), t, { pairing: "halves", headDim: D }), h * L * D);
      return np.array(out).reshape(x.shape);
    };
    const pe = { type: "rotary", pairing: "halves", frequencies: { tables: { query: t, key: t } } } as const;
    const got = await read(attention(arr(q), arr(k), arr(v), { causal: true, pe }));
    const want = await read(attention(rotated(q), rotated(k), arr(v), { causal: true }));
    expectClose(got, want, FLOAT64_FORMULA, "M-RoPE attention");
    const short = mropeTables(mropePositions([{ text: 3 }]), inverseFrequencies(D, 100), { section: [2, 2, 2], pairing: "halves" });
    expect(() => attention(arr(q), arr(k), arr(v), { pe: { ...pe, frequencies: { tables: { query: short, key: t } } } })).toThrow(
      `attention: options.pe.frequencies.tables.query must hold ${L} rows (one per query), got 3`,
    );
  });
});
