/**
 * The learning rate and step budget of each training of `lab length`,
 * chosen on validation data at the training length only, never at the test
 * lengths: each training runs at every learning rate of a grid, on seeds
 * whose initialisation, training data and evaluation examples are disjoint
 * from the run's (seeds >= TUNE_FIRST_SEED; a run has fewer seeds); the
 * smallest step budget at which some learning rate fits the task (mean
 * answer accuracy >= FIT_ACCURACY) is kept, with the learning rate of the
 * best validation accuracy there (ties: the lower final training loss). A training that fits at no budget keeps
 * its best trial, and the run's report marks it "did not fit".
 *
 * The committed choice of the quick preset comes from
 * `npx tsx scripts/lab/length-schedule.ts` (docs/tuning/length-schedule.json).
 */
import { fail } from "../core/validate.js";
import { LENGTH_VARIANTS, type LengthSchedule, type LengthSettings, lengthUnits, runLengthUnit, trainingKeys } from "./length.js";
import { FIT_ACCURACY } from "./lmRun.js";
import { sequentially, type UnitPool } from "./pool.js";
import type { ProgressSink } from "./progress.js";
import { mean } from "./stats.js";

/** Learning rates tried for every training. */
export const TUNE_LRS = [1e-3, 3e-3, 1e-2];
/** Step budgets tried, as multiples of the preset's steps, in increasing order: a larger one only for trainings that fit at no smaller one. */
export const TUNE_STEP_SCALES = [1, 2, 3];
/** The validation seeds begin here, above the seeds of any run. */
export const TUNE_FIRST_SEED = 10;
/** Validation seeds per trial. */
export const TUNE_SEEDS = 2;

/** One training at one learning rate and budget, on one validation seed: its answer accuracy at the training length. */
export interface TuneTrial {
  key: string;
  lr: number;
  stepScale: number;
  seed: number;
  accuracy: number;
  finalLoss: number;
}

/** The choice for one training, with its mean validation accuracy and whether that fits. */
export interface TunedSchedule extends LengthSchedule {
  accuracy: number;
  fitted: boolean;
}

/** The trials of `key` at `stepScale`, as means over seeds per learning rate, best first: validation accuracy, then final training loss. */
function ranked(trials: TuneTrial[], key: string, stepScale: number): { lr: number; accuracy: number; loss: number }[] {
  const at = trials.filter((t) => t.key === key && t.stepScale === stepScale);
  return [...new Set(at.map((t) => t.lr))]
    .map((lr) => {
      const of = at.filter((t) => t.lr === lr);
      return { lr, accuracy: mean(of.map((t) => t.accuracy)), loss: mean(of.map((t) => t.finalLoss)) };
    })
    .sort((a, b) => b.accuracy - a.accuracy || a.loss - b.loss);
}

/** The schedule of `key` from its trials: the smallest budget with a fitting rate, else the best trial of all. */
export function chooseSchedule(trials: TuneTrial[], key: string): TunedSchedule {
  const scales = [...new Set(trials.filter((t) => t.key === key).map((t) => t.stepScale))].sort((a, b) => a - b);
  if (scales.length === 0) fail("chooseSchedule", `no trials of training ${JSON.stringify(key)}`);
  let best: TunedSchedule | undefined;
  for (const stepScale of scales) {
    const top = ranked(trials, key, stepScale)[0];
    if (top.accuracy >= FIT_ACCURACY) return { lr: top.lr, stepScale, accuracy: top.accuracy, fitted: true };
    if (best === undefined || top.accuracy > best.accuracy) best = { lr: top.lr, stepScale, accuracy: top.accuracy, fitted: false };
  }
  return best as TunedSchedule;
}

/**
 * Runs the trials for every training of `s`'s variants (through `pool` when
 * given) and chooses each one's schedule. Trials in `known` (an earlier run
 * of the same settings: each trial is deterministic) are kept, not rerun.
 * One progress unit per training step and evaluation of the trials run.
 */
export async function tuneLength(
  s: LengthSettings,
  progress: ProgressSink,
  pool?: UnitPool,
  known: TuneTrial[] = [],
): Promise<{ trials: TuneTrial[]; schedules: Record<string, TunedSchedule> }> {
  const keys = [...new Set(lengthUnits(s).map((u) => u.key))]; // lengthUnits checks the settings
  const trials: TuneTrial[] = [];
  let pending = keys;
  for (const stepScale of TUNE_STEP_SCALES) {
    for (const lr of TUNE_LRS) {
      // the variant named after each training (every key is one), evaluated at the training length only;
      // the run's multiples stay, since the longest sets the vocabulary and the range of randomized positions
      const settings: LengthSettings = {
        ...s,
        variants: pending,
        seeds: TUNE_SEEDS,
        schedule: Object.fromEntries(pending.map((key) => [key, { lr, stepScale }])),
      };
      const kept = known.filter(
        (t) =>
          pending.includes(t.key) &&
          t.lr === lr &&
          t.stepScale === stepScale &&
          t.seed >= TUNE_FIRST_SEED &&
          t.seed < TUNE_FIRST_SEED + TUNE_SEEDS,
      );
      trials.push(...kept);
      const units = pending
        .flatMap((key) => Array.from({ length: TUNE_SEEDS }, (_, i) => ({ seed: TUNE_FIRST_SEED + i, key, evaluate: [1] })))
        .filter((u) => !kept.some((t) => t.key === u.key && t.seed === u.seed));
      const results = pool
        ? await pool.run<(typeof units)[number], Awaited<ReturnType<typeof runLengthUnit>>>("length", settings, units, progress)
        : await sequentially(units, (u) => runLengthUnit(settings, u, progress));
      for (const row of results.flat())
        trials.push({
          key: LENGTH_VARIANTS[row.variant].train,
          lr,
          stepScale,
          seed: row.seed,
          accuracy: row.accuracy.token,
          finalLoss: row.finalLoss,
        });
    }
    pending = pending.filter((key) => !chooseSchedule(trials, key).fitted);
    if (pending.length === 0) break;
  }
  progress.done();
  return { trials, schedules: Object.fromEntries(keys.map((key) => [key, chooseSchedule(trials, key)])) };
}

/** Progress units of `tuneLength` at most (every training at every budget). */
export function tuneWork(s: LengthSettings): number {
  return trainingKeys(s).length * TUNE_SEEDS * TUNE_LRS.length * TUNE_STEP_SCALES.reduce((n, k) => n + Math.round(s.steps * k) + 1, 0);
}
