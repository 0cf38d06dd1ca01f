/**
 * PyTorch anchors for `npm run bench` (bench/run.ts): runs
 * scripts/bench/torch_anchor.py in a child process on the same GPU, before
 * posenc starts its WebGPU device, and reads back its JSON (documented in the
 * script): per L, PyTorch's time for SDPA causal, SDPA with a materialized
 * ALiBi bias, and its eager FFT kernelized attention.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TorchAnchor } from "./cases/case.js";

export interface TorchRow {
  L: number;
  skipped: Partial<Record<TorchAnchor, string>>;
  [key: string]: unknown;
}

export interface TorchReport {
  torch: string;
  cuda: string | null;
  gpu: string;
  reps: number;
  warmup: number;
  rows: TorchRow[];
}

/** Key of the anchor's median in a row: `<key>_ms`, samples in `<key>_samples_ms`. */
const KEYS: Record<TorchAnchor, string> = { sdpa_causal: "sdpa_causal", sdpa_bias: "sdpa_bias", kernelized: "kernelized_fft" };

const SCRIPT = "scripts/bench/torch_anchor.py";

/** Whether `python3` imports torch and sees a CUDA device. */
export function torchAvailable(): boolean {
  const r = spawnSync("python3", ["-c", "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"], {
    stdio: "ignore",
    timeout: 60_000,
  });
  return r.status === 0;
}

/** Runs the script; a failure comes back as `{ error }` with its last lines of output. */
export function runTorchAnchors(root: string, sizes: number[], reps: number, anchors: TorchAnchor[]): TorchReport | { error: string } {
  return runPythonJson<TorchReport>(root, SCRIPT, ["--sizes", sizes.join(","), "--reps", String(reps), "--anchors", anchors.join(",")]);
}

/**
 * Runs a Python benchmark script of the repository with `args` and `--json FILE`, in a child process, and reads
 * back the JSON it wrote; a failure comes back as `{ error }` with its last lines of output.
 */
export function runPythonJson<T>(root: string, script: string, args: string[]): T | { error: string } {
  const dir = mkdtempSync(join(tmpdir(), "posenc-bench-"));
  const json = join(dir, "out.json");
  try {
    const r = spawnSync("python3", [join(root, script), ...args, "--json", json], { encoding: "utf8", timeout: 30 * 60_000 });
    if (r.status !== 0) {
      const tail = `${r.stdout ?? ""}${r.stderr ?? ""}`.trim().split("\n").slice(-3).join(" | ");
      return { error: `${script} ${r.error ? `failed to run: ${r.error.message}` : `exited with ${r.status}`}: ${tail}` };
    }
    return JSON.parse(readFileSync(json, "utf8")) as T;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The anchor's timing at length L, or why there is none. */
export function torchTiming(
  report: TorchReport | null,
  L: number,
  anchor: TorchAnchor,
): { medianMs: number; samplesMs: number[] } | { skipped: string } {
  const row = report?.rows.find((r) => r.L === L);
  if (!row) return { skipped: "not run" };
  const ms = row[`${KEYS[anchor]}_ms`];
  if (typeof ms === "number") return { medianMs: ms, samplesMs: row[`${KEYS[anchor]}_samples_ms`] as number[] };
  return { skipped: row.skipped[anchor] ?? "not run" };
}
