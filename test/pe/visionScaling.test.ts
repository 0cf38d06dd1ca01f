/**
 * FiT's VisionNTK and VisionYaRN bands against their formulas, evaluated
 * here in float64 as whlzy/FiT `fit/model/rope.py` writes them
 * (`find_newbase_ntk`, `find_correction_range`, `linear_ramp_mask`,
 * `get_mscale`), independently of src/pe/rope.
 */
import { describe, expect, it } from "vitest";
import { VISION_YARN_BETA_FAST, VISION_YARN_BETA_SLOW, visionBands } from "../../src/pe/visionScaling.js";
import { expectClose, FLOAT64_FORMULA } from "../tolerance.js";

/** FiT's per-axis frequencies: d = D / 2 channels per axis, bands 1 / T^(2k / d). */
function fitBands(kind: "ntk" | "yarn", D: number, T: number, train: number, size: number): { bands: number[]; mscale: number } {
  const d = D / 2;
  const s = Math.max(size / train, 1);
  const ks = Array.from({ length: d / 2 }, (_, k) => (2 * k) / d);
  if (kind === "ntk") {
    const base = T * s ** (d / (d - 2));
    return { bands: ks.map((e) => 1 / base ** e), mscale: 1 };
  }
  const factor = (rot: number) => (d * Math.log(train / (rot * 2 * Math.PI))) / (2 * Math.log(T));
  const low = Math.max(Math.floor(factor(VISION_YARN_BETA_FAST)), 0);
  let high = Math.min(Math.ceil(factor(VISION_YARN_BETA_SLOW)), d - 1);
  if (low === high) high += 0.001;
  const bands = ks.map((e, k) => {
    const extrapolated = 1 / T ** e;
    const mask = 1 - Math.min(1, Math.max(0, (k - low) / (high - low)));
    return (extrapolated / s) * (1 - mask) + extrapolated * mask;
  });
  return { bands, mscale: s <= 1 ? 1 : 0.1 * Math.log(s) + 1 };
}

describe("visionBands", () => {
  const cases = [
    { D: 16, T: 100, train: 7, size: 14 },
    { D: 16, T: 100, train: 7, size: 4 },
    { D: 16, T: 100, train: 7, size: 7 },
    { D: 64, T: 10000, train: 16, size: 48 },
    { D: 32, T: 10000, train: 32, size: 40 },
  ];
  for (const kind of ["ntk", "yarn"] as const) {
    it(`${kind} equals FiT's formula in float64`, () => {
      for (const { D, T, train, size } of cases) {
        const got = visionBands(kind, { headDim: D, temperature: T, trainSize: train, size });
        const want = fitBands(kind, D, T, train, size);
        expect(got.bands.length).toBe(D / 4);
        expectClose(got.bands, want.bands, FLOAT64_FORMULA, `${kind} ${D}/${T}/${train}->${size}`);
        expect(got.attentionFactor).toBeCloseTo(want.mscale, 14);
        expect(got.scale).toBe(Math.max(size / train, 1));
      }
    });
  }

  it("leaves the bands of the training size and below unchanged; YaRN keeps its highest band and divides its lowest by s", () => {
    const plain = Array.from({ length: 4 }, (_, k) => 100 ** (-k / 4));
    for (const kind of ["ntk", "yarn"] as const)
      for (const size of [3, 7]) {
        const b = visionBands(kind, { headDim: 16, temperature: 100, trainSize: 7, size });
        expectClose(b.bands, plain, FLOAT64_FORMULA, `${kind} at ${size}`);
        expect(b.attentionFactor).toBe(1);
      }
    const y = visionBands("yarn", { headDim: 64, temperature: 10000, trainSize: 16, size: 64 });
    expect(y.bands[0]).toBe(1);
    expect(y.bands[15]).toBeCloseTo(10000 ** (-15 / 16) / 4, 15);
    expect(y.attentionFactor).toBeCloseTo(0.1 * Math.log(4) + 1, 15);
  });

  it("refuses bad arguments by name", () => {
    const ok = { headDim: 16, temperature: 100, trainSize: 7, size: 14 };
    expect(() => visionBands("pi" as "ntk", ok)).toThrow('visionBands: scaling must be "ntk" or "yarn", got "pi"');
    expect(() => visionBands("ntk", { ...ok, headDim: 4 })).toThrow("visionBands: options.headDim");
    expect(() => visionBands("ntk", { ...ok, headDim: 18 })).toThrow("visionBands: options.headDim (18) must be a multiple of 4");
    expect(() => visionBands("yarn", { ...ok, trainSize: 0 })).toThrow("visionBands: options.trainSize");
    expect(() => visionBands("yarn", { ...ok, size: 2.5 })).toThrow("visionBands: options.size");
    expect(() => visionBands("ntk", { ...ok, temperature: -1 })).toThrow("visionBands: options.temperature");
  });
});
