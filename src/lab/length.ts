/**
 * `posenc lab length`: length generalisation. A small decoder LM is trained
 * on a synthetic task at one length n and evaluated at n, 2n, 4n, 8n (answer
 * accuracy), for each positional encoding, over several seeds:
 *
 *   NoPE, sinusoidal and learned absolute, RoPE (and the same trained RoPE
 *   model with PI, NTK or YaRN scaling by the length ratio at test time),
 *   ALiBi, T5 buckets, KERPLE (log), FIRE, randomized positions (RoPE at a
 *   sorted random sample of a range 8x the training length, in training and
 *   at test), kernelized attention with RPE (PRF features, learned b_{j-i}).
 *
 * Every model of a run has the same width, depth, heads and data; its
 * learning rate and steps may differ per training (`schedule`, chosen on
 * validation data at the training length by lab/lengthTune.ts), and a PE
 * that does not fit at the training length is not ranked. The seeds set the
 * initialisation and the data.
 *
 * Reference: Press et al., ALiBi, https://arxiv.org/abs/2108.12409;
 * Kazemnejad et al., NoPE, https://arxiv.org/abs/2305.19466; Ruoss et al.,
 * randomized PE, https://arxiv.org/abs/2305.16843; Chi et al., KERPLE,
 * https://arxiv.org/abs/2205.09921; Li et al., FIRE, https://arxiv.org/abs/2310.04418;
 * Luo et al., https://arxiv.org/abs/2106.12566
 */
import { type JsTree, type numpy as np, tree } from "@jax-js/jax";
import { fail } from "../core/validate.js";
import type { KernelizedLayerConfig } from "../nn/kernelizedLayer.js";
import type { LMConfig } from "../nn/lm.js";
import type { PEConfig, RopeScaling } from "../nn/positional.js";
import { positions1d } from "../pe/randomized.js";
import { syntheticBatch, type TaskConfig, vocabSize } from "../train/data/synthetic.js";
import type { ReportMeta } from "./experiment.js";
import { type Accuracy, evaluateLM, FIT_ACCURACY, LAB_ADAMW, labLM, trainLM } from "./lmRun.js";
import { sequentially, type UnitPool } from "./pool.js";
import type { ProgressSink } from "./progress.js";
import type { LabReport } from "./report.js";
import { mean } from "./stats.js";
import { lineChart } from "./svg.js";

/** How a variant's model is trained: the PE of its layers, an absolute encoding, kernelized attention, randomized positions. */
type Training = { pe: PEConfig; absolute?: LMConfig["absolute"]; kernel?: KernelizedLayerConfig; randomized?: boolean };

interface Variant {
  label: string;
  /** Variants with the same key share one trained model per seed. */
  train: string;
  /** Test-time RoPE scaling by the length ratio. */
  scaling?: "linear" | "ntk" | "yarn";
}

const ROPE: PEConfig = { type: "rotary", pairing: "halves", base: 10000 };

/** The trainings, by key. `maxT` is the longest evaluated input (learned absolute positions need a row each). */
function training(key: string, maxT: number): Training {
  switch (key) {
    case "nope":
      return { pe: { type: "none" } };
    case "sinusoidal":
      return { pe: { type: "none" }, absolute: { kind: "sinusoidal", layout: "concatenated" } };
    case "learned":
      return { pe: { type: "none" }, absolute: { kind: "learned", maxPositions: maxT } };
    case "rope":
      return { pe: ROPE };
    case "alibi":
      return { pe: { type: "alibi" } };
    case "t5":
      return { pe: { type: "t5", bidirectional: false, numBuckets: 32, maxDistance: 128 } };
    case "kerple":
      return { pe: { type: "kerple", variant: "log" } };
    case "fire":
      return { pe: { type: "fire", hidden: 32 } };
    case "randomized":
      return { pe: ROPE, randomized: true };
    case "kernelized":
      return { pe: { type: "none" }, kernel: { features: 32, featureMap: "prf", rpe: { maxDistance: maxT }, qkNorm: "none", seed: 0 } };
    default:
      return fail("lab length", `unknown training ${JSON.stringify(key)}`);
  }
}

/** Every positional encoding the experiment knows, by the name used on the command line. */
export const LENGTH_VARIANTS: Record<string, Variant> = {
  nope: { label: "NoPE", train: "nope" },
  sinusoidal: { label: "sinusoidal", train: "sinusoidal" },
  learned: { label: "learned", train: "learned" },
  rope: { label: "RoPE", train: "rope" },
  "rope-pi": { label: "RoPE + PI", train: "rope", scaling: "linear" },
  "rope-ntk": { label: "RoPE + NTK", train: "rope", scaling: "ntk" },
  "rope-yarn": { label: "RoPE + YaRN", train: "rope", scaling: "yarn" },
  alibi: { label: "ALiBi", train: "alibi" },
  t5: { label: "T5 buckets", train: "t5" },
  kerple: { label: "KERPLE log", train: "kerple" },
  fire: { label: "FIRE", train: "fire" },
  randomized: { label: "randomized RoPE", train: "randomized" },
  kernelized: { label: "kernelized + RPE", train: "kernelized" },
};

/**
 * The quick preset's schedules, chosen on validation seeds at the training
 * length by `npx tsx scripts/lab/length-schedule.ts` (lab/lengthTune.ts;
 * docs/tuning/length-schedule.json holds every trial).
 */
export const QUICK_SCHEDULE: Record<string, LengthSchedule> = {
  nope: { lr: 0.003, stepScale: 2 },
  rope: { lr: 0.01, stepScale: 1 },
  alibi: { lr: 0.003, stepScale: 1 },
  t5: { lr: 0.01, stepScale: 1 },
  randomized: { lr: 0.001, stepScale: 3 },
};

/** A training's learning rate and its steps as a multiple of the run's `steps`, chosen on validation data at the training length (lab/lengthTune.ts). */
export interface LengthSchedule {
  lr: number;
  stepScale: number;
}

export interface LengthSettings {
  /** The task at training length; `scaleTask` makes the longer ones. */
  task: TaskConfig;
  /** Evaluation lengths as multiples of the training length. */
  multiples: number[];
  variants: string[];
  seeds: number;
  steps: number;
  batch: number;
  lr: number;
  /** Per training key (the `train` of LENGTH_VARIANTS); a training without one runs `steps` at `lr`. */
  schedule: Record<string, LengthSchedule>;
  width: number;
  depth: number;
  heads: number;
  evalBatch: number;
  evalBatches: number;
}

/** A training's learning rate and step count in a run. */
export function trainingSchedule(s: LengthSettings, key: string): { lr: number; steps: number } {
  const k = s.schedule[key];
  return k === undefined ? { lr: s.lr, steps: s.steps } : { lr: k.lr, steps: Math.round(s.steps * k.stepScale) };
}

/** Presets: `quick` is the default of `npm start` (minutes on a 2-core CPU), `tiny` the CI smoke size. */
export const LENGTH_PRESETS: Record<"tiny" | "quick" | "full", LengthSettings> = {
  tiny: {
    task: { task: "copy", length: 3, symbols: 6 },
    multiples: [1, 2],
    variants: ["nope", "rope", "rope-yarn", "alibi"],
    seeds: 1,
    steps: 4,
    batch: 8,
    lr: 3e-3,
    schedule: {},
    width: 16,
    depth: 1,
    heads: 2,
    evalBatch: 8,
    evalBatches: 1,
  },
  quick: {
    task: { task: "copy", length: 8, symbols: 16 },
    multiples: [1, 2, 4, 8],
    variants: ["nope", "rope", "rope-pi", "rope-yarn", "alibi", "t5", "randomized"],
    seeds: 2,
    steps: 300,
    batch: 32,
    lr: 3e-3,
    schedule: QUICK_SCHEDULE,
    width: 64,
    depth: 2,
    heads: 4,
    evalBatch: 32,
    evalBatches: 2,
  },
  full: {
    task: { task: "copy", length: 16, symbols: 16 },
    multiples: [1, 2, 4, 8],
    variants: Object.keys(LENGTH_VARIANTS),
    seeds: 3,
    steps: 1500,
    batch: 32,
    lr: 2e-3,
    schedule: {},
    width: 128,
    depth: 2,
    heads: 8,
    evalBatch: 32,
    evalBatches: 4,
  },
};

/** The task with its length parameter multiplied by m (copy/reverse length, addition digits, recall pairs, passkey filler). */
export function scaleTask(task: TaskConfig, m: number): TaskConfig {
  switch (task.task) {
    case "copy":
    case "reverse":
      return { ...task, length: task.length * m };
    case "addition":
      return { ...task, digits: task.digits * m };
    case "recall":
      return { ...task, pairs: task.pairs * m };
    case "passkey":
      return { ...task, filler: task.filler * m };
    default:
      return task satisfies never;
  }
}

/** Input length T of a task (the model reads T tokens). */
export function inputLength(task: TaskConfig): number {
  switch (task.task) {
    case "copy":
    case "reverse":
      return 2 * task.length + 1; // BOS x_1..x_n SEP x_1..x_n minus the last token
    case "addition":
      return 3 * task.digits + 3;
    case "recall":
      return 2 * task.pairs + 3;
    case "passkey":
      return task.filler + 2 * task.digits + 2;
    default:
      return task satisfies never;
  }
}

export interface LengthRow {
  variant: string;
  label: string;
  seed: number;
  multiple: number;
  length: number;
  accuracy: Accuracy;
  finalLoss: number;
  trainSeconds: number;
}

/** One training of a run: the model of `key` at `seed`, evaluated for every variant that shares it at every length. */
export interface LengthUnit {
  seed: number;
  key: string;
  /** The multiples this unit evaluates (lab/lengthTune.ts: 1 only); all of the run's when absent. The run's longest still sets the vocabulary and the randomized range. */
  evaluate?: number[];
}

/** The run's trainings in the order a sequential run takes them (seed, then training), after checking the settings. */
export function lengthUnits(s: LengthSettings): LengthUnit[] {
  for (const v of s.variants)
    if (!(v in LENGTH_VARIANTS))
      fail("lab length", `unknown positional encoding ${JSON.stringify(v)}; known: ${Object.keys(LENGTH_VARIANTS).join(", ")}`);
  if (s.multiples.some((m) => !Number.isInteger(m) || m < 1))
    fail("lab length", `multiples must be integers >= 1, got ${s.multiples.join(", ")}`);
  if (!s.multiples.includes(1))
    fail(
      "lab length",
      `multiples must include 1, the training length, where each variant's fit is measured; got ${s.multiples.join(", ")}`,
    );
  const keys = new Set(Object.values(LENGTH_VARIANTS).map((v) => v.train));
  for (const [key, k] of Object.entries(s.schedule)) {
    if (!keys.has(key)) fail("lab length", `schedule names unknown training ${JSON.stringify(key)}; known: ${[...keys].join(", ")}`);
    if (!(Number.isFinite(k.lr) && k.lr > 0)) fail("lab length", `schedule.${key}.lr must be a finite number > 0, got ${k.lr}`);
    if (!(Number.isFinite(k.stepScale) && Math.round(s.steps * k.stepScale) >= 1))
      fail("lab length", `schedule.${key}.stepScale must give at least one step, got ${k.stepScale} of ${s.steps} steps`);
  }
  const trainings = trainingKeys(s);
  return Array.from({ length: s.seeds }, (_, seed) => trainings.map((key) => ({ seed, key }))).flat();
}

/** The trainings `s`'s variants need, by key, in the order of first use (variants that share a key share one model per seed). */
export function trainingKeys(s: LengthSettings): string[] {
  return [...new Set(s.variants.flatMap((v) => LENGTH_VARIANTS[v]?.train ?? []))];
}

/**
 * Trains one unit's model and evaluates its variants; one progress unit per
 * training step and per evaluation. Depends only on the settings and the
 * unit, so units may run in any order or in parallel with the same rows.
 */
export async function runLengthUnit(s: LengthSettings, { seed, key, evaluate }: LengthUnit, progress: ProgressSink): Promise<LengthRow[]> {
  const T = inputLength(s.task);
  const maxT = inputLength(scaleTask(s.task, Math.max(...s.multiples)));
  const V = vocabSize(scaleTask(s.task, Math.max(...s.multiples)));
  const rows: LengthRow[] = [];
  const t = training(key, maxT);
  const model = labLM(V, s, { pe: t.pe, absolute: t.absolute, kernel: t.kernel });
  const randomized = t.randomized ? (i: number, length = T) => positions1d(length, maxT, 7919 * (seed + 1) + i) : undefined;
  const { lr, steps } = trainingSchedule(s, key);
  const trained = await trainLM(
    model,
    (i) => syntheticBatch(s.task, s.batch, 100000 * (seed + 1) + i),
    { steps, batch: s.batch, lr, clipNorm: 1, adamw: LAB_ADAMW, name: `${key} seed ${seed}` },
    1000 + seed,
    progress,
    randomized && ((i) => randomized(i)),
  );
  try {
    for (const name of s.variants.filter((v) => LENGTH_VARIANTS[v].train === key)) {
      const variant = LENGTH_VARIANTS[name];
      for (const m of evaluate ?? s.multiples) {
        const task = scaleTask(s.task, m);
        const length = inputLength(task);
        const pe =
          variant.scaling && t.pe.type === "rotary" && length > T
            ? { ...t.pe, scaling: ropeScaling(variant.scaling, length / T, T) }
            : t.pe;
        const accuracy = await evaluateLM(trained.params, { ...model, pe }, task, {
          batch: s.evalBatch,
          batches: s.evalBatches,
          seed: 7_000_000 + 1000 * seed + m,
          positions: randomized && ((b, L) => randomized(1_000_000 + 100 * m + b, L)),
        });
        rows.push({
          variant: name,
          label: variant.label,
          seed,
          multiple: m,
          length,
          accuracy,
          finalLoss: trained.losses[trained.losses.length - 1],
          trainSeconds: trained.seconds,
        });
        progress.row?.(rows[rows.length - 1]);
        progress.tick(1, `${variant.label} seed ${seed} ${m}x`);
      }
    }
  } finally {
    tree.dispose(trained.params as unknown as JsTree<np.Array>);
  }
  return rows;
}

/**
 * Runs the experiment: every unit of `lengthUnits`, one after the other or,
 * given a `pool` (worker threads in Node), in parallel; the rows come in the
 * sequential order either way.
 */
export async function runLength(s: LengthSettings, progress: ProgressSink, pool?: UnitPool): Promise<LengthRow[]> {
  const units = lengthUnits(s);
  let results: LengthRow[][];
  if (pool) {
    // the longest trainings first, so that the workers finish together
    const order = units
      .map((_, i) => i)
      .sort((a, b) => trainingSchedule(s, units[b].key).steps - trainingSchedule(s, units[a].key).steps || a - b);
    const done = await pool.run<LengthUnit, LengthRow[]>(
      "length",
      s,
      order.map((i) => units[i]),
      progress,
    );
    results = new Array(units.length);
    order.forEach((u, i) => {
      results[u] = done[i];
    });
  } else results = await sequentially(units, (u) => runLengthUnit(s, u, progress));
  progress.done();
  return results.flat();
}

function ropeScaling(kind: "linear" | "ntk" | "yarn", factor: number, trainLength: number): RopeScaling {
  return kind === "yarn" ? { type: "yarn", factor, originalMaxPositions: trainLength } : { type: kind, factor };
}

/** Progress units of a run: training steps plus evaluations. */
export function lengthWork(s: LengthSettings): number {
  const steps = trainingKeys(s).reduce((n, key) => n + trainingSchedule(s, key).steps, 0);
  return s.seeds * (steps + s.variants.length * s.multiples.length);
}

/** The report: accuracy by length (mean and min-max over seeds), a figure, and findings read off the numbers. */
export function lengthReport(s: LengthSettings, rows: LengthRow[], meta: ReportMeta): LabReport {
  const T = inputLength(s.task);
  const stats = (variant: string, m: number) => {
    const acc = rows.filter((r) => r.variant === variant && r.multiple === m).map((r) => r.accuracy.token);
    return { mean: mean(acc), min: Math.min(...acc), max: Math.max(...acc) };
  };
  const fits = (v: string) => stats(v, 1).mean >= FIT_ACCURACY;
  const label = (v: string) => `${LENGTH_VARIANTS[v].label}${fits(v) ? "" : " (did not fit)"}`;
  const header = ["PE", ...s.multiples.map((m) => `${m}x (T=${inputLength(scaleTask(s.task, m))})`), "train loss", "lr, steps"];
  const table = s.variants.map((v) => {
    const { lr, steps } = trainingSchedule(s, LENGTH_VARIANTS[v].train);
    return [
      label(v),
      ...s.multiples.map((m) => {
        const st = stats(v, m);
        return s.seeds > 1 ? `${st.mean.toFixed(3)} (${st.min.toFixed(2)}-${st.max.toFixed(2)})` : st.mean.toFixed(3);
      }),
      Number(mean(rows.filter((r) => r.variant === v && r.multiple === 1).map((r) => r.finalLoss)).toFixed(4)),
      `${lr}, ${steps}`,
    ];
  });
  const series = s.variants.map((v) => ({
    name: label(v),
    dashed: LENGTH_VARIANTS[v].scaling !== undefined,
    points: s.multiples.map((m) => {
      const st = stats(v, m);
      return { x: inputLength(scaleTask(s.task, m)), y: st.mean, lo: st.min, hi: st.max };
    }),
  }));
  const svg = lineChart(series, {
    title: `${s.task.task}: answer accuracy vs input length (trained at T=${T})`,
    xLabel: "input length T (log scale)",
    yLabel: "answer token accuracy",
    xScale: "log2",
    yRange: [0, 1],
    ...(chance(s.task) !== undefined && { reference: { y: chance(s.task) as number, label: "chance" } }),
  });
  const longest = Math.max(...s.multiples);
  const fitted = s.variants.filter(fits);
  const unfitted = s.variants.filter((v) => !fits(v));
  const ranked = fitted.map((v) => ({ v, at: stats(v, longest).mean })).sort((a, b) => b.at - a.at);
  const findings = [
    ranked.length === 0
      ? `No variant fit the task at the training length (answer accuracy >= ${FIT_ACCURACY}), so none of the longer lengths speaks to extrapolation.`
      : `At ${longest}x the training length, the best of the ${ranked.length} variants that fit is ${LENGTH_VARIANTS[ranked[0].v].label} (${ranked[0].at.toFixed(3)}), the worst ${LENGTH_VARIANTS[ranked[ranked.length - 1].v].label} (${ranked[ranked.length - 1].at.toFixed(3)}).`,
    `At the training length: ${s.variants.map((v) => `${LENGTH_VARIANTS[v].label} ${stats(v, 1).mean.toFixed(3)}`).join(", ")}.`,
    ...(unfitted.length > 0
      ? [
          `Did not fit at the training length (answer accuracy < ${FIT_ACCURACY}), left out of the ranking: ${unfitted.map((v) => `${LENGTH_VARIANTS[v].label} (${stats(v, 1).mean.toFixed(3)})`).join(", ")}.`,
        ]
      : []),
  ];
  return {
    id: "length",
    title: "Length generalisation",
    question: `Trained on ${describeTask(s.task)} at input length T=${T}, which positional encodings still answer correctly at ${s.multiples.join(", ")}x that length?`,
    command: meta.command,
    device: meta.device,
    date: meta.date,
    seconds: meta.seconds,
    settings: {
      task: describeTask(s.task),
      "training length T": T,
      multiples: s.multiples.join(", "),
      seeds: s.seeds,
      steps: s.steps,
      batch: s.batch,
      "peak lr": s.lr,
      "per-PE schedule": Object.keys(s.schedule).length
        ? "lr and steps per training (table), chosen on validation seeds at the training length: scripts/lab/length-schedule.ts"
        : "every PE at the peak lr and steps",
      "fit rule": `a PE whose mean answer accuracy at the training length is below ${FIT_ACCURACY} is marked "did not fit" and left out of the ranking`,
      model: `${s.depth} layers, width ${s.width}, ${s.heads} heads, GELU MLP 4x, LayerNorm, tied embeddings`,
      optimizer: "AdamW (0.9, 0.99), weight decay 0.01 on matrices, clip 1, warmup 5% + cosine to lr/10",
      evaluation: `${s.evalBatches} x ${s.evalBatch} fresh examples per length, greedy teacher-forced answer tokens`,
      "RoPE scaling at test": "factor = test length / training length (PI: linear, NTK: base change, YaRN: transformers defaults)",
      "randomized positions": "sorted sample of [0, longest test length), in training and at test",
    },
    tables: [
      {
        caption: `Answer token accuracy, mean${s.seeds > 1 ? " (min-max)" : ""} over ${s.seeds} seed${s.seeds > 1 ? "s" : ""}`,
        header,
        rows: table,
      },
    ],
    figures: [
      {
        caption: `Answer accuracy against input length; shaded: min-max over seeds; dashed: RoPE scaled at test time. Trained at T=${T}.`,
        svg,
      },
    ],
    findings,
    data: { settings: s, rows },
  };
}

/** Accuracy of guessing answer tokens uniformly among the task's symbols. */
function chance(t: TaskConfig): number | undefined {
  switch (t.task) {
    case "copy":
    case "reverse":
    case "recall":
      return 1 / t.symbols;
    case "addition":
    case "passkey":
      return 1 / 10;
    default:
      return t satisfies never;
  }
}

/** The task in words, as the report states it. */
export function describeTask(t: TaskConfig): string {
  switch (t.task) {
    case "copy":
    case "reverse":
      return `${t.task} of ${t.length} symbols from ${t.symbols}`;
    case "addition":
      return `${t.digits}-digit addition`;
    case "recall":
      return `associative recall of ${t.pairs} pairs from ${t.symbols} symbols`;
    case "passkey":
      return `passkey of ${t.digits} digits in ${t.filler} filler tokens`;
    default:
      return t satisfies never;
  }
}
