import { jit, numpy as np } from "@jax-js/jax";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { applyRotary } from "../../src/attention/rotary.js";
import { type Rpe2dTableOptions, rpe2dTables } from "../../src/attention/rpe2d.js";
import { type AxialOptions, axialRope } from "../../src/pe/axialRope.js";
import { applyRope } from "../../src/pe/rope/apply.js";
import { rpe2dPositions } from "../../src/pe/rpe2d.js";
import { init } from "../../src/runtime/init.js";
import { checkGradients, randn, read } from "../gradcheck.js";
import { expectClose, FLOAT64_EPS, FLOAT64_FORMULA } from "../tolerance.js";

beforeAll(async () => {
  await init({ device: "cpu" });
});

const f64 = (v: ArrayLike<number>) => np.array(Float64Array.from(v));

describe("rpe2dTables (jax-js) equal pe/axialRope with explicit positions (float64)", () => {
  const grid = { height: 3, width: 5, maxHeight: 12, maxWidth: 20 };
  const cases: [string, Omit<AxialOptions, "positions">][] = [
    ["lang T=100", { convention: "lang", temperature: 100 }],
    ["lang xy", { convention: "lang", gridIndexing: "xy" }],
    ["pixel", { convention: "pixel", maxRes: 64 }],
  ];
  for (const [name, o] of cases) {
    it(`${name}: randomized training positions, and the grid by default`, async () => {
      const { rows, cols } = rpe2dPositions(grid, { training: true, seed: 3 });
      const t = rpe2dTables(16, { ...o, height: 3, width: 5, rows: f64(rows), cols: f64(cols) } as Rpe2dTableOptions);
      const ref = axialRope([3, 5], 16, { ...o, positions: [rows, cols] });
      expectClose(await read(t.cos), ref.cos, FLOAT64_FORMULA, "cos");
      expectClose(await read(t.sin), ref.sin, FLOAT64_FORMULA, "sin");
      const d = rpe2dTables(16, { ...o, height: 3, width: 5, dtype: np.float64 } as Rpe2dTableOptions);
      const grid0 = axialRope([3, 5], 16, o);
      expectClose(await read(d.cos), grid0.cos, FLOAT64_FORMULA, "grid cos");
      expectClose(await read(d.sin), grid0.sin, FLOAT64_FORMULA, "grid sin");
    });
  }

  it("applied to q with applyRotary (interleaved) equals pe applyRope on the axial tables; lists of positions work too", async () => {
    const rows = [1, 4, 6];
    const cols = [0, 2, 3, 7, 9];
    const x = randn([2, 15, 20], 9); // D = 20 > dim = 16: partial rotation
    const { cos, sin } = rpe2dTables(16, { convention: "lang", height: 3, width: 5, rows, cols, dtype: np.float64 });
    const out = await read(applyRotary(np.array(x.data).reshape(x.shape), cos, sin, "interleaved"));
    const t = axialRope([3, 5], 16, { convention: "lang", positions: [rows, cols] });
    for (let h = 0; h < 2; h++) {
      const ref = applyRope(
        x.data.slice(h * 300, (h + 1) * 300),
        { cos: t.cos, sin: t.sin, length: 15, rotaryDim: 16 },
        { pairing: "interleaved", headDim: 20 },
      );
      expectClose(out.slice(h * 300, (h + 1) * 300), ref, FLOAT64_FORMULA, `head ${h}`);
    }
  });
});

/** Scores of rotated q, k: (N, N). */
async function scores(q: Float64Array, k: Float64Array, rows: number[], cols: number[], dim: number): Promise<Float64Array> {
  const N = rows.length * cols.length;
  const t = () =>
    rpe2dTables(dim, { convention: "lang", temperature: 50, height: rows.length, width: cols.length, rows, cols, dtype: np.float64 });
  const a = t();
  const b = t();
  const qr = applyRotary(np.array(q).reshape([N, dim]), a.cos, a.sin, "interleaved");
  const kr = applyRotary(np.array(k).reshape([N, dim]), b.cos, b.sin, "interleaved");
  return read(np.matmul(qr, np.transpose(kr)));
}

/**
 * Shifted positions change the angles t * omega by up to ~1e3 rad; each
 * rounding of an angle that size moves sin/cos by 1e3 * eps, and a score sums
 * dim = 8 such products of unit-size values.
 */
const SHIFTED_SCORES = { rtol: 0, atol: 8 * 1e3 * 8 * FLOAT64_EPS };

describe("rpe2d scores depend only on per-axis position differences", () => {
  it("property: shifting all rows by a and all columns by b leaves q.k unchanged", async () => {
    const q = randn([6 * 8], 1).data;
    const k = randn([6 * 8], 2).data;
    const rows = [0, 3];
    const cols = [1, 2, 7];
    const base = await scores(q, k, rows, cols, 8);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 500 }), fc.integer({ min: 0, max: 500 }), async (a, b) => {
        const moved = await scores(
          q,
          k,
          rows.map((r) => r + a),
          cols.map((c) => c + b),
          8,
        );
        expectClose(moved, base, SHIFTED_SCORES, `shift (${a}, ${b})`);
      }),
      { numRuns: 10 },
    );
    // and moving one column alone does change them
    const other = await scores(q, k, rows, [1, 2, 8], 8);
    expect(Math.max(...other.map((v, i) => Math.abs(v - base[i])))).toBeGreaterThan(1e-3);
  });
});

describe("rpe2dTables in training steps", () => {
  it("is differentiable in q and in the row and column positions", async () => {
    await checkGradients(
      (x, rows, cols) => {
        const { cos, sin } = rpe2dTables(8, { convention: "lang", temperature: 10, height: 2, width: 3, rows, cols });
        return applyRotary(x, cos, sin, "interleaved");
      },
      [randn([2, 6, 8], 4), { data: Float64Array.of(0, 2.5), shape: [2] }, { data: Float64Array.of(1, 4, 5), shape: [3] }],
    );
  });

  it("a jitted step takes new randomized positions every call (positions are arguments, not constants)", async () => {
    const grid = { height: 2, width: 3, maxHeight: 8, maxWidth: 8 };
    const step = jit((x: np.Array, rows: np.Array, cols: np.Array) => {
      const { cos, sin } = rpe2dTables(8, { convention: "lang", height: 2, width: 3, rows, cols });
      return applyRotary(x, cos, sin, "interleaved");
    });
    const x = randn([6, 8], 5);
    for (const seed of [1, 2]) {
      const { rows, cols } = rpe2dPositions(grid, { training: true, seed });
      const got = await read(step(np.array(x.data).reshape([6, 8]), f64(rows), f64(cols)));
      const t = axialRope([2, 3], 8, { convention: "lang", positions: [rows, cols] });
      expectClose(
        got,
        applyRope(x.data, { cos: t.cos, sin: t.sin, length: 6, rotaryDim: 8 }, { pairing: "interleaved", headDim: 8 }),
        FLOAT64_FORMULA,
        `seed ${seed}`,
      );
    }
    step.dispose();
  });

  it("rejects bad input, consuming position arrays", () => {
    const rows = f64([0, 1]);
    const cols = f64([0, 1, 2]);
    expect(() => rpe2dTables(6, { convention: "lang", height: 2, width: 3, rows, cols })).toThrow(
      /rpe2dTables: dim \(6\) must be divisible by 4/,
    );
    expect([rows.refCount, cols.refCount]).toEqual([0, 0]);
    const cols2 = f64([0, 1]);
    expect(() => rpe2dTables(8, { convention: "lang", height: 2, width: 3, cols: cols2 })).toThrow(
      /rpe2dTables: opts.cols must be a 1-D array of 3 positions, got shape \(2\)/,
    );
    expect(cols2.refCount).toBe(0);
    expect(() => rpe2dTables(8, { convention: "lang", height: 2, width: 3, rows: [0, NaN] })).toThrow(
      /opts.rows\[1\] must be finite, got NaN/,
    );
    expect(() => rpe2dTables(8, { convention: "polar" as never, height: 2, width: 3 })).toThrow(
      /options.convention must be "lang" or "pixel", got "polar"/,
    );
  });
});
