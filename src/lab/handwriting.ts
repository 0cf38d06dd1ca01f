/**
 * `posenc lab handwriting`: WriteViT's one-shot handwriting generation on
 * synthetic Hershey writers, and the ablation its design rests on: the
 * conditional positional encoding (PEG) of its ViT stages against a fixed
 * 2-D sincos table and against no position at all.
 *
 * For each variant and seed: the four networks (src/nn/writeVit.ts) train
 * adversarially on the training writers (src/train/writeVitStep.ts), the
 * critics first alone for `criticWarmup` iterations; the generator's steps
 * use WriteViT's losses and, where `reconstruction` > 0, a paired L1 term to
 * the same writer's rendering of the generated text (WriteViT has none: see
 * the step's notes; the report says which was used). Then, on held-out
 * writers never seen in training, one word image of each writer is the
 * style reference and held-out words (texts never generated in training)
 * are the targets. Judges trained on real images only
 * (src/lab/handwritingJudges.ts) measure:
 * - legibility: character error rate (CER) of the generated words as read
 *   by the frozen recognizer;
 * - style: accuracy of the frozen writer classifier (trained on the
 *   held-out writers' real images of other words) on the generated words,
 *   and a Fréchet distance on its pooled features between real renderings
 *   of the same (writer, word) pairs and the generated ones (FID-like, not
 *   FID: the features are this classifier's, not Inception's);
 * with the same numbers for real words (what the judges can do at best)
 * and for the untrained generator (where training starts).
 *
 * With an output directory, the judges and every finished training are
 * saved in `<out>/handwriting-runs` as they end; `resume` keeps those whose
 * settings match, so that a run longer than one command can be split into
 * several (`--variants` picks what a command trains). The judges depend only
 * on the model's sizes, the writers and their own settings, and are kept
 * across runs that differ in how the generator trains.
 *
 * Reference: Nam et al., "WriteViT: Handwritten Text Generation with Vision
 * Transformer" (2025), https://github.com/hnam-1765/WriteViT; Chu et al.,
 * CPVT, https://arxiv.org/abs/2102.10882
 */
import { type JsTree, jit, numpy as np, tree } from "@jax-js/jax";
import { base64, encodeGrayPng } from "../core/grayPng.js";
import { fail } from "../core/validate.js";
import { STAGE_PES, type StagePE } from "../nn/vitStage.js";
import { initWriteVit, type WriteVitConfig, type WriteVitParams, wordWidth, writerConfig, writeWords } from "../nn/writeVit.js";
import { rng } from "../pe/random.js";
import { pathIn } from "../runtime/host.js";
import { loadCheckpoint, saveCheckpoint } from "../train/checkpoint.js";
import {
  HANDWRITING_ALPHABET,
  handwritingBatch,
  handwritingWordSplit,
  renderWord,
  writerIds,
  writerStyle,
} from "../train/data/handwriting.js";
import { generatorNoise, textGlyphs, writeVitBatch } from "../train/writeVitBatch.js";
import { initWriteVitTraining, makeWriteVitSteps, type WriteVitTrainState } from "../train/writeVitStep.js";
import type { ReportMeta } from "./experiment.js";
import { disposeJudges, type Judges, judge, judgesOf, trainJudges, type Verdict } from "./handwritingJudges.js";
import { characterErrorRate, frechetDistance } from "./handwritingMetrics.js";
import type { ProgressSink } from "./progress.js";
import type { LabReport } from "./report.js";
import { type ResumableSettings, readSaved, writeSaved } from "./savedRuns.js";
import { mean } from "./stats.js";
import { lineChart } from "./svg.js";
import { checkWordSupervision, trainRecognizer, trainWriterIdentifier, type WordSupervision } from "./wordSupervision.js";

export interface HandwritingSettings extends ResumableSettings {
  variants: string[];
  seeds: number;
  /** Adversarial iterations (a critic step each, a generator step every `generatorEvery`-th). */
  steps: number;
  /** Critic-only iterations before the first generator step. */
  criticWarmup: number;
  generatorEvery: number;
  batch: number;
  lr: number;
  /** alpha_L of the paired reconstruction term (0: WriteViT's losses only). */
  reconstruction: number;
  /** The networks' sizes; maxChars and the variant's pe are set per run. */
  model: Omit<WriteVitConfig, "pe" | "characters" | "writers">;
  /** First k of the training writers and of the held-out writers. */
  trainWriters: number;
  heldOutWriters: number;
  /** Held-out target words generated per held-out writer. */
  wordsPerWriter: number;
  judges: WordSupervision;
  /**
   * Supervised pretraining of the model's own recognizer and writer
   * identifier on the training writers' real words before its first
   * iteration (steps 0: none, as in WriteViT).
   */
  pretrain: WordSupervision;
  /** Losses are read every k iterations. */
  readEvery: number;
  /** Directory for the checkpoint of the first seed of "peg" (`posenc handwrite`), or null. */
  checkpoint: string | null;
}

const FN = "lab handwriting";

const LABEL: Record<StagePE, string> = { peg: "PEG (CPE, WriteViT)", sincos2d: "2-D sincos", none: "no position" };

export const HANDWRITING_VARIANTS: string[] = [...STAGE_PES];

const small = { width: 64, heads: 2, decoderDepth: 2, stageDepth: 2, discriminatorWidth: 16 };

export const HANDWRITING_PRESETS: Record<"tiny" | "quick" | "full", HandwritingSettings> = {
  tiny: {
    variants: HANDWRITING_VARIANTS,
    seeds: 1,
    steps: 2,
    criticWarmup: 1,
    generatorEvery: 2,
    batch: 2,
    lr: 2e-4,
    reconstruction: 4,
    model: { maxChars: 3, width: 32, heads: 2, decoderDepth: 1, stageDepth: 1, discriminatorWidth: 4 },
    trainWriters: 4,
    heldOutWriters: 3,
    wordsPerWriter: 1,
    judges: { steps: 2, batch: 2, lr: 1e-3 },
    pretrain: { steps: 2, batch: 2, lr: 1e-3 },
    readEvery: 1,
    checkpoint: null,
    runs: null,
    resume: false,
  },
  quick: {
    variants: HANDWRITING_VARIANTS,
    seeds: 1,
    steps: 60,
    criticWarmup: 40,
    generatorEvery: 2,
    batch: 8,
    lr: 3e-4,
    reconstruction: 4,
    model: { ...small, maxChars: 4, width: 32 },
    trainWriters: 200,
    heldOutWriters: 20,
    wordsPerWriter: 4,
    judges: { steps: 300, batch: 16, lr: 1e-3 },
    pretrain: { steps: 300, batch: 16, lr: 1e-3 },
    readEvery: 5,
    checkpoint: null,
    runs: null,
    resume: false,
  },
  full: {
    variants: HANDWRITING_VARIANTS,
    seeds: 1,
    steps: 1200,
    criticWarmup: 100,
    generatorEvery: 2,
    batch: 8,
    lr: 3e-4,
    reconstruction: 4,
    model: { ...small, maxChars: 4, width: 32, stageDepth: 1 },
    trainWriters: 200,
    heldOutWriters: 40,
    wordsPerWriter: 4,
    judges: { steps: 1500, batch: 16, lr: 1e-3 },
    pretrain: { steps: 1500, batch: 16, lr: 1e-3 },
    readEvery: 20,
    checkpoint: null,
    runs: null,
    resume: false,
  },
};

/**
 * Whether a trained generator writes legibly: its CER is at most halfway
 * from its untrained generator's CER to the real words' (what the frozen
 * recognizer reads at best). A variant that does not is not ranked; nor is
 * any where the recognizer reads real words no better than untrained output.
 */
export function legible(trained: number, untrained: number, real: number): boolean {
  return real < untrained && trained <= (untrained + real) / 2;
}

/** Scores of a set of words. */
export interface Scores {
  cer: number;
  writerAccuracy: number;
  frechet: number;
}

export interface HandwritingRun {
  variant: string;
  seed: number;
  untrained: Scores;
  trained: Scores;
  /** [iteration, critic losses (D, R, W), generator losses (adv, R, W) or null] every readEvery iterations. */
  losses: Array<[number, number[], number[] | null]>;
  msPerIteration: number;
}

export interface HandwritingResult {
  real: Scores;
  judges: { recognizer: number; writer: number };
  runs: HandwritingRun[];
  /** Sample sheet: PNG (base64) of style references, real targets and each variant's first seed. */
  sheet: string;
  sheetRows: { writer: number; style: string; text: string }[];
  /** Mean |blank page - real| over the evaluation set's real words: the reconstruction error of writing nothing. */
  blankL1: number;
}

export function handwritingWork(s: HandwritingSettings): number {
  checkSupervision(s);
  return 2 * s.judges.steps + s.variants.length * s.seeds * perTraining(s);
}

/** The judges' and the pretraining's settings, checked before anything trains. */
function checkSupervision(s: HandwritingSettings): void {
  checkWordSupervision(FN, "judges", s.judges);
  checkWordSupervision(FN, "pretrain", s.pretrain);
}

/** Work units of one training: its pretraining, its iterations and its two evaluations. */
function perTraining(s: HandwritingSettings): number {
  return 2 * s.pretrain.steps + s.criticWarmup + s.steps + 2;
}

function modelConfig(s: HandwritingSettings, pe: StagePE): WriteVitConfig {
  return { ...s.model, characters: HANDWRITING_ALPHABET.length, writers: s.trainWriters, pe };
}

/** The held-out evaluation set: per writer one style reference (a training word) and `wordsPerWriter` held-out words. */
interface EvalSet {
  count: number;
  writers: Int32Array;
  texts: string[];
  styles: Float32Array;
  real: Float32Array;
  /** Second renderings of the same words (real-vs-real Fréchet distance). */
  again: Float32Array;
  sheetRows: { writer: number; style: string; text: string }[];
}

function evalSet(s: HandwritingSettings, held: number[], words: { train: string[]; heldOut: string[] }): EvalSet {
  const W = wordWidth(modelConfig(s, "peg"));
  const per = 32 * W;
  const N = held.length * s.wordsPerWriter;
  const r = rng(4242);
  const set: EvalSet = {
    count: N,
    writers: new Int32Array(N),
    texts: [],
    styles: new Float32Array(N * per),
    real: new Float32Array(N * per),
    again: new Float32Array(N * per),
    sheetRows: [],
  };
  const pixels = (ink: Float32Array) => Float32Array.from(ink, (v) => 1 - 2 * v);
  held.forEach((w, j) => {
    const style = writerStyle(w);
    const ref = words.train[r.below(words.train.length)];
    const refImage = pixels(renderWord(ref, style, r, W));
    for (let k = 0; k < s.wordsPerWriter; k++) {
      const i = j * s.wordsPerWriter + k;
      const text = words.heldOut[r.below(words.heldOut.length)];
      set.writers[i] = j;
      set.texts.push(text);
      set.styles.set(refImage, i * per);
      set.real.set(pixels(renderWord(text, style, r, W)), i * per);
      set.again.set(pixels(renderWord(text, style, r, W)), i * per);
      if (k === 0 && set.sheetRows.length < 6) set.sheetRows.push({ writer: w, style: ref, text });
    }
  });
  return set;
}

function scores(v: Verdict, set: EvalSet, realFeatures: Float64Array, C: number): Scores {
  return {
    cer: characterErrorRate(v.read, set.texts),
    writerAccuracy: mean(Array.from(v.writer, (w, i) => (w === set.writers[i] ? 1 : 0))),
    frechet: frechetDistance(realFeatures, set.count, v.features, set.count, C),
  };
}

/** Generates the evaluation set's words with a model. Borrows the parameters; returns host pixels (N, 32, W). */
async function generateSet(p: WriteVitParams, config: WriteVitConfig, set: EvalSet, chunk: number, seed: number): Promise<Float32Array> {
  const W = wordWidth(config);
  const per = 32 * W;
  const out = new Float32Array(set.count * per);
  const r = rng(seed);
  const write = jit((pp: WriteVitParams, refs: np.Array, glyphs: np.Array, noise: np.Array) => writeWords(pp, config, refs, glyphs, noise));
  for (let b = 0; b < set.count; b += chunk) {
    const n = Math.min(chunk, set.count - b);
    const refs = np.array(set.styles.subarray(b * per, (b + n) * per)).reshape([n, 32, W, 1]);
    const images = write(
      tree.ref({ generator: p.generator, writer: p.writer } as unknown as JsTree<np.Array>) as never,
      refs,
      textGlyphs(config, set.texts.slice(b, b + n)),
      generatorNoise(config, n, r),
    );
    out.set(await images.data(), b * per);
  }
  write.dispose();
  return out;
}

/** The settings that decide what a training computes (not which trainings a command runs, nor where). */
function runKey(s: HandwritingSettings): string {
  const { variants: _v, seeds: _s, checkpoint: _c, runs: _r, resume: _z, ...key } = s;
  return JSON.stringify(key);
}

/** The settings that decide what the judges compute: runs that differ only in how the generator trains share them. */
function judgesKey(s: HandwritingSettings): string {
  return JSON.stringify({ model: s.model, trainWriters: s.trainWriters, heldOutWriters: s.heldOutWriters, judges: s.judges });
}

/** A finished training as `<runs>/<variant>-seed<k>.json` holds it. */
interface SavedRun {
  key: string;
  run: HandwritingRun;
  /** The sample sheet's generated words (its rows' targets), first seed only. */
  sheet: number[] | null;
}

async function loadJudges(s: HandwritingSettings): Promise<Judges | null> {
  const saved = await readSaved<{ key: string; finalLoss: Judges["finalLoss"] }>(FN, s, "judges.json", judgesKey(s));
  if (!saved || !s.runs) return null;
  const { params } = await loadCheckpoint<Pick<Judges, "recognizer" | "writer">>(pathIn(s.runs, "judges"));
  return judgesOf(modelConfig(s, "peg"), s.heldOutWriters, params, saved.finalLoss);
}

export async function runHandwriting(s: HandwritingSettings, progress: ProgressSink): Promise<HandwritingResult> {
  checkSupervision(s);
  for (const v of s.variants)
    if (!HANDWRITING_VARIANTS.includes(v)) fail(FN, `unknown variant ${JSON.stringify(v)}; known: ${HANDWRITING_VARIANTS.join(", ")}`);
  const base = modelConfig(s, "peg");
  const W = wordWidth(base);
  const per = 32 * W;
  const words = handwritingWordSplit(base.maxChars);
  const trainWriters = writerIds("train").slice(0, s.trainWriters);
  const held = writerIds("heldOut").slice(0, s.heldOutWriters);
  const key = runKey(s);
  let judges = await loadJudges(s);
  if (judges) progress.tick(2 * s.judges.steps, "judges: kept from the earlier run");
  else {
    judges = await trainJudges(
      base,
      s.judges,
      { trainWriters, heldOutWriters: held, words: [...words.train, ...words.heldOut], writerWords: words.train },
      progress,
    );
    if (s.runs) {
      await saveCheckpoint(pathIn(s.runs, "judges"), { recognizer: judges.recognizer, writer: judges.writer }, { judges: s.judges });
      await writeSaved(FN, s, "judges.json", { key: judgesKey(s), finalLoss: judges.finalLoss });
    }
  }
  const set = evalSet(s, held, words);
  const realVerdict = await judge(judges, set.real, set.count, s.batch);
  const again = await judge(judges, set.again, set.count, s.batch);
  const real = scores(realVerdict, set, again.features, base.width);
  const sheetIndices = set.sheetRows.map((_, row) => row * s.wordsPerWriter);

  const runs: HandwritingRun[] = [];
  const sheetImages = new Map<string, Float32Array>();
  for (const variant of s.variants) {
    for (let seed = 0; seed < s.seeds; seed++) {
      const file = `${variant}-seed${seed}.json`;
      const saved = await readSaved<SavedRun>(FN, s, file, key);
      if (saved) {
        runs.push(saved.run);
        if (saved.sheet) sheetImages.set(variant, Float32Array.from(saved.sheet));
        progress.tick(perTraining(s), `${LABEL[variant as StagePE]} seed ${seed}: kept from the earlier run`);
        continue;
      }
      const config = modelConfig(s, variant as StagePE);
      const params = initWriteVit(config, 100 + seed);
      const evaluate = async (p: WriteVitParams) => {
        const images = await generateSet(p, config, set, s.batch, 7000 + seed);
        return { images, scores: scores(await judge(judges, images, set.count, s.batch), set, realVerdict.features, base.width) };
      };
      const untrained = (await evaluate(params)).scores;
      progress.tick(1, `${LABEL[variant as StagePE]} seed ${seed}: untrained`);
      if (s.pretrain.steps > 0) {
        const name = `${LABEL[variant as StagePE]} seed ${seed}: pretraining`;
        const source = (first: number) => ({ writers: trainWriters, words: words.train, seed: first + 10_000_000 * seed });
        const wc = writerConfig(config);
        params.recognizer = (
          await trainRecognizer(params.recognizer, config, s.pretrain, source(20_000_000), progress, `${name} recognizer`)
        ).params;
        params.writer = (
          await trainWriterIdentifier(params.writer, wc, config, s.pretrain, source(25_000_000), progress, `${name} writer identifier`)
        ).params;
      }
      let state: WriteVitTrainState = initWriteVitTraining(params, 200 + seed);
      const steps = makeWriteVitSteps(config, { reconstruction: s.reconstruction });
      const r = rng(300 + seed);
      const losses: HandwritingRun["losses"] = [];
      const t0 = performance.now();
      const total = s.criticWarmup + s.steps;
      for (let i = 0; i < total; i++) {
        await progress.gate?.();
        const batchOf = (k: number) =>
          writeVitBatch(
            config,
            handwritingBatch({ writers: trainWriters, words: words.train, batch: s.batch, width: W, seed: 1_000_000 * (seed + 1) + k }),
            r,
          );
        const adversarial = i >= s.criticWarmup;
        let generatorLosses: number[] | null = null;
        if (adversarial && (i - s.criticWarmup) % s.generatorEvery === 0) {
          const g = steps.generator(state, batchOf(2 * i + 1), s.lr);
          state = g.state;
          const ls = [g.losses.adversarial, g.losses.recognizer, g.losses.writer, g.losses.reconstruction];
          if (i % s.readEvery === 0) generatorLosses = await Promise.all(ls.map(async (a) => (await a.data())[0]));
          else for (const a of ls) a.dispose();
        }
        const c = steps.critic(state, batchOf(2 * i), s.lr);
        state = c.state;
        const ls = [c.losses.discriminator, c.losses.recognizer, c.losses.writer];
        // one loss is read every iteration: an engine that runs ahead of its queue holds every pending step's buffers
        const read = i % s.readEvery === 0 || i === total - 1 ? ls : ls.slice(0, 1);
        const values = await Promise.all(read.map(async (a) => (await a.data())[0]));
        for (const a of ls.slice(read.length)) a.dispose();
        if (read.length === ls.length) losses.push([i, values, generatorLosses]);
        progress.tick(1);
      }
      const msPerIteration = (performance.now() - t0) / Math.max(1, total);
      steps.dispose();
      const final = await evaluate(state.params);
      progress.tick(1, `${LABEL[variant as StagePE]} seed ${seed}: CER ${final.scores.cer.toFixed(3)}`);
      if (seed === 0) sheetImages.set(variant, sheetRowsOf(final.images, sheetIndices, per));
      if (s.checkpoint && variant === "peg" && seed === 0) {
        await saveCheckpoint(
          s.checkpoint,
          { generator: state.params.generator, writer: state.params.writer },
          {
            writeVit: config,
            trainedBy: `posenc lab handwriting: variant peg, seed 0, ${s.criticWarmup} + ${s.steps} iterations, reconstruction ${s.reconstruction}, pretraining ${s.pretrain.steps} steps`,
          },
        );
      }
      tree.dispose(state as unknown as JsTree<np.Array>);
      const run: HandwritingRun = { variant, seed, untrained, trained: final.scores, losses, msPerIteration };
      runs.push(run);
      const sheet = seed === 0 ? Array.from(sheetImages.get(variant) as Float32Array) : null; // float32 values are exact in JSON
      await writeSaved(FN, s, file, { key, run, sheet } satisfies SavedRun);
    }
  }
  disposeJudges(judges);
  progress.done();
  return {
    real,
    judges: judges.finalLoss,
    runs,
    sheet: sampleSheet(s, set, sheetImages, W),
    sheetRows: set.sheetRows,
    blankL1: mean(Array.from(set.real, (v) => 1 - v)),
  };
}

/** The images at `indices` of N images of `per` pixels, one after the other. */
function sheetRowsOf(images: Float32Array, indices: number[], per: number): Float32Array {
  const out = new Float32Array(indices.length * per);
  indices.forEach((i, k) => out.set(images.subarray(i * per, (i + 1) * per), k * per));
  return out;
}

/** Rows: the first target of each of up to 6 held-out writers; columns: style reference, real target, each variant. */
function sampleSheet(s: HandwritingSettings, set: EvalSet, generated: Map<string, Float32Array>, W: number): string {
  const per = 32 * W;
  const gap = 4;
  const columns = 2 + s.variants.length;
  const rows = set.sheetRows.length;
  const width = columns * W + (columns - 1) * gap;
  const height = rows * 32 + (rows - 1) * gap;
  const data = new Float32Array(width * height).fill(0.85);
  const place = (src: Float32Array, index: number, row: number, col: number) => {
    for (let y = 0; y < 32; y++)
      for (let x = 0; x < W; x++) data[(row * (32 + gap) + y) * width + col * (W + gap) + x] = (src[index * per + y * W + x] + 1) / 2;
  };
  for (let row = 0; row < rows; row++) {
    const i = row * s.wordsPerWriter;
    place(set.styles, i, row, 0);
    place(set.real, i, row, 1);
    s.variants.forEach((v, k) => {
      const g = generated.get(v);
      if (g) place(g, row, row, 2 + k);
    });
  }
  return base64(encodeGrayPng({ data, height, width }));
}

export function handwritingReport(s: HandwritingSettings, res: HandwritingResult, meta: ReportMeta): LabReport {
  const of = (v: string) => res.runs.filter((r) => r.variant === v);
  const spread = (xs: number[], digits: number) =>
    xs.length > 1
      ? `${mean(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}-${Math.max(...xs).toFixed(digits)})`
      : mean(xs).toFixed(digits);
  const row = (name: string, sc: Scores[], ms: number | string) => [
    name,
    spread(
      sc.map((x) => x.cer),
      3,
    ),
    spread(
      sc.map((x) => x.writerAccuracy),
      3,
    ),
    spread(
      sc.map((x) => x.frechet),
      2,
    ),
    ms,
  ];
  const rows = [
    row("real words (judges' best)", [res.real], "-"),
    ...s.variants.map((v) =>
      row(
        `${LABEL[v as StagePE]}, untrained`,
        of(v).map((r) => r.untrained),
        "-",
      ),
    ),
    ...s.variants.map((v) =>
      row(
        LABEL[v as StagePE],
        of(v).map((r) => r.trained),
        Number(mean(of(v).map((r) => r.msPerIteration)).toFixed(0)),
      ),
    ),
  ];
  const chance = 1 / s.heldOutWriters;
  const generatorSeries = (k: number, what: string) =>
    s.variants.map((v) => ({
      name: `${LABEL[v as StagePE]}: ${what}`,
      points: of(v)[0]
        .losses.filter(([, , g]) => g !== null)
        .map(([i, , g]) => ({ x: i, y: (g as number[])[k] })),
    }));
  const cer = (v: string, which: "trained" | "untrained") => mean(of(v).map((r) => r[which].cer));
  const legibleVariants = s.variants.filter((v) => legible(cer(v, "trained"), cer(v, "untrained"), res.real.cer));
  const best = [...legibleVariants].sort((a, b) => cer(a, "trained") - cer(b, "trained"))[0];
  const W = wordWidth(modelConfig(s, "peg"));
  const sheetWidth = (2 + s.variants.length) * W + (1 + s.variants.length) * 4;
  const sheetHeight = res.sheetRows.length * 36 - 4;
  const scale = 3;
  const labels = ["style reference", "real target", ...s.variants.map((v) => LABEL[v as StagePE])];
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${sheetWidth * scale}" height="${sheetHeight * scale + 24}" font-family="sans-serif" font-size="12">
${labels.map((l, k) => `<text x="${k * (W + 4) * scale}" y="14">${l}</text>`).join("\n")}
<image x="0" y="24" width="${sheetWidth * scale}" height="${sheetHeight * scale}" style="image-rendering: pixelated" href="data:image/png;base64,${res.sheet}"/>
</svg>`;
  return {
    id: "handwriting",
    title: "WriteViT one-shot handwriting: PEG vs 2-D sincos vs no position",
    question:
      "Does a WriteViT generator learn to write legible words in the style of an unseen writer from one word image, and does its conditional positional encoding (PEG) beat a fixed 2-D sincos table or no position in its ViT stages?",
    command: meta.command,
    device: meta.device,
    date: meta.date,
    seconds: meta.seconds,
    settings: {
      data: `synthetic Hershey writers (data/hershey.json): ${s.trainWriters} training writers, ${s.heldOutWriters} held-out writers x ${s.wordsPerWriter} held-out words; words of up to ${s.model.maxChars} letters from the sonnets, every 10th held out`,
      model: `width ${s.model.width}, ${s.model.heads} heads, ${s.model.decoderDepth} decoder blocks, ${s.model.stageDepth} blocks per ViT stage, discriminator width ${s.model.discriminatorWidth}; images 32 x ${W}`,
      training: `${s.criticWarmup} critic-only iterations, then ${s.steps} adversarial ones (generator every ${s.generatorEvery}), batch ${s.batch}, Adam (0, 0.999) lr ${s.lr}; ${
        s.reconstruction > 0
          ? `WriteViT's losses plus a paired L1 reconstruction term (alpha ${s.reconstruction}, balanced as the auxiliary losses; not in WriteViT)`
          : "WriteViT's losses only"
      }; ${
        s.pretrain.steps > 0
          ? `its recognizer and writer identifier pretrained first on the training writers' real words, ${s.pretrain.steps} steps each, batch ${s.pretrain.batch}, lr ${s.pretrain.lr} (not in WriteViT)`
          : "no pretraining (as in WriteViT)"
      }`,
      judges: `recognizer and writer classifier, ${s.judges.steps} steps each, batch ${s.judges.batch}, lr ${s.judges.lr}, real images only (final losses ${res.judges.recognizer.toFixed(3)} and ${res.judges.writer.toFixed(3)})`,
      seeds: s.seeds,
      "writer chance": Number(chance.toFixed(3)),
    },
    tables: [
      {
        caption: `Held-out writers and words: CER read by the frozen recognizer, writer-identification accuracy of the frozen classifier (chance ${chance.toFixed(3)}), Fréchet distance on its features (FID-like, not FID), mean${s.seeds > 1 ? " (min-max)" : ""} over ${s.seeds} seed${s.seeds > 1 ? "s" : ""}`,
        header: ["words", "CER", "writer accuracy", "Fréchet (FID-like)", "ms/iteration"],
        rows,
      },
    ],
    figures: [
      {
        caption:
          "Sample sheet, first seed: for held-out writers, the style reference (one word), the real rendering of a held-out target word, and each variant's generated word.",
        svg,
      },
      {
        caption: "CTC loss of the training recognizer on generated words during training (first seed).",
        svg: lineChart(generatorSeries(1, "recognizer CTC on generated words"), {
          title: "Recognizer loss on generated words",
          xLabel: "iteration",
          yLabel: "CTC",
        }),
      },
      {
        caption: `Mean |generated - real| of the generated words against the same writer's rendering of the text (first seed)${s.reconstruction > 0 ? "; in the generator's loss" : "; measured only, not in the loss"}.`,
        svg: lineChart(
          [
            ...generatorSeries(3, "L1 to the real rendering"),
            {
              name: "a blank page (writing nothing)",
              points: [0, s.criticWarmup + s.steps].map((x) => ({ x, y: res.blankL1 })),
            },
          ],
          {
            title: "Reconstruction error",
            xLabel: "iteration",
            yLabel: "mean |x - real|",
          },
        ),
      },
    ],
    findings: [
      best === undefined
        ? `No variant writes legibly (its CER at most halfway from its untrained generator's to real words' ${res.real.cer.toFixed(3)}): ${s.variants.map((v) => `${LABEL[v as StagePE]} ${cer(v, "trained").toFixed(3)} (untrained ${cer(v, "untrained").toFixed(3)})`).join(", ")}. The question is not answered at this budget, and no variant is ranked.`
        : `Lowest CER after training among the variants that write legibly (${legibleVariants.map((v) => LABEL[v as StagePE]).join(", ")}): ${LABEL[best as StagePE]} (${cer(best, "trained").toFixed(3)}; untrained ${cer(best, "untrained").toFixed(3)}, real words ${res.real.cer.toFixed(3)}).`,
      ...s.variants.map(
        (v) =>
          `${LABEL[v as StagePE]}: writer accuracy ${mean(of(v).map((r) => r.trained.writerAccuracy)).toFixed(3)} (chance ${chance.toFixed(3)}, real words ${res.real.writerAccuracy.toFixed(3)}).`,
      ),
    ],
    data: { settings: s, ...res },
  };
}
