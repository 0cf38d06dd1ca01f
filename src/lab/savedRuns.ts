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

/** Where the runs are saved and whether earlier ones are kept. */
export interface SavedRuns {
  /** Directory of the saved runs, or null (nothing saved). */
  dir: string | null;
  /** Keep the runs `dir` holds from a command with the same key. */
  resume: boolean;
}

/** The saved record `file`, or null when there is none to keep (no directory, no --resume, no file). */
export async function readSaved<T extends { key: string }>(fn: string, where: SavedRuns, file: string, key: string): Promise<T | null> {
  if (!where.dir || !where.resume) return null;
  const path = pathIn(where.dir, file);
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
export async function writeSaved<T extends { key: string }>(fn: string, where: SavedRuns, file: string, record: T): Promise<void> {
  const tag = (_: string, v: unknown) => (typeof v === "number" && !Number.isFinite(v) ? { $number: String(v) } : v);
  checkDevice(fn); // a result computed after a device error is not saved
  if (where.dir) await writeFilesIn(fn, where.dir, { [file]: JSON.stringify(record, tag) });
}

function isTagged(v: unknown): v is { $number: "NaN" | "Infinity" | "-Infinity" } {
  if (typeof v !== "object" || v === null) return false;
  const keys = Object.keys(v);
  const n = (v as { $number?: unknown }).$number;
  return keys.length === 1 && (n === "NaN" || n === "Infinity" || n === "-Infinity");
}
