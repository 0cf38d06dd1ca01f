/**
 * `posenc lab <experiment> [options]`: runs an experiment, prints its tables,
 * and writes its report (JSON, SVG figures) and `index.html` under --out.
 */
import { availableParallelism, cpus } from "node:os";
import { join } from "node:path";
import { ACCURACY_PRESETS, ACCURACY_VARIANTS, accuracyReport, accuracyWork, runAccuracy } from "../lab/accuracy.js";
import { CSWIN_PRESETS, CSWIN_VARIANTS, cswinReport, cswinWork, runCswin } from "../lab/cswin.js";
import { type Experiment, experiment, PRESETS, type Preset, withOverrides } from "../lab/experiment.js";
import { HANDWRITING_PRESETS, HANDWRITING_VARIANTS, handwritingReport, handwritingWork, runHandwriting } from "../lab/handwriting.js";
import { LENGTH_PRESETS, LENGTH_VARIANTS, lengthReport, lengthWork, runLength, trainingKeys, trainingSchedule } from "../lab/length.js";
import { Progress } from "../lab/progress.js";
import { type LabReport, reportText } from "../lab/report.js";
import { writeReport } from "../lab/reportFiles.js";
import { RESOLUTION_PRESETS, RESOLUTION_VARIANTS, resolutionReport, resolutionWork, runResolution } from "../lab/resolution.js";
import { runSpeed, SPEED_METHODS, SPEED_PRESETS, speedReport, speedWork } from "../lab/speed.js";
import { runStability, STABILITY_PRESETS, STABILITY_VARIANTS, stabilityReport, stabilityWork } from "../lab/stability.js";
import { workerPool } from "../lab/workerPool.js";
import { checkDevice } from "../runtime/deviceFault.js";
import { type DeviceRequest, init, runtime, teardown } from "../runtime/init.js";

export class UsageError extends Error {}

export const LAB_USAGE = `  lab <experiment> [--preset tiny|quick|full] [--device wasm|webgpu|cpu|auto]
      [--seeds N] [--steps N] [--variants a,b,...] [--lrs a,b,...] [--features M]
      [--depth N] [--heads N] [--length T] [--workers N] [--out DIR] [--resume]
      Runs an experiment, prints its table and writes DIR/index.html (default report/).
      --resume: keep the trainings an earlier run with the same settings finished in DIR
      (stability, accuracy, resolution, handwriting; each finished training is saved there as it ends), so that a
      run can be split over several commands or processes (--variants, --seeds).
      --lrs, --features: the peak learning rates stability sweeps, increasing, and the random
      features of its kernelized attention; --depth, --heads, --length: its model's layers,
      heads (dividing the width) and context (default: the preset's).
      --workers: trainings run at once in worker threads (length, stability, accuracy, resolution; wasm and cpu;
      default: one per core there, 1 on webgpu); the results do not depend on it.
      experiments:
        length     train at length n, test at 1x to 8x n, across positional encodings
                   (--variants from: ${Object.keys(LENGTH_VARIANTS).join(", ")})
        stability  kernelized attention with and without RPE and qk-norm: divergence over seeds and learning rates
                   (--variants from: ${Object.keys(STABILITY_VARIANTS).join(", ")})
        accuracy   kernelized attention (+ RPE) vs softmax, random features and elu + 1 linear attention
                   on multi-query associative recall: accuracy and time per step
                   (--variants from: ${Object.keys(ACCURACY_VARIANTS).join(", ")})
        speed      time and peak memory of kernelized FFT-RPE vs softmax attention against L,
                   and the crossover length (--variants from: ${SPEED_METHODS.join(", ")})
        resolution a DiT trained at 14x14 generating at 8x8 and 28x28: RPE-2D (+ crop conditioning) vs
                   interpolated, extrapolated, VisionNTK and VisionYaRN positions, with and without
                   entropy scaling and a timestep shift: digit-judge accuracy and FD of the samples
                   (--variants from: ${RESOLUTION_VARIANTS.join(", ")})
        cswin      CSWin backbone vs plain ViTs of similar FLOPs on digits: accuracy, params, FLOPs
                   (--variants from: ${CSWIN_VARIANTS.join(", ")})
        handwriting WriteViT one-shot handwriting on synthetic writers: CER, writer accuracy and a
                   Fréchet distance on held-out writers, PEG vs 2-D sincos vs no position; writes
                   the first PEG model to DIR/handwriting-model (--variants from: ${HANDWRITING_VARIANTS.join(", ")})
      Default: --preset quick --device wasm.`;

/** --lrs: increasing positive learning rates, comma-separated, or undefined when the flag is absent. */
function lrsFlag(v: string | undefined): number[] | undefined {
  const lrs = v?.split(",").map((t) => {
    const lr = Number(t);
    if (t.trim() === "" || !Number.isFinite(lr) || lr <= 0)
      throw new UsageError(`--lrs must be positive numbers, got ${JSON.stringify(t)}`);
    return lr;
  });
  lrs?.forEach((lr, i) => {
    if (i > 0 && lr <= lrs[i - 1]) throw new UsageError(`--lrs must increase, got ${lrs[i - 1]} then ${lr}`);
  });
  return lrs;
}

/** An integer flag's value (>= min), or undefined when the flag is absent. */
export function intFlag(flag: string, v: string | undefined, min = 1): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min)
    throw new UsageError(`${flag} must be ${min === 1 ? "a positive integer" : `an integer >= ${min}`}, got ${JSON.stringify(v)}`);
  return n;
}

/** The --device flag's value, wasm when absent. */
export function deviceFlag(v: string | undefined): DeviceRequest {
  const device = (v ?? "wasm") as DeviceRequest;
  if (!["wasm", "webgpu", "cpu", "auto"].includes(device))
    throw new UsageError(`--device must be wasm, webgpu, cpu or auto, got ${JSON.stringify(device)}`);
  return device;
}

/** `--flag value` pairs and value-less `switches` (set to ""); every flag must be in `allowed` or `switches`; flags take a value, switches none. */
export function parseFlags(args: string[], allowed: string[], switches: string[] = []): Map<string, string> {
  const flags = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (switches.includes(a)) {
      flags.set(a, "");
      continue;
    }
    if (!allowed.includes(a)) throw new UsageError(`unknown option ${JSON.stringify(a)}`);
    const v = args[i + 1];
    if (v === undefined || v.startsWith("--")) throw new UsageError(`${a} needs a value`);
    flags.set(a, v);
    i++;
  }
  return flags;
}

const EXPERIMENTS: Record<string, Experiment<unknown, unknown>> = {
  length: experiment({
    presets: LENGTH_PRESETS,
    variants: Object.keys(LENGTH_VARIANTS),
    apply: withOverrides,
    describe: (s) => {
      const steps = [...new Set(trainingKeys(s).map((key) => trainingSchedule(s, key).steps))].sort((a, b) => a - b);
      return `${s.variants.length} positional encodings x ${s.seeds} seeds, ${steps.join(" to ")} steps each (per-PE schedule)`;
    },
    work: lengthWork,
    parallel: true,
    run: runLength,
    report: lengthReport,
  }),
  stability: experiment({
    presets: STABILITY_PRESETS,
    variants: Object.keys(STABILITY_VARIANTS),
    apply: (s, o) => ({
      ...withOverrides(s, o),
      ...(o.lrs !== undefined && { lrs: o.lrs }),
      ...(o.features !== undefined && { features: o.features }),
      ...(o.depth !== undefined && { depth: o.depth }),
      ...(o.heads !== undefined && { heads: o.heads }),
      ...(o.length !== undefined && { length: o.length }),
      runs: o.out === undefined ? null : join(o.out, "stability-runs"),
      resume: o.resume ?? false,
    }),
    resumable: true,
    describe: (s) =>
      `${s.variants.length} attention variants x ${s.seeds} seeds x ${s.lrs.length} peak learning rates (${s.lrs.join(", ")}), ${s.steps} steps each, ${s.features} random features`,
    work: stabilityWork,
    parallel: true,
    run: runStability,
    report: stabilityReport,
  }),
  accuracy: experiment({
    presets: ACCURACY_PRESETS,
    variants: Object.keys(ACCURACY_VARIANTS),
    apply: (s, o) => ({
      ...withOverrides(s, o),
      runs: o.out === undefined ? null : join(o.out, "accuracy-runs"),
      resume: o.resume ?? false,
    }),
    resumable: true,
    describe: (s) =>
      `${s.variants.length} attention variants x ${s.seeds} seeds, ${s.steps} steps each, multi-query recall at T = ${2 * (s.pairs + s.queries) + 1}`,
    work: accuracyWork,
    parallel: true,
    run: runAccuracy,
    report: accuracyReport,
  }),
  speed: experiment({
    presets: SPEED_PRESETS,
    variants: [...SPEED_METHODS],
    apply: (s, o) => {
      if (o.seeds !== undefined || o.steps !== undefined) throw new UsageError("lab speed takes no --seeds or --steps");
      return { ...s, ...(o.variants && { variants: o.variants }) };
    },
    describe: (s) => `${s.variants.join(" and ")} at L = ${s.lengths.join(", ")}`,
    work: speedWork,
    parallel: false,
    run: (s, progress) => runSpeed(s, runtime().device, progress),
    report: speedReport,
  }),
  resolution: experiment({
    presets: RESOLUTION_PRESETS,
    variants: RESOLUTION_VARIANTS,
    apply: (s, o) => ({
      ...withOverrides(s, o),
      runs: o.out === undefined ? null : join(o.out, "resolution-runs"),
      resume: o.resume ?? false,
    }),
    resumable: true,
    describe: (s) =>
      `${s.variants.join(", ")}: DiT trained at 14x14, evaluated at ${s.grids.map((g) => `${2 * g}x${2 * g}`).join(", ")}, ${s.seeds} seeds, ${s.steps} steps each`,
    work: resolutionWork,
    parallel: true,
    run: runResolution,
    report: resolutionReport,
  }),
  cswin: experiment({
    presets: CSWIN_PRESETS,
    variants: CSWIN_VARIANTS,
    apply: withOverrides,
    describe: (s) =>
      `${s.variants.join(", ")} on ${28 / s.downsample}x${28 / s.downsample} digits, ${s.seeds} seeds, ${s.steps} steps each`,
    work: cswinWork,
    parallel: false,
    run: runCswin,
    report: cswinReport,
  }),
  handwriting: experiment({
    presets: HANDWRITING_PRESETS,
    variants: HANDWRITING_VARIANTS,
    apply: (s, o) => ({
      ...withOverrides(s, o),
      checkpoint: o.out === undefined ? null : join(o.out, "handwriting-model"),
      runs: o.out === undefined ? null : join(o.out, "handwriting-runs"),
      resume: o.resume ?? false,
    }),
    resumable: true,
    describe: (s) =>
      `${s.variants.join(", ")}: ${s.seeds} seeds, ${s.criticWarmup} + ${s.steps} iterations each, ${s.trainWriters} training and ${s.heldOutWriters} held-out writers`,
    work: handwritingWork,
    parallel: false,
    run: runHandwriting,
    report: handwritingReport,
  }),
};

export async function lab(args: string[]): Promise<void> {
  const [name, ...rest] = args;
  const flags = parseFlags(
    rest,
    [
      "--preset",
      "--device",
      "--seeds",
      "--steps",
      "--variants",
      "--lrs",
      "--features",
      "--depth",
      "--heads",
      "--length",
      "--workers",
      "--out",
    ],
    ["--resume"],
  );
  const preset = (flags.get("--preset") ?? "quick") as Preset;
  if (!PRESETS.includes(preset)) throw new UsageError(`--preset must be one of ${PRESETS.join(", ")}, got ${JSON.stringify(preset)}`);
  const device = deviceFlag(flags.get("--device"));
  const out = flags.get("--out") ?? "report";
  if (name === undefined || !(name in EXPERIMENTS))
    throw new UsageError(
      name === undefined
        ? "lab needs an experiment"
        : `unknown experiment ${JSON.stringify(name)}; known: ${Object.keys(EXPERIMENTS).join(", ")}`,
    );
  const e = EXPERIMENTS[name];
  const variants = flags.get("--variants")?.split(",").filter(Boolean);
  if (variants)
    for (const v of variants)
      if (!e.variants.includes(v))
        throw new UsageError(`unknown variant ${JSON.stringify(v)} for lab ${name}; known: ${e.variants.join(", ")}`);
  if (flags.has("--resume") && !e.resumable)
    throw new UsageError(
      `lab ${name} takes no --resume (only stability, accuracy, resolution and handwriting save their trainings as they finish)`,
    );
  for (const f of ["--lrs", "--features", "--depth", "--heads", "--length"])
    if (flags.has(f) && name !== "stability") throw new UsageError(`lab ${name} takes no ${f} (only stability has it)`);
  const settings = e.apply(e.presets[preset], {
    lrs: lrsFlag(flags.get("--lrs")),
    features: intFlag("--features", flags.get("--features")),
    depth: intFlag("--depth", flags.get("--depth")),
    heads: intFlag("--heads", flags.get("--heads")),
    length: intFlag("--length", flags.get("--length")),
    seeds: intFlag("--seeds", flags.get("--seeds")),
    steps: intFlag("--steps", flags.get("--steps")),
    variants,
    out,
    resume: flags.has("--resume"),
  });

  const workersFlag = intFlag("--workers", flags.get("--workers"));
  if (workersFlag !== undefined && !e.parallel)
    throw new UsageError(
      `lab ${name} takes no --workers (only length, stability, accuracy and resolution run their trainings in worker threads)`,
    );

  const rt = await init({ device });
  if (workersFlag !== undefined && workersFlag > 1 && rt.device === "webgpu") {
    await teardown();
    throw new UsageError(`--workers ${workersFlag} needs --device wasm or cpu: one thread drives the GPU`);
  }
  const workers = e.parallel && rt.device !== "webgpu" ? (workersFlag ?? availableParallelism()) : 1;
  const deviceText = `${rt.device} (${rt.description}) on ${cpus()[0]?.model.trim() ?? "unknown CPU"}, ${cpus().length} cores${workers > 1 ? `, ${workers} worker threads` : ""}`;
  const date = new Date().toISOString();
  const t0 = performance.now();
  const command = `posenc lab ${args.join(" ")}`.trim();
  let report: LabReport;
  try {
    console.log(`lab ${name} (${preset}): ${e.describe(settings)}, on ${deviceText}`);
    const pool = workers > 1 ? workerPool(workers, rt.device) : undefined;
    const result = await e.run(settings, new Progress(name, e.work(settings)), pool);
    checkDevice(`lab ${name}`);
    report = e.report(settings, result, { command, device: deviceText, date, seconds: (performance.now() - t0) / 1000 });
  } finally {
    await teardown();
  }
  console.log(`\n${reportText(report)}\n`);
  const index = writeReport(out, report);
  console.log(`report: ${index}`);
}
