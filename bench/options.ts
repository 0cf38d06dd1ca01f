/**
 * Command-line options of `npm run bench` (bench/run.ts) and their defaults,
 * which depend on the device: full sizes on a GPU, small ones on a CPU
 * (a software WebGPU adapter such as lavapipe, or WebAssembly).
 */

export const USAGE = `usage: npm run bench -- [options]

  --sizes 1024,4096,16384,65536   sequence lengths L (default; 256,512 on a CPU/software device)
  --reps N                        timed runs per implementation and size (default 5; 3 on a CPU)
  --warmup N                      untimed runs before them (default 2, and at least 1 s of them on a GPU; 1 on a CPU)
  --cases softmax,kernelized      which cases to run (default both)
  --device auto|webgpu|wasm       device (default auto: WebGPU when an adapter exists, else WebAssembly)
  --json PATH                     where to write the JSON report (default report/bench.json)
  --torch / --no-torch            run the PyTorch anchors (default: when python3 has torch with CUDA)
  --budget SECONDS                time one implementation may take at one size, else it is skipped (default 60)
  --train                         time LM training steps instead (bench/train.ts): composite, fused, PyTorch twin
  --rows 64x2x4:16:32,...         with --train: width x depth x heads : L : batch (default the four GPU rows; one tiny row on a CPU)
  --profile                       with --train: the time of each part of the fused step of the last row
  --help                          this text`;

export type CaseGroup = "softmax" | "kernelized";

export interface Options {
  /** null: the device's default. */
  sizes: number[] | null;
  /** null: the device's default. */
  reps: number | null;
  /** null: the device's default. */
  warmup: number | null;
  cases: CaseGroup[];
  device: "auto" | "webgpu" | "wasm";
  json: string;
  /** null: run them when torch with CUDA is available. */
  torch: boolean | null;
  budgetS: number;
  /** Training-step mode (bench/train.ts). */
  train: boolean;
  /** null: the device's default rows. */
  rows: string[] | null;
  profile: boolean;
  help: boolean;
}

/** Defaults for a GPU or for a CPU (software adapter, WebAssembly). */
export interface DeviceDefaults {
  sizes: number[];
  reps: number;
  warmup: number;
  /** Warm-up continues until this much time has passed (GPU clocks ramp up under load). */
  warmupMs: number;
  /** Size n of the n x n x n matmul ceiling (a multiple of 128). */
  matmulN: number;
  /** Bytes of each buffer of the copy ceiling (clamped to the device's limits). */
  copyBytes: number;
}

export const GPU_DEFAULTS: DeviceDefaults = {
  sizes: [1024, 4096, 16384, 65536],
  reps: 7,
  warmup: 2,
  warmupMs: 1000,
  matmulN: 4096,
  copyBytes: 2 ** 30,
};
export const CPU_DEFAULTS: DeviceDefaults = { sizes: [256, 512], reps: 3, warmup: 1, warmupMs: 0, matmulN: 256, copyBytes: 16 * 2 ** 20 };

/** Parses argv; throws an Error naming the bad option. */
export function parseOptions(argv: string[]): Options {
  const o: Options = {
    sizes: null,
    reps: null,
    warmup: null,
    cases: ["softmax", "kernelized"],
    device: "auto",
    json: "report/bench.json",
    torch: null,
    budgetS: 60,
    train: false,
    rows: null,
    profile: false,
    help: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    const positiveInt = (v: string) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} takes positive integers, got ${JSON.stringify(v)}`);
      return n;
    };
    switch (flag) {
      case "--sizes":
        o.sizes = value().split(",").map(positiveInt);
        break;
      case "--reps":
        o.reps = positiveInt(value());
        break;
      case "--warmup": {
        const v = value();
        o.warmup = v === "0" ? 0 : positiveInt(v);
        break;
      }
      case "--budget":
        o.budgetS = positiveInt(value());
        break;
      case "--cases": {
        const cases = value().split(",");
        const bad = cases.filter((c) => c !== "softmax" && c !== "kernelized");
        if (bad.length > 0 || cases.length === 0)
          throw new Error(`--cases takes softmax and/or kernelized, got ${JSON.stringify(bad.join(","))}`);
        o.cases = cases as CaseGroup[];
        break;
      }
      case "--device": {
        const d = value();
        if (d !== "auto" && d !== "webgpu" && d !== "wasm")
          throw new Error(`--device takes auto, webgpu or wasm, got ${JSON.stringify(d)}`);
        o.device = d;
        break;
      }
      case "--json":
        o.json = value();
        break;
      case "--torch":
        o.torch = true;
        break;
      case "--no-torch":
        o.torch = false;
        break;
      case "--train":
        o.train = true;
        break;
      case "--rows": {
        const rows = value().split(",");
        for (const r of rows) parseRow(r);
        o.rows = rows;
        break;
      }
      case "--profile":
        o.profile = true;
        break;
      case "--help":
      case "-h":
        o.help = true;
        break;
      default:
        throw new Error(`unknown option ${JSON.stringify(flag)}`);
    }
  }
  if (!o.train && (o.rows || o.profile)) throw new Error("--rows and --profile go with --train");
  return o;
}

/** A training-benchmark row: width x depth x heads, sequence length, batch. */
export interface TrainRow {
  width: number;
  depth: number;
  heads: number;
  L: number;
  batch: number;
}

/** Parses "W x D x H : L : B" (e.g. 64x2x4:16:32); throws naming the row. */
export function parseRow(spec: string): TrainRow {
  const m = /^(\d+)x(\d+)x(\d+):(\d+):(\d+)$/.exec(spec);
  if (!m) throw new Error(`--rows takes width x depth x heads : L : batch, e.g. 64x2x4:16:32, got ${JSON.stringify(spec)}`);
  const [width, depth, heads, L, batch] = m.slice(1).map(Number);
  if ([width, depth, heads, L, batch].some((n) => n < 1) || width % heads !== 0)
    throw new Error(`--rows ${spec}: every size must be >= 1 and the width a multiple of the heads`);
  return { width, depth, heads, L, batch };
}
