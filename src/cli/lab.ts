/**
 * `posenc lab <experiment> [options]`: runs an experiment, prints its tables,
 * and writes its report (JSON, SVG figures) and `index.html` under --out.
 */
import { cpus } from "node:os";
import { init, teardown, type DeviceRequest } from "../runtime/init.js";
import { LENGTH_PRESETS, LENGTH_VARIANTS, lengthReport, lengthWork, runLength } from "../lab/length.js";
import { Progress } from "../lab/progress.js";
import { reportText, writeReport, type LabReport } from "../lab/report.js";

export class UsageError extends Error {}

export const LAB_USAGE = `  lab <experiment> [--preset tiny|quick|full] [--device wasm|webgpu|cpu|auto]
      [--seeds N] [--steps N] [--pes a,b,...] [--out DIR]
      Runs an experiment, prints its table and writes DIR/index.html (default report/).
      experiments:
        length   train at length n, test at 1x to 8x n, across positional encodings
                 (--pes from: ${Object.keys(LENGTH_VARIANTS).join(", ")})
      Default: --preset quick --device wasm.`;

const PRESETS = ["tiny", "quick", "full"] as const;
type Preset = (typeof PRESETS)[number];

function positiveInt(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} must be a positive integer, got ${JSON.stringify(v)}`);
  return n;
}

/** `--flag value` pairs; every flag must be in `allowed` and have a value. */
export function parseFlags(args: string[], allowed: string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!allowed.includes(a)) throw new UsageError(`unknown option ${JSON.stringify(a)}`);
    const v = args[i + 1];
    if (v === undefined || v.startsWith("--")) throw new UsageError(`${a} needs a value`);
    flags.set(a, v);
    i++;
  }
  return flags;
}

export async function lab(args: string[]): Promise<void> {
  const [experiment, ...rest] = args;
  const flags = parseFlags(rest, ["--preset", "--device", "--seeds", "--steps", "--pes", "--out"]);
  const preset = (flags.get("--preset") ?? "quick") as Preset;
  if (!PRESETS.includes(preset)) throw new UsageError(`--preset must be one of ${PRESETS.join(", ")}, got ${JSON.stringify(preset)}`);
  const device = (flags.get("--device") ?? "wasm") as DeviceRequest;
  if (!["wasm", "webgpu", "cpu", "auto"].includes(device)) throw new UsageError(`--device must be wasm, webgpu, cpu or auto, got ${JSON.stringify(device)}`);
  const out = flags.get("--out") ?? "report";
  const seeds = positiveInt("--seeds", flags.get("--seeds"));
  const steps = positiveInt("--steps", flags.get("--steps"));
  const pes = flags.get("--pes")?.split(",").filter(Boolean);
  if (experiment !== "length") throw new UsageError(experiment === undefined ? "lab needs an experiment" : `unknown experiment ${JSON.stringify(experiment)}`);
  if (pes) for (const p of pes) if (!(p in LENGTH_VARIANTS)) throw new UsageError(`unknown positional encoding ${JSON.stringify(p)} for --pes; known: ${Object.keys(LENGTH_VARIANTS).join(", ")}`);

  const rt = await init({ device });
  const deviceText = `${rt.device} (${rt.description}) on ${cpus()[0]?.model.trim() ?? "unknown CPU"}, ${cpus().length} cores`;
  const date = new Date().toISOString();
  const t0 = performance.now();
  const command = `posenc lab ${args.join(" ")}`.trim();
  let report: LabReport;
  try {
    const s = { ...LENGTH_PRESETS[preset], ...(seeds && { seeds }), ...(steps && { steps }), ...(pes && { variants: pes }) };
    console.log(`lab length (${preset}): ${s.variants.length} positional encodings x ${s.seeds} seeds, ${s.steps} steps each, on ${deviceText}`);
    const rows = await runLength(s, new Progress("length", lengthWork(s)));
    report = lengthReport(s, rows, { command, device: deviceText, date, seconds: (performance.now() - t0) / 1000 });
  } finally {
    await teardown();
  }
  console.log(`\n${reportText(report)}\n`);
  const index = writeReport(out, report);
  console.log(`report: ${index}`);
}
