/** RPE-2D positions and crop micro-conditioning features; explicit axial RoPE positions. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { axialRope, axisPositions } from "../../src/pe/axialRope.js";
import { positions2d } from "../../src/pe/randomized.js";
import { CROP_FIELDS, cropConditioning, rpe2dPositions } from "../../src/pe/rpe2d.js";
import { expectClose, FLOAT64_FORMULA } from "../tolerance.js";

describe("rpe2d.positions", () => {
  const grid = { height: 4, width: 6, maxHeight: 8, maxWidth: 12 };
  it("training: randomized.positions2d with the same seed (sorted, distinct, in the wider range)", () => {
    const p = rpe2dPositions(grid, { training: true, seed: 5 });
    const q = positions2d(grid, 5);
    expect(Array.from(p.rows)).toEqual(Array.from(q.rows));
    expect(Array.from(p.cols)).toEqual(Array.from(q.cols));
    expect(Array.from(rpe2dPositions(grid, { training: true, seed: 6 }).cols)).not.toEqual(Array.from(p.cols));
  });
  it("inference: the exact grid, which lies in the training range", () => {
    const p = rpe2dPositions({ ...grid, height: 8 }, { training: false });
    expect(Array.from(p.rows)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(Array.from(p.cols)).toEqual([0, 1, 2, 3, 4, 5]);
  });
  it("rejects an inference grid beyond the training range and a bad mode", () => {
    expect(() => rpe2dPositions({ ...grid, width: 13 }, { training: false })).toThrow(
      /rpe2d.positions: the inference grid 4x13 must fit the training range 8x12/,
    );
    expect(() => rpe2dPositions(grid, { training: "yes" } as never)).toThrow(
      /rpe2d.positions: mode must be \{ training: true, seed \} or \{ training: false \}/,
    );
    expect(() => rpe2dPositions({ ...grid, height: 9 }, { training: true, seed: 1 })).toThrow(
      /grid.height \(9\) must be <= grid.maxHeight \(8\)/,
    );
  });
});

/** SDXL's add_time_proj: diffusers get_timestep_embedding(t, dim, flip_sin_to_cos=True, downscale_freq_shift=0). */
function timestepEmbedding(t: number, dim: number, maxPeriod = 10000): number[] {
  const half = dim / 2;
  const emb = Array.from({ length: half }, (_, i) => t * Math.exp((-Math.log(maxPeriod) * i) / (half - 0)));
  return [...emb.map(Math.cos), ...emb.map(Math.sin)];
}

describe("rpe2d.cropConditioning equals SDXL's micro-conditioning features", () => {
  it("property: six concatenated [cos | sin] embeddings per sample, in CROP_FIELDS order", () => {
    const size = fc.integer({ min: 0, max: 4096 });
    fc.assert(
      fc.property(
        fc.array(fc.tuple(size, size, size, size, size, size), { minLength: 1, maxLength: 3 }),
        fc.integer({ min: 1, max: 16 }),
        fc.constantFrom(10000, 100),
        (rows, half, period) => {
          const dim = 2 * half;
          const crops = rows.map(([oh, ow, top, left, th, tw]) => ({
            originalSize: [oh, ow] as const,
            cropTopLeft: [top, left] as const,
            targetSize: [th, tw] as const,
          }));
          const expected = rows.flatMap((r) => r.flatMap((v) => timestepEmbedding(v, dim, period)));
          expectClose(cropConditioning(crops, dim, { maxPeriod: period }), expected, FLOAT64_FORMULA);
        },
      ),
      { numRuns: 50 },
    );
    expect(CROP_FIELDS).toEqual(["originalHeight", "originalWidth", "cropTop", "cropLeft", "targetHeight", "targetWidth"]);
  });
  it("an uncropped sample (top = left = 0) has cos = 1, sin = 0 in its crop features", () => {
    const f = cropConditioning([{ originalSize: [512, 384], cropTopLeft: [0, 0], targetSize: [256, 256] }], 8);
    expect(Array.from(f.slice(16, 32))).toEqual([1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0]);
    expect(f[0]).toBe(Math.cos(512)); // first band of the original height has frequency 1
  });
  it("rejects bad input", () => {
    const ok = { originalSize: [1, 2] as const, cropTopLeft: [0, 0] as const, targetSize: [1, 1] as const };
    expect(() => cropConditioning([ok], 7)).toThrow(/rpe2d.cropConditioning: dim must be even, got 7/);
    expect(() => cropConditioning([ok, { ...ok, cropTopLeft: [0, NaN] }], 4)).toThrow(
      /crops\[1\].cropTopLeft\[1\] must be a finite number, got NaN/,
    );
    expect(() => cropConditioning([{ ...ok, targetSize: [1] as never }], 4)).toThrow(
      /crops\[0\].targetSize must be a pair of numbers, got \[1\]/,
    );
  });
});

describe("axialRope with explicit per-axis positions", () => {
  it("positions equal to the grid give the grid tables (lang and pixel)", () => {
    for (const convention of ["lang", "pixel"] as const) {
      const grid = axialRope([3, 5], 16, { convention });
      const positions = [axisPositions(3, { convention }), axisPositions(5, { convention })];
      const explicit = axialRope([3, 5], 16, { convention, positions });
      expect(Array.from(explicit.sin)).toEqual(Array.from(grid.sin));
      expect(Array.from(explicit.cos)).toEqual(Array.from(grid.cos));
    }
  });
  it("token (r, c) is rotated by rows[r] and cols[c]", () => {
    const rows = [2, 9];
    const cols = [0, 4, 11];
    const t = axialRope([2, 3], 8, { convention: "lang", temperature: 100, positions: [rows, cols] });
    // K = 2 bands 100^(-k/2): token (1, 2) channels [row k=0, k=0, row k=1, k=1, col k=0, ...]
    const n = 1 * 3 + 2;
    expect(t.sin[n * 8 + 0]).toBe(Math.sin(9 * 1));
    expect(t.sin[n * 8 + 3]).toBe(Math.sin(9 * 0.1));
    expect(t.cos[n * 8 + 4]).toBe(Math.cos(11 * 1));
  });
  it("rejects positions of the wrong count or combined with refShape / gridOffset", () => {
    expect(() => axialRope([2, 3], 8, { convention: "lang", positions: [[0, 1]] })).toThrow(
      /axialRope: options.positions must hold one list per axis \(2\), got 1/,
    );
    expect(() =>
      axialRope([2, 3], 8, {
        convention: "lang",
        positions: [
          [0, 1],
          [0, 1],
        ],
      }),
    ).toThrow(/options.positions\[1\] must hold shape\[1\] = 3 positions, got 2/);
    expect(() =>
      axialRope([2, 3], 8, {
        convention: "lang",
        positions: [
          [0, 1],
          [0, 1, 2],
        ],
        gridOffset: 1,
      }),
    ).toThrow(/leave options.refShape and options.gridOffset unset/);
    expect(() =>
      axialRope([2, 3], 8, {
        convention: "lang",
        positions: [
          [0, Infinity],
          [0, 1, 2],
        ],
      }),
    ).toThrow(/options.positions\[0\]\[1\] must be finite/);
  });
});
