/**
 * An experiment of `posenc lab` as the command runs it: its presets, the work
 * it announces to the progress bar, the run, and the report built from the
 * run with the metadata every report carries.
 */
import type { UnitPool } from "./pool.js";
import type { Progress } from "./progress.js";
import type { LabReport } from "./report.js";

export const PRESETS = ["tiny", "quick", "full"] as const;
export type Preset = (typeof PRESETS)[number];

/** What every report states about its run: the command, the device, the start (ISO) and the duration. */
export interface ReportMeta {
  command: string;
  device: string;
  date: string;
  seconds: number;
}

/** Settings the command line may override. */
export interface Overrides {
  seeds?: number;
  steps?: number;
  variants?: string[];
  /** Peak learning rates of a sweep (stability). */
  lrs?: number[];
  /** Random features of kernelized attention (stability). */
  features?: number;
  /** The model's layers, heads and context length (stability: where a variant becomes unstable). */
  depth?: number;
  heads?: number;
  length?: number;
  /** The report directory (an experiment that writes files beside its report puts them there). */
  out?: string;
  /** Keep the trainings a run with the same settings finished in `out` (experiments with `resumable`). */
  resume?: boolean;
}

export interface Experiment<S, R> {
  presets: Record<Preset, S>;
  variants: string[];
  apply(s: S, o: Overrides): S;
  describe(s: S): string;
  work(s: S): number;
  /** Whether the run is made of independent units that `run` hands to a pool when given one (`--workers`). */
  parallel: boolean;
  /** Whether `apply` honours `resume`. */
  resumable?: boolean;
  run(s: S, progress: Progress, pool?: UnitPool): Promise<R>;
  report(s: S, result: R, meta: ReportMeta): LabReport;
}

/** An experiment with its settings and result types erased, for a registry of several. */
export function experiment<S, R>(e: Experiment<S, R>): Experiment<unknown, unknown> {
  return e as unknown as Experiment<unknown, unknown>;
}

/** Settings with the given overrides of seeds, steps and variants applied. */
export function withOverrides<S extends { seeds: number; steps: number; variants: string[] }>(s: S, o: Overrides): S {
  return {
    ...s,
    ...(o.seeds !== undefined && { seeds: o.seeds }),
    ...(o.steps !== undefined && { steps: o.steps }),
    ...(o.variants !== undefined && { variants: o.variants }),
  };
}
