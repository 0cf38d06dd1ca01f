/**
 * `posenc lab stability`: does relative positional encoding make kernelized
 * attention train stably? Luo et al. report that linear attention with
 * positive random features (PRF) diverges or trains poorly where the same
 * model with RPE (and with queries and keys normalised) trains smoothly. The
 * experiment trains the same small character-level LM on the shipped corpus
 * (Shakespeare's sonnets) with each attention variant, over several seeds, at
 * each of a sweep of learning rates up to ones that break training, without
 * gradient clipping (clipping hides instability), and records every loss.
 * The answer is each variant's frontier: the fraction of its runs that
 * diverge at each learning rate, and the largest rate at which none does.
 *
 * A run counts as diverged when its loss becomes non-finite, or when the
 * mean loss of its last tenth of steps is more than `DIVERGENCE_RATIO` times
 * the lowest mean loss over any earlier window of that size (it blew up and
 * did not recover). A run spiked when some loss exceeded `DIVERGENCE_RATIO`
 * times the lowest loss before it (`largestSpike`), recovered or not.
 *
 * With an output directory every finished training is saved in
 * `<out>/stability-runs` (src/lab/savedRuns.ts); `resume` keeps those whose
 * settings match, so that the sweep can be split over several commands
 * (`--variants`, `--seeds`) or processes sharing one GPU.
 *
 * Reference: Luo et al., "Stable, Fast and Accurate: Kernelized Attention
 * with Relative Positional Encoding" (NeurIPS 2021), https://arxiv.org/abs/2106.12566, section 3.3.
 */
import { type JsTree, jit, type numpy as np, tree } from "@jax-js/jax";
import { describe, fail, integer, positive } from "../core/validate.js";
import type { KernelizedLayerConfig } from "../nn/kernelizedLayer.js";
import { type LMParams, lmLoss } from "../nn/lm.js";
import type { PEConfig } from "../nn/positional.js";
import { runtime } from "../runtime/init.js";
import { sonnets, textBatch, unigramLoss } from "../train/data/text.js";
import { toBatch } from "../train/trainStep.js";
import type { ReportMeta } from "./experiment.js";
import { LAB_ADAMW, type LabLMSweep, labLM, trainLM } from "./lmRun.js";
import type { UnitPool } from "./pool.js";
import type { ProgressSink } from "./progress.js";
import type { LabReport } from "./report.js";
import { runSavedUnits } from "./savedRuns.js";
import { mean } from "./stats.js";
import { lineChart } from "./svg.js";

/** A run whose late loss exceeds its best windowed loss by this factor has diverged. */
export const DIVERGENCE_RATIO = 1.5;

interface StabilityVariant {
  label: string;
  pe: PEConfig;
  /** The kernelized attention; its feature count is the settings' `features`. */
  kernel?: Omit<KernelizedLayerConfig, "seed" | "features">;
}

const PRF = { featureMap: "prf" } as const;

export const STABILITY_VARIANTS: Record<string, StabilityVariant> = {
  softmax: { label: "softmax + RoPE", pe: { type: "rotary", pairing: "halves", base: 10000 } },
  kernelized: { label: "kernelized (PRF)", pe: { type: "none" }, kernel: { ...PRF, rpe: null, qkNorm: "none" } },
  "kernelized-rpe": { label: "kernelized + RPE", pe: { type: "none" }, kernel: { ...PRF, rpe: { maxDistance: 64 }, qkNorm: "none" } },
  "kernelized-norm": { label: "kernelized + qk-norm", pe: { type: "none" }, kernel: { ...PRF, rpe: null, qkNorm: "l2" } },
  "kernelized-rpe-norm": {
    label: "kernelized + RPE + qk-norm",
    pe: { type: "none" },
    kernel: { ...PRF, rpe: { maxDistance: 64 }, qkNorm: "l2" },
  },
};

export interface StabilitySettings extends LabLMSweep {
  /** Context length T. */
  length: number;
  /** Peak learning rates, increasing: every variant and seed trains at each. */
  lrs: number[];
}

export const STABILITY_PRESETS: Record<"tiny" | "quick" | "full", StabilitySettings> = {
  tiny: {
    variants: ["softmax", "kernelized", "kernelized-rpe-norm"],
    seeds: 2,
    steps: 3,
    batch: 4,
    length: 16,
    lrs: [1e-2, 1e-1],
    features: 32,
    width: 16,
    depth: 1,
    heads: 2,
    evalBatches: 1,
    runs: null,
    resume: false,
  },
  quick: {
    variants: Object.keys(STABILITY_VARIANTS),
    seeds: 5,
    steps: 200,
    batch: 16,
    length: 64,
    lrs: [1e-2, 3e-2, 1e-1],
    features: 32,
    width: 64,
    depth: 2,
    heads: 4,
    evalBatches: 4,
    runs: null,
    resume: false,
  },
  full: {
    variants: Object.keys(STABILITY_VARIANTS),
    seeds: 5,
    steps: 200,
    batch: 32,
    length: 128,
    lrs: [3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1],
    features: 32,
    width: 128,
    depth: 4,
    heads: 8,
    evalBatches: 8,
    runs: null,
    resume: false,
  },
};

export interface StabilityRun {
  variant: string;
  lr: number;
  seed: number;
  losses: number[];
  maxGradNorm: number;
  diverged: boolean;
  /** Validation loss at the end (NaN when diverged to non-finite values). */
  validation: number;
  seconds: number;
  /** Where it was trained (`<device> (<adapter>)`): a report may assemble runs that other commands, on other machines, saved. Absent in runs saved before it was recorded. */
  device?: string;
}

/** Whether a loss curve diverged (see the file comment). */
export function diverged(losses: number[], steps: number): boolean {
  if (losses.length < steps || losses.some((l) => !Number.isFinite(l))) return true;
  const w = Math.max(1, Math.floor(steps / 10));
  const windowMean = (end: number) => losses.slice(end - w, end).reduce((a, b) => a + b, 0) / w;
  let best = Infinity;
  for (let end = w; end <= losses.length - w; end++) best = Math.min(best, windowMean(end));
  return windowMean(losses.length) > DIVERGENCE_RATIO * best;
}

/** The largest loss spike of a curve: max over steps of loss / (lowest earlier loss); 1 for a non-increasing curve, Infinity once non-finite. */
export function largestSpike(losses: number[]): number {
  let best = Infinity;
  let spike = 1;
  for (const l of losses) {
    if (!Number.isFinite(l)) return Infinity;
    if (best < Infinity) spike = Math.max(spike, l / best);
    best = Math.min(best, l);
  }
  return spike;
}

const SETTINGS = Object.keys(STABILITY_PRESETS.quick);

/** Settings with no field of another version (`lr`, now `lrs`) or a typo: checked before anything trains. */
function checkFields(s: StabilitySettings): void {
  const extra = Object.keys(s).find((k) => !SETTINGS.includes(k));
  if (extra !== undefined)
    fail(
      "lab stability",
      `settings have unknown field ${JSON.stringify(extra)}${extra === "lr" ? " (the peak learning rates are lrs, a list)" : ""}; known: ${SETTINGS.join(", ")}`,
    );
  if (!Array.isArray(s.lrs) || s.lrs.length === 0)
    fail("lab stability", `lrs must be a non-empty list of learning rates, got ${describe(s.lrs)}`);
}

export function stabilityWork(s: StabilitySettings): number {
  checkFields(s);
  return s.lrs.length * s.seeds * s.variants.length * (s.steps + 1);
}

/** One training of a run: `variant` at peak learning rate `lr` and `seed`. */
export interface StabilityUnit {
  lr: number;
  seed: number;
  variant: string;
}

/** The run's trainings in the order a sequential run takes them (learning rate, seed, then variant), after checking the settings. */
export function stabilityUnits(s: StabilitySettings): StabilityUnit[] {
  const fn = "lab stability";
  checkFields(s);
  for (const v of s.variants)
    if (!(v in STABILITY_VARIANTS)) fail(fn, `unknown variant ${JSON.stringify(v)}; known: ${Object.keys(STABILITY_VARIANTS).join(", ")}`);
  integer(fn, "features", s.features, 1);
  integer(fn, "depth", s.depth, 1);
  integer(fn, "length", s.length, 1);
  integer(fn, "heads", s.heads, 1);
  if (s.width % s.heads !== 0) fail(fn, `heads (${s.heads}) must divide the width (${s.width})`);
  s.lrs.forEach((lr, i) => {
    positive(fn, `lrs[${i}]`, lr);
    if (i > 0 && lr <= s.lrs[i - 1]) fail(fn, `lrs must increase, got ${s.lrs[i - 1]} then ${lr}`);
  });
  return s.lrs.flatMap((lr) => Array.from({ length: s.seeds }, (_, seed) => s.variants.map((variant) => ({ lr, seed, variant }))).flat());
}

/** Trains one unit's model and measures it; one progress unit per training step and one at the end. Depends only on the settings and the unit. */
export async function runStabilityUnit(
  s: StabilitySettings,
  { lr, seed, variant }: StabilityUnit,
  progress: ProgressSink,
): Promise<StabilityRun> {
  const corpus = sonnets();
  const V = corpus.vocab.length;
  const v = STABILITY_VARIANTS[variant];
  const model = labLM(V, s, { pe: v.pe, kernel: v.kernel && { ...v.kernel, features: s.features, seed: 500 + seed } });
  const trained = await trainLM(
    model,
    (i) => textBatch(corpus.train, V, s.batch, s.length, 200000 * (seed + 1) + i),
    { steps: s.steps, batch: s.batch, lr, clipNorm: null, adamw: LAB_ADAMW, name: `${variant} lr ${lr} seed ${seed}` },
    3000 + seed,
    progress,
  );
  const loss = jit((p: LMParams, b: ReturnType<typeof toBatch>) => lmLoss(p, model, b));
  let validation = 0;
  try {
    for (let b = 0; b < s.evalBatches; b++) {
      const batch = toBatch(textBatch(corpus.validation, V, s.batch, s.length, 9_000_000 + b));
      validation +=
        (await loss(tree.ref(trained.params as unknown as JsTree<np.Array>) as unknown as LMParams, batch).data())[0] / s.evalBatches;
    }
  } finally {
    loss.dispose();
    tree.dispose(trained.params as unknown as JsTree<np.Array>);
  }
  progress.tick(1, `${v.label} lr ${lr} seed ${seed}`);
  return {
    variant,
    lr,
    seed,
    losses: trained.losses,
    maxGradNorm: Math.max(...trained.gradNorms.map((g) => (Number.isFinite(g) ? g : Infinity))),
    diverged: diverged(trained.losses, s.steps),
    validation,
    seconds: trained.seconds,
    device: `${runtime().device} (${runtime().description})`,
  };
}

/** The settings that decide what one training computes (not which trainings a command runs, nor where). */
function runKey(s: StabilitySettings): string {
  const { variants: _v, seeds: _s, lrs: _l, runs: _r, resume: _z, ...key } = s;
  return JSON.stringify(key);
}

const unitFile = (u: StabilityUnit) => `${u.variant}-lr${u.lr}-seed${u.seed}.json`;

/**
 * Runs the experiment: every unit of `stabilityUnits`, in order or through
 * `pool`; the runs in the sequential order either way. With `runs`, each
 * training is saved as it ends, and with `resume` the saved ones are kept.
 */
export async function runStability(s: StabilitySettings, progress: ProgressSink, pool?: UnitPool): Promise<StabilityRun[]> {
  const units = stabilityUnits(s);
  const label = (u: StabilityUnit) => `${STABILITY_VARIANTS[u.variant].label} lr ${u.lr} seed ${u.seed}`;
  return runSavedUnits(
    {
      fn: "lab stability",
      experiment: "stability",
      settings: s,
      units,
      where: s,
      key: runKey(s),
      file: unitFile,
      label,
      work: s.steps + 1,
      run: (u) => runStabilityUnit(s, u, progress),
    },
    progress,
    pool,
  );
}

/** The devices the runs were trained on, with counts (runs saved by other commands may come from other machines). */
function trainedOn(runs: StabilityRun[]): string {
  const counts = new Map<string, number>();
  for (const r of runs) {
    const d = r.device ?? "not recorded (saved before runs recorded their device)";
    counts.set(d, (counts.get(d) ?? 0) + 1);
  }
  return [...counts].map(([d, n]) => `${d}: ${n} run${n === 1 ? "" : "s"}`).join("; ");
}

export function stabilityReport(s: StabilitySettings, runs: StabilityRun[], meta: ReportMeta): LabReport {
  const corpus = sonnets();
  const of = (v: string, lr: number) => runs.filter((r) => r.variant === v && r.lr === lr);
  const divergedOf = (rs: StabilityRun[]) => rs.filter((r) => r.diverged).length;
  const spikedOf = (rs: StabilityRun[]) => rs.filter((r) => largestSpike(r.losses) > DIVERGENCE_RATIO).length;
  const finalLoss = (r: StabilityRun) => mean(r.losses.slice(-Math.max(1, Math.floor(s.steps / 10))));
  // a run that did not diverge but ends at or above the unigram loss learned nothing from the context
  const unigram = unigramLoss(corpus.train);
  const rows = s.variants.flatMap((v) =>
    s.lrs.map((lr) => {
      const rs = of(v, lr);
      const ok = rs.filter((r) => !r.diverged);
      return [
        STABILITY_VARIANTS[v].label,
        lr,
        `${divergedOf(rs)}/${rs.length}`,
        `${spikedOf(rs)}/${rs.length}`,
        `${ok.filter((r) => finalLoss(r) >= unigram).length}/${rs.length}`,
        Number(Math.max(...rs.map((r) => largestSpike(r.losses))).toPrecision(3)),
        ok.length ? Number(mean(ok.map(finalLoss)).toFixed(4)) : "-",
        ok.length ? Number(mean(ok.map((r) => r.validation)).toFixed(4)) : "-",
        Number(Math.max(...rs.map((r) => r.maxGradNorm)).toPrecision(4)),
      ];
    }),
  );
  const frontier = lineChart(
    s.variants.map((v) => ({
      name: STABILITY_VARIANTS[v].label,
      points: s.lrs.map((lr) => ({ x: lr, y: divergedOf(of(v, lr)) / of(v, lr).length })),
    })),
    {
      title: "Runs diverged against the peak learning rate",
      xLabel: "peak learning rate (log scale)",
      yLabel: `fraction of ${s.seeds} seeds diverged`,
      xScale: "log10",
      yRange: [0, 1],
    },
  );
  // mean curve per variant at the largest learning rate, band min-max over seeds; non-finite losses end a curve
  const top = s.lrs[s.lrs.length - 1];
  const stride = Math.max(1, Math.floor(s.steps / 100));
  const curves = lineChart(
    s.variants.map((v) => ({
      name: STABILITY_VARIANTS[v].label,
      points: Array.from({ length: Math.ceil(s.steps / stride) }, (_, k) => {
        const i = k * stride;
        const ls = of(v, top).map((r) => r.losses[i] ?? NaN);
        const finite = ls.every(Number.isFinite);
        return { x: i + 1, y: finite ? mean(ls) : NaN, lo: finite ? Math.min(...ls) : undefined, hi: finite ? Math.max(...ls) : undefined };
      }),
    })),
    { title: `Training loss at peak lr ${top} (character-level LM on the sonnets)`, xLabel: "step", yLabel: "loss (nats per character)" },
  );
  const findings = s.variants.map((v) => {
    const label = STABILITY_VARIANTS[v].label;
    const counts = s.lrs.map((lr) => `${divergedOf(of(v, lr))}/${of(v, lr).length} at ${lr}`).join(", ");
    const firstBad = s.lrs.findIndex((lr) => divergedOf(of(v, lr)) > 0);
    const stable =
      firstBad === -1
        ? `no run diverged up to lr ${top}`
        : firstBad === 0
          ? `runs diverged already at the smallest lr, ${s.lrs[0]}`
          : `no run diverged up to lr ${s.lrs[firstBad - 1]}`;
    const spikes = s.lrs.map((lr) => spikedOf(of(v, lr))).join("/");
    const nothing = s.lrs.map((lr) => of(v, lr).filter((r) => !r.diverged && finalLoss(r) >= unigram).length).join("/");
    return `${label}: diverged ${counts}; ${stable}. Runs with a loss spike above ${DIVERGENCE_RATIO}x their best so far, per lr: ${spikes}; runs that learned nothing (final loss at or above the unigram loss): ${nothing}.`;
  });
  return {
    id: "stability",
    title: "Stability of kernelized attention",
    question:
      "Does relative positional encoding (and query/key normalisation) keep kernelized attention with random features from diverging, as Luo et al. report?",
    command: meta.command,
    device: meta.device,
    date: meta.date,
    seconds: meta.seconds,
    settings: {
      data: `Shakespeare's sonnets, characters (${corpus.vocab.length} symbols, ${corpus.train.length} training / ${corpus.validation.length} validation)`,
      context: s.length,
      "unigram loss": `${unigram.toFixed(3)} nats per character (the character frequencies of the training text: a model that ignores context); "learned nothing": not diverged, final loss at or above it`,
      seeds: s.seeds,
      steps: s.steps,
      batch: s.batch,
      "peak lrs": s.lrs.join(", "),
      model: `${s.depth} layers, width ${s.width}, ${s.heads} heads, GELU MLP 4x, LayerNorm, tied embeddings`,
      "kernelized attention": `${s.features} positive random features (orthogonal, chi norms, fixed per seed); RPE: learned b over offsets -64..64, clipped beyond`,
      optimizer: "AdamW (0.9, 0.99), weight decay 0.01 on matrices, no clipping, warmup 5% + cosine to lr/10",
      divergence: `non-finite loss, or the last tenth's mean loss > ${DIVERGENCE_RATIO}x the best earlier window`,
      "trained on": trainedOn(runs),
    },
    tables: [
      {
        caption: `Runs diverged at each peak learning rate, and mean losses of the runs that did not (over ${s.seeds} seeds; the same seeds, hence the same initialisations and batches, at every lr)`,
        header: [
          "attention",
          "peak lr",
          "diverged",
          `spiked > ${DIVERGENCE_RATIO}x`,
          "learned nothing",
          "largest spike",
          "final train loss",
          "validation loss",
          "max grad norm",
        ],
        rows,
      },
    ],
    figures: [
      { caption: "The frontier: the fraction of seeds whose training diverged, at each peak learning rate.", svg: frontier },
      {
        caption: `Mean training loss over seeds at the largest peak lr, ${top}; shaded: min-max. A curve stops where a run's loss became non-finite.`,
        svg: curves,
      },
    ],
    findings,
    data: { settings: s, runs },
  };
}
