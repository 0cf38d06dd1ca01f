/**
 * `posenc lab accuracy`: the "accurate" and "fast" of Luo et al. on a
 * long-range task. Kernelized attention with RPE is compared with softmax
 * attention and with the efficient attentions it improves on (plain PRF
 * kernelized attention, elu + 1 linear attention) on multi-query associative
 * recall (MQAR, Arora et al. 2023): `pairs` key-value pairs, then `queries`
 * of the keys in random order, each to be answered by its value, at a
 * context of 2 (pairs + queries) + 1 tokens. Recall needs content-based
 * lookup over the whole context, which a fixed-size kernel state stores
 * only approximately; softmax attention can solve it exactly.
 *
 * Each variant trains from several seeds on fresh batches; measured are the
 * answer-token accuracy on held-out examples (other seeds), the final
 * training loss on the answers (chance is ln(symbols)), and the time per
 * training step, wall clock over the whole training (compilation included),
 * on the device the run uses. With an output directory every training is
 * saved as it ends and `resume` keeps them (src/lab/savedRuns.ts).
 *
 * Reference: Luo et al., "Stable, Fast and Accurate: Kernelized Attention
 * with Relative Positional Encoding" (NeurIPS 2021), https://arxiv.org/abs/2106.12566;
 * Arora et al., "Zoology: Measuring and Improving Recall in Efficient
 * Language Models" (2023), https://arxiv.org/abs/2312.04927;
 * Katharopoulos et al. (ICML 2020), https://arxiv.org/abs/2006.16236 (elu + 1).
 */
import { type JsTree, type numpy as np, tree } from "@jax-js/jax";
import { describe, fail, integer, knownFields, positive } from "../core/validate.js";
import type { KernelizedLayerConfig } from "../nn/kernelizedLayer.js";
import type { PEConfig } from "../nn/positional.js";
import { runtime } from "../runtime/init.js";
import { syntheticBatch, type TaskConfig, vocabSize } from "../train/data/synthetic.js";
import type { ReportMeta } from "./experiment.js";
import { evaluateLM, FIT_ACCURACY, LAB_ADAMW, type LabLMSweep, labLM, trainLM } from "./lmRun.js";
import type { UnitPool } from "./pool.js";
import type { ProgressSink } from "./progress.js";
import type { LabReport } from "./report.js";
import { runSavedUnits } from "./savedRuns.js";
import { mean } from "./stats.js";
import { lineChart } from "./svg.js";

interface AccuracyVariant {
  label: string;
  pe: PEConfig;
  /** Kernelized attention (its feature count is the settings'; RPE, when asked, over every offset of the context). */
  kernel?: Omit<KernelizedLayerConfig, "seed" | "features" | "rpe"> & { rpe: boolean };
}

export const ACCURACY_VARIANTS: Record<string, AccuracyVariant> = {
  softmax: { label: "softmax + RoPE", pe: { type: "rotary", pairing: "halves", base: 10000 } },
  kernelized: { label: "kernelized (PRF)", pe: { type: "none" }, kernel: { featureMap: "prf", rpe: false, qkNorm: "none" } },
  "kernelized-rpe": { label: "kernelized + RPE", pe: { type: "none" }, kernel: { featureMap: "prf", rpe: true, qkNorm: "none" } },
  "kernelized-rpe-norm": {
    label: "kernelized + RPE + qk-norm",
    pe: { type: "none" },
    kernel: { featureMap: "prf", rpe: true, qkNorm: "l2" },
  },
  linear: { label: "linear (elu + 1)", pe: { type: "none" }, kernel: { featureMap: "eluPlusOne", rpe: false, qkNorm: "none" } },
};

/**
 * Seeds of the evaluated examples (batches seed + b), which no training batch
 * uses (those are 10^6 (seed + 1) + step): the held-out examples the report
 * gives, and the validation examples the quick preset's learning rate was
 * chosen on (`npx tsx scripts/lab/accuracy-schedule.ts`), so that the reported
 * accuracy is not the one the choice saw.
 */
export const HELD_OUT_SEED = 800_000_000;
export const VALIDATION_SEED = 900_000_000;

export interface AccuracySettings extends LabLMSweep {
  /** Key-value pairs and the keys asked: the context is 2 (pairs + queries) + 1 tokens. */
  pairs: number;
  queries: number;
  /** Symbols keys and values are drawn from (keys distinct: at least `pairs`). */
  symbols: number;
  /** Peak learning rate (5% warmup, cosine to a tenth). */
  lr: number;
  /** Seed of the evaluated examples: HELD_OUT_SEED, or VALIDATION_SEED when choosing settings. */
  evalSeed: number;
}

export const ACCURACY_PRESETS: Record<"tiny" | "quick" | "full", AccuracySettings> = {
  tiny: {
    variants: ["softmax", "kernelized-rpe", "linear"],
    seeds: 2,
    steps: 3,
    batch: 2,
    pairs: 4,
    queries: 2,
    symbols: 8,
    lr: 3e-3,
    features: 8,
    width: 16,
    depth: 1,
    heads: 2,
    evalBatches: 1,
    evalSeed: HELD_OUT_SEED,
    runs: null,
    resume: false,
  },
  quick: {
    variants: Object.keys(ACCURACY_VARIANTS),
    seeds: 2,
    steps: 4000,
    batch: 16,
    pairs: 4,
    queries: 4,
    symbols: 8,
    lr: 3e-3,
    features: 32,
    width: 64,
    depth: 2,
    heads: 4,
    evalBatches: 4,
    evalSeed: HELD_OUT_SEED,
    runs: null,
    resume: false,
  },
  full: {
    variants: Object.keys(ACCURACY_VARIANTS),
    seeds: 3,
    steps: 2000,
    batch: 16,
    pairs: 256,
    queries: 256,
    symbols: 256,
    lr: 1e-3,
    features: 64,
    width: 128,
    depth: 2,
    heads: 4,
    evalBatches: 8,
    evalSeed: HELD_OUT_SEED,
    runs: null,
    resume: false,
  },
};

export interface AccuracyRun {
  variant: string;
  seed: number;
  /** Training loss on the answer tokens at every step. */
  losses: number[];
  /** Answer tokens predicted right on the held-out examples, and whole answers right. */
  accuracy: number;
  sequenceAccuracy: number;
  /** Wall-clock milliseconds per training step, compilation included. */
  msPerStep: number;
  device: string;
}

/** One training of a run: `variant` from `seed`. */
export interface AccuracyUnit {
  variant: string;
  seed: number;
}

const SETTINGS = Object.keys(ACCURACY_PRESETS.quick);

/** The task of the settings. */
export function accuracyTask(s: AccuracySettings): TaskConfig {
  return { task: "recall", pairs: s.pairs, queries: s.queries, symbols: s.symbols };
}

/** The run's trainings, seed-major, after checking the settings (before anything trains). */
export function accuracyUnits(s: AccuracySettings): AccuracyUnit[] {
  const fn = "lab accuracy";
  knownFields(fn, "settings", s, SETTINGS);
  for (const v of s.variants)
    if (!(v in ACCURACY_VARIANTS)) fail(fn, `unknown variant ${JSON.stringify(v)}; known: ${Object.keys(ACCURACY_VARIANTS).join(", ")}`);
  for (const k of ["seeds", "steps", "batch", "pairs", "queries", "symbols", "features", "width", "depth", "heads", "evalBatches"] as const)
    integer(fn, k, s[k], 1);
  if (s.evalSeed !== HELD_OUT_SEED && s.evalSeed !== VALIDATION_SEED)
    fail(fn, `evalSeed must be HELD_OUT_SEED (${HELD_OUT_SEED}) or VALIDATION_SEED (${VALIDATION_SEED}), got ${describe(s.evalSeed)}`);
  positive(fn, "lr", s.lr);
  if (s.width % s.heads !== 0) fail(fn, `heads (${s.heads}) must divide the width (${s.width})`);
  syntheticBatch(accuracyTask(s), 1, 0); // the task's own checks (distinct keys, queries <= pairs)
  return Array.from({ length: s.seeds }, (_, seed) => s.variants.map((variant) => ({ variant, seed }))).flat();
}

export function accuracyWork(s: AccuracySettings): number {
  return accuracyUnits(s).length * (s.steps + 1);
}

/** Trains one variant from one seed and measures it; one progress unit per step and one for the evaluation. */
export async function runAccuracyUnit(s: AccuracySettings, { variant, seed }: AccuracyUnit, progress: ProgressSink): Promise<AccuracyRun> {
  const task = accuracyTask(s);
  const T = 2 * (s.pairs + s.queries) + 1;
  const v = ACCURACY_VARIANTS[variant];
  const kernel = v.kernel && { ...v.kernel, rpe: v.kernel.rpe ? { maxDistance: T } : null, features: s.features, seed: 700 + seed };
  const model = labLM(vocabSize(task), s, { pe: v.pe, kernel });
  const trained = await trainLM(
    model,
    (i) => syntheticBatch(task, s.batch, 1_000_000 * (seed + 1) + i),
    { steps: s.steps, batch: s.batch, lr: s.lr, clipNorm: 1, adamw: LAB_ADAMW, name: `${variant} seed ${seed}` },
    4000 + seed,
    progress,
  );
  try {
    const acc = await evaluateLM(trained.params, model, task, { batch: s.batch, batches: s.evalBatches, seed: s.evalSeed });
    progress.tick(1, `${v.label} seed ${seed}: accuracy ${acc.token.toFixed(3)}`);
    return {
      variant,
      seed,
      losses: trained.losses,
      accuracy: acc.token,
      sequenceAccuracy: acc.sequence,
      msPerStep: (1000 * trained.seconds) / s.steps,
      device: `${runtime().device} (${runtime().description})`,
    };
  } finally {
    tree.dispose(trained.params as unknown as JsTree<np.Array>);
  }
}

/** The settings that decide what one training computes. */
function runKey(s: AccuracySettings): string {
  const { variants: _v, seeds: _s, runs: _r, resume: _z, ...key } = s;
  return JSON.stringify(key);
}

const unitFile = (u: AccuracyUnit) => `${u.variant}-seed${u.seed}.json`;

/**
 * Runs every unit, in order or through `pool`; the runs in the sequential
 * order either way. With `runs`, each training is saved as it ends, and with
 * `resume` the saved ones are kept.
 */
export async function runAccuracy(s: AccuracySettings, progress: ProgressSink, pool?: UnitPool): Promise<AccuracyRun[]> {
  return runSavedUnits(
    {
      fn: "lab accuracy",
      experiment: "accuracy",
      settings: s,
      units: accuracyUnits(s),
      where: s,
      key: runKey(s),
      file: unitFile,
      label: (u) => `${ACCURACY_VARIANTS[u.variant].label} seed ${u.seed}`,
      work: s.steps + 1,
      run: (u) => runAccuracyUnit(s, u, progress),
    },
    progress,
    pool,
  );
}

const spread = (xs: number[]) => `${mean(xs).toFixed(3)} (${Math.min(...xs).toFixed(3)}-${Math.max(...xs).toFixed(3)})`;

export function accuracyReport(s: AccuracySettings, runs: AccuracyRun[], meta: ReportMeta): LabReport {
  const T = 2 * (s.pairs + s.queries) + 1;
  const of = (v: string) => runs.filter((r) => r.variant === v);
  const lastTenth = (r: AccuracyRun) => mean(r.losses.slice(-Math.max(1, Math.floor(s.steps / 10))));
  const rows = s.variants.map((v) => {
    const rs = of(v);
    return [
      ACCURACY_VARIANTS[v].label,
      spread(rs.map((r) => r.accuracy)),
      spread(rs.map((r) => r.sequenceAccuracy)),
      Number(mean(rs.map(lastTenth)).toFixed(4)),
      Number(mean(rs.map((r) => r.msPerStep)).toFixed(1)),
    ];
  });
  const stride = Math.max(1, Math.floor(s.steps / 100));
  const curves = lineChart(
    s.variants.map((v) => ({
      name: ACCURACY_VARIANTS[v].label,
      points: Array.from({ length: Math.ceil(s.steps / stride) }, (_, k) => {
        const ls = of(v).map((r) => r.losses[k * stride] ?? NaN);
        const finite = ls.every(Number.isFinite);
        return {
          x: k * stride + 1,
          y: finite ? mean(ls) : NaN,
          lo: finite ? Math.min(...ls) : undefined,
          hi: finite ? Math.max(...ls) : undefined,
        };
      }),
    })),
    { title: `Loss on the answers, multi-query recall at T = ${T}`, xLabel: "step", yLabel: "loss (nats per answer token)" },
  );
  const accuracyOf = (v: string) => mean(of(v).map((r) => r.accuracy));
  const best = [...s.variants].sort((a, b) => accuracyOf(b) - accuracyOf(a));
  const others = s.variants.filter((v) => v !== "softmax");
  const ranked = `${best.map((v) => `${ACCURACY_VARIANTS[v].label} ${accuracyOf(v).toFixed(3)}`).join(", ")} (answer-token accuracy; chance ${(1 / s.symbols).toFixed(3)})`;
  const referenceFits = s.variants.includes("softmax") && accuracyOf("softmax") >= FIT_ACCURACY;
  const findings = [
    referenceFits || !s.variants.includes("softmax")
      ? `Most accurate: ${ranked}.`
      : `The softmax reference did not fit the task (answer accuracy ${accuracyOf("softmax").toFixed(3)} < ${FIT_ACCURACY}), so this run cannot say how close the efficient attentions come to it (train longer, or on fewer pairs): ${ranked}.`,
    ...(s.variants.includes("softmax") && others.length > 0
      ? [
          `Time per step against softmax: ${others
            .map(
              (v) =>
                `${ACCURACY_VARIANTS[v].label} ${(mean(of(v).map((r) => r.msPerStep)) / mean(of("softmax").map((r) => r.msPerStep))).toFixed(2)}x`,
            )
            .join(", ")}.`,
        ]
      : []),
  ];
  const devices = [...new Set(runs.map((r) => r.device))].join("; ");
  return {
    id: "accuracy",
    title: "Accuracy of kernelized attention on long-range recall",
    question:
      "On a task that needs the whole context (multi-query associative recall), how close does kernelized attention with RPE come to softmax attention, against plain random features and elu + 1 linear attention, and at what cost per step?",
    command: meta.command,
    device: meta.device,
    date: meta.date,
    seconds: meta.seconds,
    settings: {
      task: `multi-query associative recall: ${s.pairs} key-value pairs, then ${s.queries} distinct keys asked (random order), each answered by its value; ${s.symbols} symbols; context T = ${T}`,
      "held out": `${s.evalBatches} batches of ${s.batch} examples from seed ${s.evalSeed}${s.evalSeed === HELD_OUT_SEED ? " (not the validation examples the quick preset's lr was chosen on)" : " (the validation examples, not the held-out ones)"}`,
      seeds: s.seeds,
      steps: s.steps,
      batch: s.batch,
      lr: `${s.lr} peak (5% warmup, cosine to a tenth), the same for every variant (not tuned)`,
      model: `${s.depth} layers, width ${s.width}, ${s.heads} heads, GELU MLP 4x, LayerNorm, tied embeddings`,
      "kernelized attention": `${s.features} positive random features (PRF variants, fixed per seed); RPE: a learned b over every offset of the context; elu + 1: the head dimension's features`,
      optimizer: "AdamW (0.9, 0.99), weight decay 0.01 on matrices, gradient clipping at norm 1",
      "time per step": "wall clock over the training, divided by its steps, compilation included",
      "fit rule": `the comparison answers only when softmax attention fits the task (mean answer accuracy >= ${FIT_ACCURACY})`,
      "trained on": devices,
    },
    tables: [
      {
        caption: `Over ${s.seeds} seeds, mean (min-max): answer-token accuracy and whole answers right on held-out examples, final training loss (last tenth, answers only; chance ln ${s.symbols} = ${Math.log(s.symbols).toFixed(3)}), ms per step`,
        header: ["attention", "answer accuracy", "all answers right", "final train loss", "ms / step"],
        rows,
      },
    ],
    figures: [{ caption: "Mean training loss on the answers over seeds; shaded: min-max.", svg: curves }],
    findings,
    data: { settings: s, runs },
  };
}
