/**
 * Independent units of an experiment (one training each) and what runs them:
 * in order on this thread, or through a `UnitPool` that may run them in
 * parallel (lab/workerPool.ts: worker threads in Node, one engine each).
 * Every unit depends only on the settings and itself, so the results are
 * the same whichever runs them.
 */
import type { ProgressSink } from "./progress.js";

/** The experiments whose units a pool can run (lab/unitWorker.ts maps each to its unit function). */
export type UnitExperiment = "length" | "stability" | "accuracy" | "resolution";

/** Called with a unit's index and result as the unit ends. */
export type UnitFinished<R> = (index: number, result: R) => Promise<void>;

export interface UnitPool {
  /**
   * Runs every unit of `experiment` with `settings`; the results in the order of `units`. Progress arrives as the
   * units report it; `finished`, when given, is called with each unit's index and result as it ends (the run
   * resolves once every call has settled, and rejects with the first that fails).
   */
  run<U, R>(experiment: UnitExperiment, settings: unknown, units: U[], progress: ProgressSink, finished?: UnitFinished<R>): Promise<R[]>;
}

/** Runs `f` on each unit in order, one at a time. */
export async function sequentially<U, R>(units: U[], f: (unit: U) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (const u of units) out.push(await f(u));
  return out;
}
