import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, it } from "vitest";
import { addAbsolute } from "../../src/attention/absolute.js";
import { positions1d } from "../../src/pe/randomized.js";
import { sinusoidal } from "../../src/pe/sinusoidal.js";
import { init } from "../../src/runtime/init.js";
import { checkGradients, randn, read } from "../gradcheck.js";
import { expectClose, FLOAT64_FORMULA } from "../tolerance.js";
import { arr } from "./reference.js";

beforeAll(async () => {
  await init({ device: "cpu" });
});

const x = randn([2, 5, 6], 1);

describe("addAbsolute", () => {
  it("sinusoidal equals x + scale * pe/sinusoidal at the given positions (randomized)", async () => {
    const pos = positions1d(5, 64, 3);
    for (const layout of ["interleaved", "concatenated"] as const) {
      const got = await read(addAbsolute(arr(x), { type: "absolute", kind: "sinusoidal", layout, scale: 0.5 }, pos));
      const table = sinusoidal(pos, 6, { layout, scale: 0.5 });
      const expected = x.data.map((val, i) => val + table[i % 30]);
      expectClose(got, expected, FLOAT64_FORMULA, layout);
    }
  });

  it("learned table rows at the positions, with gradients to the table and a learnable scale", async () => {
    const table = randn([8, 6], 2);
    const got = await read(addAbsolute(arr(x), { type: "absolute", kind: "learned", table: arr(table) }, [7, 0, 3, 3, 1]));
    const rows = [7, 0, 3, 3, 1];
    expectClose(
      got,
      x.data.map((val, i) => val + table.data[rows[Math.floor(i / 6) % 5] * 6 + (i % 6)]),
      FLOAT64_FORMULA,
    );
    await checkGradients(
      (xa, t, s) => addAbsolute(xa, { type: "absolute", kind: "learned", table: t, scale: s }),
      [x, table, { data: Float64Array.of(0.3), shape: [] }],
    );
    await checkGradients(
      (xa, s) => addAbsolute(xa, { type: "absolute", kind: "sinusoidal", layout: "concatenated", scale: s }, [0.5, 1, 2, 4, 8]),
      [x, { data: Float64Array.of(0.4), shape: [] }],
    );
  });

  it("rejects positions past the table and bad widths", () => {
    expect(() => addAbsolute(arr(x), { type: "absolute", kind: "learned", table: np.zeros([4, 6]) })).toThrow(
      /addAbsolute: position 4 is past the learned table of 4 positions/,
    );
    expect(() => addAbsolute(np.zeros([1, 2, 5]), { type: "absolute", kind: "sinusoidal", layout: "interleaved" })).toThrow(
      /addAbsolute: sinusoidal encodings need an even width C, got 5/,
    );
  });
});
