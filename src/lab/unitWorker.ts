/**
 * The worker thread of lab/workerPool.ts: starts its own engine on the
 * device it is given, then runs the units it is sent, one at a time, and
 * posts their progress, live rows and results back. Node only.
 */
import { parentPort, workerData } from "node:worker_threads";
import { type DeviceKind, init } from "../runtime/init.js";
import { type AccuracySettings, type AccuracyUnit, runAccuracyUnit } from "./accuracy.js";
import { type LengthSettings, type LengthUnit, runLengthUnit } from "./length.js";
import type { UnitExperiment } from "./pool.js";
import type { ProgressSink } from "./progress.js";
import { type ResolutionSettings, type ResolutionUnit, runResolutionUnit } from "./resolution.js";
import { runStabilityUnit, type StabilitySettings, type StabilityUnit } from "./stability.js";

/** What the pool sends: a unit of an experiment, by its index in the run. */
export interface UnitRequest {
  experiment: UnitExperiment;
  settings: unknown;
  unit: unknown;
  index: number;
}

/** What the worker posts back. */
export type UnitMessage =
  | { type: "ready" }
  | { type: "tick"; n: number; note: string }
  | { type: "row"; row: unknown }
  | { type: "losses"; run: string; losses: number[] }
  | { type: "result"; index: number; result: unknown }
  | { type: "error"; index: number; message: string; stack?: string };

const RUNNERS: Record<UnitExperiment, (settings: unknown, unit: unknown, progress: ProgressSink) => Promise<unknown>> = {
  length: (s, u, p) => runLengthUnit(s as LengthSettings, u as LengthUnit, p),
  stability: (s, u, p) => runStabilityUnit(s as StabilitySettings, u as StabilityUnit, p),
  accuracy: (s, u, p) => runAccuracyUnit(s as AccuracySettings, u as AccuracyUnit, p),
  resolution: (s, u, p) => runResolutionUnit(s as ResolutionSettings, u as ResolutionUnit, p),
};

const port = parentPort;
if (port === null) throw new Error("lab/unitWorker.ts runs as a worker thread of lab/workerPool.ts");
const post = (m: UnitMessage) => port.postMessage(m);
const progress: ProgressSink = {
  tick: (n = 1, note = "") => post({ type: "tick", n, note }),
  done: () => {},
  row: (row) => post({ type: "row", row }),
  losses: (run, losses) => post({ type: "losses", run, losses: [...losses] }),
};

await init({ device: (workerData as { device: DeviceKind }).device });
port.on("message", async (r: UnitRequest) => {
  try {
    post({ type: "result", index: r.index, result: await RUNNERS[r.experiment](r.settings, r.unit, progress) });
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    post({ type: "error", index: r.index, message: err.message, stack: err.stack });
  }
});
post({ type: "ready" });
