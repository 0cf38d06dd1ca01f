/**
 * Finished trainings of a lab experiment saved as they end, one JSON file
 * each in a directory (`--out DIR` puts it at `DIR/<experiment>-runs`), and
 * kept by a later command with `--resume` when the settings that decide what
 * they compute (the key) are the same. A run too long for one command, or
 * one split over several processes or machines, is several commands with the
 * same settings and `--resume`, each training what the others have not
 * saved; the last assembles the report from the saved files.
 *
 * Every record is `{ key, ... }`; a file from other settings, or one a
 * cut-off command left half-written, is refused by name, never silently
 * retrained over or mixed in. Non-finite numbers (a diverged loss, an
 * infinite gradient norm) are saved as `{ "$number": "NaN" }` and come back
 * as they were, where plain JSON would turn them into null.
 */
import { fail } from "../core/validate.js";
import { checkDevice } from "../runtime/deviceFault.js";
import { pathIn, readBytes, writeFilesIn } from "../runtime/host.js";
import { sequentially, type UnitExperiment, type UnitPool } from "./pool.js";
import type { ProgressSink } from "./progress.js";

/** Where the runs are saved and whether earlier ones are kept: fields of an experiment's settings (`--out`, `--resume`). */
export interface ResumableSettings {
  /** Directory where each finished training is saved, or null. */
  runs: string | null;
  /** Keep what `runs` holds from a run with the same settings. */
  resume: boolean;
}

/** The saved record `file`, or null when there is none to keep (no directory, no --resume, no file). */
export async function readSaved<T extends { key: string }>(
  fn: string,
  where: ResumableSettings,
  file: string,
  key: string,
): Promise<T | null> {
  if (!where.runs || !where.resume) return null;
  const path = pathIn(where.runs, file);
  let text: string;
  try {
    text = new TextDecoder().decode(await readBytes(fn, path));
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") return null;
    return fail(fn, `--resume: cannot read ${path} (${(e as Error).message})`);
  }
  let saved: T;
  try {
    saved = JSON.parse(text, (_, v) => (isTagged(v) ? Number(v.$number) : v)) as T;
  } catch {
    return fail(fn, `--resume: ${path} is not valid JSON (a command cut off while writing it?); delete it to train that part again`);
  }
  if (saved.key !== key) fail(fn, `--resume: ${path} was made with other settings; use another --out or drop --resume`);
  return saved;
}

/** Saves `record` (with its key) as `file`, when there is a directory. */
export async function writeSaved<T extends { key: string }>(fn: string, where: ResumableSettings, file: string, record: T): Promise<void> {
  const tag = (_: string, v: unknown) => (typeof v === "number" && !Number.isFinite(v) ? { $number: String(v) } : v);
  checkDevice(fn); // a result computed after a device error is not saved
  if (where.runs) await writeFilesIn(fn, where.runs, { [file]: JSON.stringify(record, tag) });
}

function isTagged(v: unknown): v is { $number: "NaN" | "Infinity" | "-Infinity" } {
  if (typeof v !== "object" || v === null) return false;
  const keys = Object.keys(v);
  const n = (v as { $number?: unknown }).$number;
  return keys.length === 1 && (n === "NaN" || n === "Infinity" || n === "-Infinity");
}

/** A run of independent units (one training each) whose results are saved as `{ key, run }`, one file per unit. */
export interface SavedUnits<U, R> {
  /** The function named in errors (`lab stability`). */
  fn: string;
  /** The experiment a pool runs the units of, and its settings. */
  experiment: UnitExperiment;
  settings: unknown;
  units: U[];
  where: ResumableSettings;
  /** The settings that decide what one unit computes. */
  key: string;
  file: (u: U) => string;
  /** How the progress names a unit kept from an earlier command. */
  label: (u: U) => string;
  /** Progress units a unit counts for. */
  work: number | ((u: U) => number);
  /** Trains one unit on this thread. */
  run: (u: U) => Promise<R>;
}

/**
 * Keeps each unit's saved run (with `resume`), trains the others in order or
 * through `pool`, saving each as it ends, and returns the runs in the
 * units' order.
 */
export async function runSavedUnits<U, R>(r: SavedUnits<U, R>, progress: ProgressSink, pool?: UnitPool): Promise<R[]> {
  const kept = new Map<U, R>();
  for (const u of r.units) {
    const saved = await readSaved<{ key: string; run: R }>(r.fn, r.where, r.file(u), r.key);
    if (!saved) continue;
    kept.set(u, saved.run);
    progress.tick(typeof r.work === "number" ? r.work : r.work(u), `${r.label(u)}: kept from the earlier run`);
  }
  const todo = r.units.filter((u) => !kept.has(u));
  const save = (u: U, run: R) => writeSaved(r.fn, r.where, r.file(u), { key: r.key, run });
  const trained = pool
    ? await pool.run<U, R>(r.experiment, r.settings, todo, progress, (i, run) => save(todo[i], run))
    : await sequentially(todo, async (u) => {
        const run = await r.run(u);
        await save(u, run);
        return run;
      });
  todo.forEach((u, i) => kept.set(u, trained[i]));
  progress.done();
  return r.units.map((u) => kept.get(u) as R);
}
