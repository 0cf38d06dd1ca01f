/**
 * `npm run bench -- --train`: one language-model training step, posenc's
 * composite jitted step and its step through the fused kernels
 * (train/fusedStep.ts), against the PyTorch twin (scripts/bench/train_twin.py,
 * run first on the same GPU), milliseconds per step and ratios from one run.
 *
 *   npm run bench -- --train                       # the four rows below, on a GPU
 *   npm run bench -- --train --rows 64x2x4:16:32 --reps 10 --json /tmp/train.json
 *
 * The model is the lab's LM (src/lab/lmRun.ts `labLM`) with RoPE halves and
 * a vocabulary of 256; the batch is fixed random tokens and targets; AdamW
 * (LAB_ADAMW) with clipping to norm 1, lr 1e-3. A step is timed from its call
 * to its loss read back on the host (as the trainer does every step, and the
 * twin's `loss.item()`); median of --reps steps after warm-up steps (and at
 * least 1 s of them on a GPU). The fused and composite steps start from the
 * same parameters and batch: their first losses are compared.
 *
 * With --profile, the fused step of the largest row is run once more with a
 * synchronisation after each of its parts, and the time of each part is
 * printed (the sum exceeds the step: the parts no longer overlap).
 */
import { getWebGPUDevice, type JsTree, numpy as np, tree } from "@jax-js/jax";
import { LAB_ADAMW, labLM } from "../src/lab/lmRun.js";
import { initLM, type LMConfig } from "../src/nn/lm.js";
import { lmChain } from "../src/nn/lmChain.js";
import { rng } from "../src/pe/random.js";
import type { Runtime } from "../src/runtime/init.js";
import { initAdamW } from "../src/train/adamw.js";
import { makeChainStep } from "../src/train/fusedStep.js";
import { makeTrainStep, type TrainConfig } from "../src/train/trainStep.js";
import { type Options, parseRow, type TrainRow } from "./options.js";
import { timeRuns } from "./timing.js";
import { runPythonJson } from "./torchAnchor.js";

/** The rows on a GPU (the training issue's table). */
export const GPU_TRAIN_ROWS = ["64x2x4:16:32", "128x2x8:64:32", "256x4x8:256:16", "512x6x8:1024:8"];
/** The row on a CPU (software adapter or WebAssembly): small enough for a test. */
export const CPU_TRAIN_ROWS = ["32x1x2:16:4"];
export const VOCAB = 256;
const TRAIN: TrainConfig = { adamw: LAB_ADAMW, clipNorm: 1 };
const LR = 1e-3;

export interface TrainTiming {
  medianMs: number;
  samplesMs: number[];
  firstLoss: number;
}

export interface TrainRowReport {
  row: string;
  composite: TrainTiming | { skipped: string };
  fused: TrainTiming | { skipped: string };
  torch: { ms: number; samples_ms: number[]; loss0: number } | { skipped: string } | null;
  /** |fused - composite| / composite of the first step's loss. */
  firstLossRelDiff: number | null;
}

/** The PyTorch twin's report (scripts/bench/train_twin.py), or `{ error }`. */
export function runTwin(root: string, rows: string[], reps: number, warmup: number): Record<string, unknown> | { error: string } {
  const args = ["--rows", rows.join(","), "--vocab", String(VOCAB), "--steps", String(reps), "--warmup", String(warmup)];
  return runPythonJson<Record<string, unknown>>(root, "scripts/bench/train_twin.py", args);
}

function model(r: TrainRow): LMConfig {
  return labLM(VOCAB, r, { pe: { type: "rotary", pairing: "halves", base: 10000 } });
}

/** Fixed random tokens and targets of a row (all positions count). */
function batchOf(r: TrainRow) {
  const draw = rng(12345);
  const n = r.batch * r.L;
  const tokens = Int32Array.from({ length: n }, () => draw.below(VOCAB));
  const targets = Int32Array.from({ length: n }, () => draw.below(VOCAB));
  return () => ({
    tokens: np.array(tokens).reshape([r.batch, r.L]),
    targets: np.array(targets).reshape([r.batch, r.L]),
    mask: np.ones([r.batch, r.L], { dtype: np.float32 }),
  });
}

/** Times one kind of step on a row: warm-up (count and milliseconds), then `reps` steps, each to its loss on the host. */
export async function timeSteps(
  r: TrainRow,
  fused: boolean,
  opts: { reps: number; warmup: number; warmupMs: number; budgetMs: number },
): Promise<TrainTiming | { skipped: string }> {
  const config = model(r);
  const step = fused ? makeChainStep(lmChain(config), TRAIN) : makeTrainStep(config, TRAIN);
  const batch = batchOf(r);
  let params = initLM(config, 0);
  let state = initAdamW(params);
  let firstLoss = NaN;
  const once = async () => {
    const out = await step(params, state, batch(), LR);
    ({ params, state } = out);
    const loss = (await out.loss.data())[0];
    if (Number.isNaN(firstLoss)) firstLoss = loss;
    out.gradNorm.dispose();
  };
  const overBudget = (ms: number) => {
    if (ms > opts.budgetMs) throw new OverBudget(`the first step took ${ms.toFixed(0)} ms, over the budget`);
  };
  try {
    const { medianMs, samplesMs } = await timeRuns(once, { ...opts, afterFirst: overBudget });
    return { medianMs, samplesMs, firstLoss };
  } catch (e) {
    if (e instanceof OverBudget) return { skipped: e.message };
    throw e;
  } finally {
    tree.dispose(params as unknown as JsTree<np.Array>);
    tree.dispose(state as unknown as JsTree<np.Array>);
    step.dispose();
  }
}

/** A row whose first step exceeds the time budget. */
class OverBudget extends Error {}

/** Milliseconds of each part of one fused step of a row, synchronised after each part (after warm-up steps). */
export async function profileFused(r: TrainRow, warmup: number): Promise<Record<string, number>> {
  const config = model(r);
  const parts: Record<string, number> = {};
  let t = 0;
  let on = false;
  const device = getWebGPUDevice();
  const step = makeChainStep(lmChain(config), TRAIN, {
    phase: async (name, outputs) => {
      if (!on) return;
      await Promise.all(outputs.map((a) => a.ref.blockUntilReady().then((x) => x.dispose())));
      await device.queue.onSubmittedWorkDone();
      const now = performance.now();
      parts[name] = (parts[name] ?? 0) + now - t;
      t = now;
    },
  });
  const batch = batchOf(r);
  let params = initLM(config, 0);
  let state = initAdamW(params);
  for (let i = 0; i <= warmup; i++) {
    on = i === warmup;
    t = performance.now();
    const out = await step(params, state, batch(), LR);
    ({ params, state } = out);
    const t0 = performance.now();
    await out.loss.data();
    if (on) parts["loss read"] = performance.now() - t0;
    out.gradNorm.dispose();
  }
  tree.dispose(params as unknown as JsTree<np.Array>);
  tree.dispose(state as unknown as JsTree<np.Array>);
  step.dispose();
  return parts;
}

/** The rows' timings; `runtime` decides whether the fused step can run. */
export async function benchRows(
  rows: string[],
  runtime: Runtime,
  opts: { reps: number; warmup: number; warmupMs: number; budgetMs: number },
  twin: Record<string, unknown> | null,
  say: (line: string) => void,
): Promise<TrainRowReport[]> {
  const twinRows = (twin?.rows ?? []) as Array<{ row: string }>;
  const out: TrainRowReport[] = [];
  for (const spec of rows) {
    const r = parseRow(spec);
    const composite = await timeSteps(r, false, opts);
    const fused = runtime.device === "webgpu" ? await timeSteps(r, true, opts) : { skipped: "the fused kernels need WebGPU" };
    const t = twinRows.find((x) => x.row === spec) as TrainRowReport["torch"] | undefined;
    const rel =
      "firstLoss" in composite && "firstLoss" in fused ? Math.abs(fused.firstLoss - composite.firstLoss) / composite.firstLoss : null;
    out.push({ row: spec, composite, fused, torch: t ?? null, firstLossRelDiff: rel });
    const ms = (x: TrainTiming | { skipped: string }) => ("medianMs" in x ? `${x.medianMs.toFixed(2)} ms` : `skipped (${x.skipped})`);
    say(`${spec}: composite ${ms(composite)}, fused ${ms(fused)}${t && "ms" in t ? `, PyTorch ${t.ms.toFixed(2)} ms` : ""}`);
  }
  return out;
}

/**
 * The whole --train mode (module header): the twin first (when asked for or available), then posenc's device,
 * the rows, the optional profile, the table and the JSON report.
 */
export async function trainBench(
  root: string,
  options: Options,
  onCpu: boolean,
  wantTorch: boolean,
  startRuntime: () => Promise<Runtime>,
  say: (line: string) => void,
): Promise<object> {
  const rows = options.rows ?? (onCpu ? CPU_TRAIN_ROWS : GPU_TRAIN_ROWS);
  const reps = options.reps ?? (onCpu ? 2 : 10);
  const warmup = options.warmup ?? 3; // jax-js compiles again on the second call of a jitted step
  let twin: Record<string, unknown> | null = null;
  let torchNote = "not run";
  if (wantTorch) {
    say(`running the PyTorch twin (${rows.join(", ")}) ...`);
    const t = runTwin(root, rows, reps, warmup);
    if ("error" in t) torchNote = `failed: ${t.error}`;
    else {
      twin = t;
      torchNote = `torch ${t.torch} (CUDA ${t.cuda}) on ${t.gpu}, eager float32, TF32 off`;
    }
  }
  const runtime = await startRuntime();
  const timing = { reps, warmup, warmupMs: onCpu ? 0 : 1000, budgetMs: options.budgetS * 1000 };
  const report = await benchRows(rows, runtime, timing, twin, say);
  let profile: Record<string, number> | null = null;
  if (options.profile && runtime.device === "webgpu") profile = await profileFused(parseRow(rows[rows.length - 1]), warmup);
  say("");
  say(`posenc bench --train, ${new Date().toISOString()}, on ${runtime.description}`);
  say(
    `model: the lab LM (RoPE halves, LayerNorm, GELU 4x, tied), vocabulary ${VOCAB}; AdamW, clip 1; median of ${reps} steps after ${warmup} warm-up steps, each to its loss on the host`,
  );
  say(`PyTorch: ${torchNote}`);
  say("");
  say(formatTrainTable(report));
  if (profile) {
    say(`\nfused step of ${rows[rows.length - 1]}, synchronised after each part (ms, summed over layers):`);
    for (const [part, ms] of Object.entries(profile)) say(`  ${part}: ${ms.toFixed(2)}`);
  }
  return { date: new Date().toISOString(), mode: "train", rows: report, reps, warmup, vocab: VOCAB, torch: torchNote, profile };
}

/** The table: ms per step and ratios to PyTorch. */
export function formatTrainTable(rows: TrainRowReport[]): string {
  const head =
    "| width x depth x heads : L : batch | PyTorch ms | composite ms | fused ms | composite / PyTorch | fused / PyTorch | fused / composite | first-loss rel. diff |";
  const lines = [head, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"];
  for (const r of rows) {
    const ms = (x: TrainTiming | { skipped: string }) => ("medianMs" in x ? x.medianMs : null);
    const torch = r.torch && "ms" in r.torch ? r.torch.ms : null;
    const [c, f] = [ms(r.composite), ms(r.fused)];
    const fmt = (x: number | null, d = 2) => (x === null ? "-" : x.toFixed(d));
    const ratio = (a: number | null, b: number | null) => (a === null || b === null ? "-" : `${(a / b).toFixed(2)}x`);
    lines.push(
      `| ${r.row} | ${fmt(torch)} | ${fmt(c)} | ${fmt(f)} | ${ratio(c, torch)} | ${ratio(f, torch)} | ${ratio(f, c)} | ${r.firstLossRelDiff === null ? "-" : r.firstLossRelDiff.toExponential(1)} |`,
    );
  }
  return lines.join("\n");
}
