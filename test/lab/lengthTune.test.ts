/** The choice of the length experiment's per-training schedules, and the committed choice of the quick preset. */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { LENGTH_PRESETS, QUICK_SCHEDULE } from "../../src/lab/length.js";
import { chooseSchedule, TUNE_FIRST_SEED, TUNE_LRS, TUNE_SEEDS, type TuneTrial, tuneLength } from "../../src/lab/lengthTune.js";
import { FIT_ACCURACY } from "../../src/lab/lmRun.js";

const trial = (
  key: string,
  lr: number,
  stepScale: number,
  accuracy: number,
  seed = TUNE_FIRST_SEED,
  finalLoss = 1 - accuracy,
): TuneTrial => ({
  key,
  lr,
  stepScale,
  seed,
  accuracy,
  finalLoss,
});

describe("chooseSchedule", () => {
  it("takes the smallest budget where some rate fits, with that budget's best rate (mean over seeds)", () => {
    const trials = [
      trial("nope", 1e-3, 1, 0.8),
      trial("nope", 3e-3, 1, 0.9),
      trial("nope", 1e-3, 2, 0.97),
      trial("nope", 1e-3, 2, 0.95, TUNE_FIRST_SEED + 1),
      trial("nope", 3e-3, 2, 1),
      trial("nope", 3e-3, 2, 0.9, TUNE_FIRST_SEED + 1),
      trial("rope", 1e-3, 1, 1, TUNE_FIRST_SEED, 0.05),
      trial("rope", 1e-2, 1, 1, TUNE_FIRST_SEED, 0.01),
      trial("rope", 1e-3, 2, 1, TUNE_FIRST_SEED, 0),
    ];
    expect(chooseSchedule(trials, "nope")).toEqual({ lr: 1e-3, stepScale: 2, accuracy: expect.closeTo(0.96, 12), fitted: true });
    // ties in accuracy go to the lower training loss, and a larger budget is never preferred once one fits
    expect(chooseSchedule(trials, "rope")).toEqual({ lr: 1e-2, stepScale: 1, accuracy: 1, fitted: true });
  });

  it("keeps the best trial where nothing fits, marked unfitted; refuses a training without trials", () => {
    const trials = [trial("fire", 1e-3, 1, 0.6), trial("fire", 1e-2, 1, 0.7), trial("fire", 1e-3, 2, 0.65)];
    expect(chooseSchedule(trials, "fire")).toEqual({ lr: 1e-2, stepScale: 1, accuracy: 0.7, fitted: false });
    expect(() => chooseSchedule(trials, "t5")).toThrow('chooseSchedule: no trials of training "t5"');
  });
});

describe("tuneLength", () => {
  it("keeps known trials instead of rerunning them, and stops at the first budget that fits", async () => {
    const known = TUNE_LRS.flatMap((lr) =>
      Array.from({ length: TUNE_SEEDS }, (_, i) => trial("rope", lr, 1, lr === 3e-3 ? 1 : 0.5, TUNE_FIRST_SEED + i)),
    );
    let ticks = 0;
    const s = { ...LENGTH_PRESETS.tiny, variants: ["rope", "rope-yarn"] };
    const { trials, schedules } = await tuneLength(s, { tick: (n = 1) => void (ticks += n), done: () => {} }, undefined, known);
    expect(ticks).toBe(0);
    expect(trials).toEqual(known);
    expect(schedules).toEqual({ rope: { lr: 3e-3, stepScale: 1, accuracy: 1, fitted: true } });
  });
});

describe("the quick preset's schedule", () => {
  it("is the one docs/tuning/length-schedule.json chose, and every choice fits on validation", () => {
    const committed = JSON.parse(readFileSync(new URL("../../docs/tuning/length-schedule.json", import.meta.url), "utf8")) as {
      schedules: Record<string, { lr: number; stepScale: number; accuracy: number; fitted: boolean }>;
    };
    const chosen = Object.fromEntries(Object.entries(committed.schedules).map(([k, v]) => [k, { lr: v.lr, stepScale: v.stepScale }]));
    expect(QUICK_SCHEDULE).toEqual(chosen);
    for (const [key, v] of Object.entries(committed.schedules)) {
      expect(v.fitted, key).toBe(true);
      expect(v.accuracy, key).toBeGreaterThanOrEqual(FIT_ACCURACY);
    }
  });
});
