/**
 * Learning-rate schedule: linear warmup, then cosine decay to a floor.
 *
 *   step <  warmup:          lr = peak (step + 1) / (warmup + 1)
 *   warmup <= step <= total: lr = floor + (peak - floor) (1 + cos(pi r)) / 2,  r = (step - warmup) / (total - warmup)
 *   step >  total:           lr = floor
 *
 * Steps count from 0. The warmup form is nanoGPT's (it never returns 0, and
 * reaches peak at step = warmup).
 *
 * Reference: Loshchilov & Hutter (2017), https://arxiv.org/abs/1608.03983;
 * nanoGPT `train.py` `get_lr`, https://github.com/karpathy/nanoGPT
 */
import { fail, finite, integer } from "../core/validate.js";

export interface CosineSchedule {
  peak: number;
  /** Learning rate after the decay (nanoGPT: peak / 10). */
  floor: number;
  /** Warmup steps (0 for none). */
  warmup: number;
  /** Step at which the decay reaches the floor; > warmup. */
  total: number;
}

export function learningRate(step: number, s: CosineSchedule): number {
  const fn = "learningRate";
  integer(fn, "step", step, 0);
  const peak = finite(fn, "schedule.peak", s.peak);
  const floor = finite(fn, "schedule.floor", s.floor);
  const warmup = integer(fn, "schedule.warmup", s.warmup, 0);
  const total = integer(fn, "schedule.total", s.total, 0);
  if (!(total > warmup)) fail(fn, `schedule.total (${total}) must be > schedule.warmup (${warmup})`);
  if (!(floor >= 0 && floor <= peak)) fail(fn, `schedule.floor must be in [0, peak = ${peak}], got ${floor}`);
  if (step < warmup) return (peak * (step + 1)) / (warmup + 1);
  if (step > total) return floor;
  const r = (step - warmup) / (total - warmup);
  return floor + ((peak - floor) * (1 + Math.cos(Math.PI * r))) / 2;
}
