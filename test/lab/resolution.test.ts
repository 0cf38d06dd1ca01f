/** The resolution experiment at its tiny size (wasm): every variant trains, is measured at 1x and 2x, samples and reports. */
import { beforeAll, describe, expect, it } from "vitest";
import { silent } from "../../src/lab/progress.js";
import { RESOLUTION_PRESETS, resolutionReport, resolutionWork, runResolution, spread } from "../../src/lab/resolution.js";
import { init } from "../../src/runtime/init.js";

beforeAll(async () => {
  await init({ device: "wasm" });
});

describe("lab resolution", () => {
  it("runs RPE-2D (with and without crop conditioning), interpolation and extrapolation at the tiny size", async () => {
    const s = RESOLUTION_PRESETS.tiny;
    let ticks = 0;
    const runs = await runResolution(s, { tick: (n = 1) => void (ticks += n), done: () => {} });
    expect(ticks).toBe(resolutionWork(s));
    expect(runs.map((r) => r.variant)).toEqual(["rpe2d", "rpe2d-nocrop", "interpolate", "extrapolate"]);
    for (const r of runs) {
      expect(r.losses).toHaveLength(s.steps);
      expect(r.losses.every(Number.isFinite)).toBe(true);
      for (const k of ["1x", "2x"] as const) {
        expect(r.denoising[k]).toHaveLength(s.timesteps.length);
        expect(r.denoising[k].every((x) => x > 0 && Number.isFinite(x))).toBe(true);
      }
      expect(r.samples).toHaveLength(s.samples * 28 * 28);
      expect(r.samples.every((v) => v >= -1 && v <= 1)).toBe(true); // x0 clipped
      expect(Number.isFinite(r.spectrumDistance)).toBe(true);
      expect(r.tilingFraction).toBeGreaterThanOrEqual(0);
    }
    const report = resolutionReport(s, runs, { command: "test", device: "wasm", date: "2026-11-23T00:00:00Z", seconds: 1 });
    expect(report.tables[0].rows).toHaveLength(4);
    expect(report.figures[1].svg).toMatch(/^<svg[\s\S]*<\/svg>$/);
    expect(report.figures).toHaveLength(3);
    for (const r of runs) expect(r.samples1x).toHaveLength(s.samples * 14 * 14);
  });

  it("refuses an unknown variant by name", async () => {
    await expect(runResolution({ ...RESOLUTION_PRESETS.tiny, variants: ["nearest"] }, silent)).rejects.toThrow(
      /lab resolution: unknown variant "nearest"; known: rpe2d, rpe2d-nocrop, interpolate, extrapolate/,
    );
  });
});

describe("RPE-2D inference positions", () => {
  it("spread evenly over the training range: every other one at half the range, all of them at the full range", () => {
    expect(Array.from(spread(7, 14).rows)).toEqual([0, 2, 4, 6, 8, 10, 12]);
    expect(Array.from(spread(14, 14).cols)).toEqual(Array.from({ length: 14 }, (_, i) => i));
    expect(Array.from(spread(3, 14).rows)).toEqual([0, 4, 9]);
  });
});
