/**
 * `npm run bench`: posenc's fused WebGPU kernels against the jitted jax-js
 * composites of the same computation and against PyTorch on the same GPU,
 * with throughput as a fraction of ceilings measured in the same run.
 *
 *   npm run bench                                   # L = 1024,4096,16384,65536 on a GPU
 *   npm run bench -- --sizes 1024,4096 --reps 3 --cases softmax --no-torch --json /tmp/bench.json
 *   node node_modules/tsx/dist/cli.mjs bench/run.ts ...   # where npm/npx are absent (GPU machine)
 *
 * Cases (B = 1, H = 8, D = Dv = 64, M = 64, float32, causal): softmax
 * attention plain and with ALiBi computed in the kernel (bench/cases/softmax.ts),
 * kernelized attention with FFT RPE and PRF features (bench/cases/kernelized.ts).
 * Each implementation runs once and the fused output is compared with the
 * composite's (max |diff|), then it is timed: warm-up runs, then the median
 * of --reps runs, each awaited to the end of its GPU work (the composite's
 * output realized, then `queue.onSubmittedWorkDone()`). FLOP/s and bytes/s use
 * each case's FLOP count and minimum bytes; fractions are of a WGSL matmul
 * and a buffer copy measured first (bench/ceilings.ts). With --torch (default
 * when python3 has torch with CUDA), scripts/bench/torch_anchor.py runs first.
 *
 * On a CPU/software WebGPU adapter (Mesa lavapipe) the defaults are small
 * (--sizes 256,512, 3 reps, small ceilings); with no adapter the composites
 * run on WebAssembly and the fused kernels are reported as needing WebGPU.
 * Prints one table and writes every number (all samples, skips and reasons)
 * to the JSON report (--json, default report/bench.json). Exits with 1 when a
 * fused output disagrees with its composite.
 */

import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { getWebGPUDevice } from "@jax-js/jax";
import { init, type Runtime, teardown } from "../src/runtime/init.js";
import { type BenchCase, type BenchEnv, formatBytes, SHAPE } from "./cases/case.js";
import { kernelized } from "./cases/kernelized.js";
import { alibi, causal } from "./cases/softmax.js";
import { type Ceilings, measureCeilings } from "./ceilings.js";
import { type AdapterDescription, describeAdapter, deviceLimits, probeAdapter } from "./device.js";
import { measureCase } from "./measure.js";
import { CPU_DEFAULTS, GPU_DEFAULTS, type Options, parseOptions, USAGE } from "./options.js";
import { formatReport, type Row } from "./table.js";
import { runTorchAnchors, type TorchReport, torchAvailable, torchTiming } from "./torchAnchor.js";
import { trainBench } from "./train.js";

const CASES: BenchCase[] = [causal, alibi, kernelized];
const root = fileURLToPath(new URL("..", import.meta.url));
const argv = process.argv.slice(2);

let options: Options;
try {
  options = parseOptions(argv);
} catch (err) {
  console.error(`bench: ${(err as Error).message}\n\n${USAGE}`);
  process.exit(2);
}
if (options.help) {
  console.log(USAGE);
  process.exit(0);
}

const notes: string[] = [];
const say = (line: string) => console.log(line);

// 1. The adapter, before anything holds the GPU.
const adapter: AdapterDescription | null = options.device === "wasm" ? null : await probeAdapter();
if (!adapter && options.device === "webgpu") {
  console.error(
    "bench: --device webgpu was asked for but Dawn found no WebGPU adapter (see src/runtime/init.ts for the Vulkan drivers it needs)",
  );
  process.exit(1);
}
const onCpu = !adapter || adapter.software;
const defaults = onCpu ? CPU_DEFAULTS : GPU_DEFAULTS;
const sizes = options.sizes ?? defaults.sizes;
const reps = options.reps ?? defaults.reps;
const warmup = options.warmup ?? defaults.warmup;
if (onCpu && (!options.sizes || !options.reps)) {
  notes.push(
    `${adapter ? `software WebGPU adapter (${adapter.device || adapter.description})` : "WebAssembly"}: ` +
      `defaults are --sizes ${CPU_DEFAULTS.sizes.join(",")} --reps ${CPU_DEFAULTS.reps}` +
      (adapter ? `, ceilings on a ${CPU_DEFAULTS.matmulN}^3 matmul and a ${formatBytes(CPU_DEFAULTS.copyBytes)} copy` : ""),
  );
}
const cases = CASES.filter((c) => options.cases.includes(c.group));
const wantTorch = options.torch ?? (options.device !== "wasm" && torchAvailable());
const startRuntime = async () => {
  try {
    return await init({ device: adapter ? "webgpu" : "wasm" });
  } catch (err) {
    notes.push(`WebGPU failed to start (${(err as Error).message})`);
    return init({ device: "wasm" });
  }
};

if (options.train) {
  const report = await trainBench(root, options, onCpu, wantTorch, startRuntime, say);
  const jsonPath = resolve(options.json);
  mkdirSync(dirname(jsonPath), { recursive: true });
  writeFileSync(jsonPath, `${JSON.stringify({ ...report, command: `tsx bench/run.ts ${argv.join(" ")}`.trim(), notes }, null, 1)}\n`);
  say(`\nwrote ${jsonPath}`);
  await teardown();
  process.exit(process.exitCode ?? 0);
}

// 2. PyTorch, on the same GPU, before posenc's device exists.
let torch: TorchReport | null = null;
let torchNote: string;
if (!wantTorch) {
  torchNote = `not run (${options.torch === false ? "--no-torch" : options.device === "wasm" ? "--device wasm" : "python3 has no torch with CUDA here"})`;
} else {
  say(`running the PyTorch anchors (${sizes.join(", ")}) ...`);
  const anchors = [...new Set(cases.map((c) => c.torch))];
  const result = runTorchAnchors(root, sizes, reps, anchors);
  if ("error" in result) {
    torchNote = `failed: ${result.error}`;
  } else {
    torch = result;
    torchNote = `torch ${result.torch} (CUDA ${result.cuda}) on ${result.gpu}, float32, TF32 off, median of ${result.reps} after ${result.warmup} warm-up runs`;
  }
}

// 3. posenc's device and the ceilings.
const rt: Runtime = await startRuntime();
const webgpu = rt.device === "webgpu";
const device = webgpu ? getWebGPUDevice() : null;
const env: BenchEnv = { runtime: rt, webgpu, software: adapter?.software ?? false };
const deviceErrors: string[] = [];
device?.addEventListener("uncapturederror", (e) => deviceErrors.push((e as GPUUncapturedErrorEvent).error.message));
if (!webgpu)
  notes.push(
    `${adapter === null && options.device === "wasm" ? "--device wasm" : "no WebGPU adapter"}: the composites run on WebAssembly; the fused kernels need WebGPU and are not run`,
  );

let ceilings: Ceilings | null = null;
let ceilingsNote = "not measured (they need WebGPU)";
if (device) {
  say(`measuring the ceilings (matmul ${defaults.matmulN}^3, copy ${formatBytes(defaults.copyBytes)}) ...`);
  try {
    ceilings = await measureCeilings(device, { n: defaults.matmulN, copyBytes: defaults.copyBytes, warmup, reps });
    const { matmul, copy } = ceilings;
    ceilingsNote =
      `matmul ${matmul.n}^3 (WGSL, 128x128 tiles, 8x8 per invocation): ${matmul.tflops.toPrecision(3)} TFLOP/s (${matmul.medianMs.toFixed(3)} ms); ` +
      `copy ${formatBytes(copy.bufferBytes)} (vec4): ${copy.gbps.toPrecision(3)} GB/s read + written (${copy.medianMs.toFixed(3)} ms)`;
  } catch (err) {
    ceilingsNote = `failed: ${(err as Error).message}`;
  }
}

// 4. The cases.
const settle = async () => {
  if (device) await device.queue.onSubmittedWorkDone();
};
const drainErrors = () => deviceErrors.splice(0);
const rows: Row[] = [];
for (const L of sizes) {
  for (const c of cases) {
    const result = await measureCase(c, L, env, {
      warmup,
      warmupMs: defaults.warmupMs,
      reps,
      budgetS: options.budgetS,
      settle,
      ceilings,
      deviceErrors: drainErrors,
    });
    const t = torch ? torchTiming(torch, L, c.torch) : null;
    rows.push({ ...result, ...(t ? { torch: { name: c.torch, ...t } } : {}) });
    const times = result.implementations.map((i) => `${i.role} ${i.timing ? `${i.timing.medianMs.toFixed(3)} ms` : "skipped"}`).join(", ");
    say(`L=${L} ${c.id}: ${times}`);
  }
}

// 5. Report.
const date = new Date().toISOString();
const adapterLine = adapter ? `${rt.description}${adapter.software ? " (software adapter)" : ""}` : rt.description;
say("");
say(`posenc bench, ${date}`);
say(`device: ${adapterLine}${device ? `; maxStorageBufferBindingSize ${formatBytes(device.limits.maxStorageBufferBindingSize)}` : ""}`);
say(
  `shape: B=${SHAPE.B} H=${SHAPE.H} D=Dv=${SHAPE.D} M=${SHAPE.M}, float32, causal; median of ${reps} runs after ${warmup} warm-up runs${defaults.warmupMs ? ` (and at least ${defaults.warmupMs} ms of them)` : ""}, each awaited to the end of its work`,
);
say(`ceilings, measured in this run: ${ceilingsNote}`);
say(`PyTorch: ${torchNote}`);
for (const n of notes) say(`note: ${n}`);
say("");
say(formatReport(rows, torch !== null));

const disagree = rows.filter((r) => r.agreement.some((a) => a.agree === false));
if (disagree.length > 0) {
  say(`\nfused and composite outputs disagree at: ${disagree.map((r) => `${r.case} L=${r.L}`).join(", ")}`);
  process.exitCode = 1;
}

const report = {
  date,
  command: `tsx bench/run.ts ${argv.join(" ")}`.trim(),
  argv,
  options: { sizes, reps, warmup, cases: options.cases, budgetS: options.budgetS, torch: wantTorch },
  device: {
    runtime: rt.device,
    description: rt.description,
    adapter: device ? describeAdapter(device.adapterInfo) : adapter,
    limits: device ? deviceLimits(device) : rt.limits,
    features: device ? [...device.features].sort() : [],
    host: {
      platform: `${os.platform()} ${os.arch()}`,
      cpu: os.cpus()[0]?.model ?? "unknown",
      cores: os.availableParallelism(),
      node: process.version,
    },
  },
  shape: { ...SHAPE, Dv: SHAPE.D, dtype: "float32", causal: true },
  ceilings: ceilings ?? { skipped: ceilingsNote },
  torch: torch ? { torch: torch.torch, cuda: torch.cuda, gpu: torch.gpu, reps: torch.reps, warmup: torch.warmup } : { skipped: torchNote },
  notes,
  rows,
};
const jsonPath = resolve(options.json);
mkdirSync(dirname(jsonPath), { recursive: true });
writeFileSync(jsonPath, `${JSON.stringify(report, null, 1)}\n`);
say(`\nwrote ${jsonPath}`);
await teardown();
