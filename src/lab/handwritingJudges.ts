/**
 * The frozen judges of `posenc lab handwriting`, trained on real word images
 * only and never on generated ones:
 *
 * - a recognizer (WriteViT's recognizer architecture, CTC) trained on the
 *   training writers' words; it reads generated words for the character
 *   error rate;
 * - a writer classifier (the writer identifier's architecture) trained on
 *   the held-out writers' images of training words; it names the writer of
 *   generated held-out words, and its pooled features (the mean of its
 *   tokens, width C) feed the Fréchet distance.
 *
 * Both train with AdamW (0.9, 0.999), no weight decay, clip 1, a constant
 * learning rate, on batches drawn from seeds of their own.
 */
import { type JsTree, jit, numpy as np, tree } from "@jax-js/jax";
import { classificationLoss } from "../nn/classifier.js";
import { initRecognizer, type RecognizerParams, recognize } from "../nn/recognizer.js";
import { identifyWriter, initWriterIdentifier, type WriterIdentifierConfig, type WriterIdentifierParams } from "../nn/writerIdentifier.js";
import { recognizerConfig, type WriteVitConfig, wordWidth, writerConfig } from "../nn/writeVit.js";
import { rng } from "../pe/random.js";
import { type AdamWConfig, initAdamW } from "../train/adamw.js";
import type { CtcTargets } from "../train/ctc.js";
import { decodeLabels, handwritingBatch } from "../train/data/handwriting.js";
import { makeStep } from "../train/trainStep.js";
import { textTargets, wordPixels } from "../train/writeVitBatch.js";
import { recognitionLoss } from "../train/writeVitStep.js";
import { greedyDecode } from "./handwritingMetrics.js";
import type { ProgressSink } from "./progress.js";

const ADAM: AdamWConfig = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decay: "all" };

export interface JudgeSettings {
  steps: number;
  batch: number;
  lr: number;
}

export interface Judges {
  config: WriteVitConfig;
  recognizer: RecognizerParams;
  writer: WriterIdentifierParams;
  writerConfig: WriterIdentifierConfig;
  /** Training losses at the end: mean of the last tenth of the steps. */
  finalLoss: { recognizer: number; writer: number };
}

const lastTenth = (xs: number[]) => {
  const tail = xs.slice(-Math.max(1, Math.floor(xs.length / 10)));
  return tail.reduce((a, b) => a + b, 0) / tail.length;
};

/** Trains both judges; `words` are every word the recognizer may meet, `writerWords` the words of the writer classifier. */
export async function trainJudges(
  config: WriteVitConfig,
  s: JudgeSettings,
  data: { trainWriters: number[]; heldOutWriters: number[]; words: string[]; writerWords: string[] },
  progress: ProgressSink,
): Promise<Judges> {
  const width = wordWidth(config);
  const rc = recognizerConfig(config);
  const wc = judgeWriterConfig(config, data.heldOutWriters.length);
  const train = { adamw: ADAM, clipNorm: 1 };

  type ReadBatch = { images: np.Array; targets: CtcTargets };
  let recognizer: RecognizerParams = initRecognizer(rng(9001), rc);
  const readStep = makeStep((p: RecognizerParams, b: ReadBatch) => recognitionLoss(recognize(p, rc, b.images), b.targets), train);
  let readState = initAdamW(recognizer);
  const readLosses: number[] = [];
  for (let i = 0; i < s.steps; i++) {
    await progress.gate?.();
    const hb = handwritingBatch({ writers: data.trainWriters, words: data.words, batch: s.batch, width, seed: 500_000 + i });
    const out = readStep(
      recognizer,
      readState,
      { images: wordPixels(hb.images, s.batch, width), targets: textTargets(config, hb.texts) },
      s.lr,
    );
    ({ params: recognizer, state: readState } = out);
    readLosses.push((await out.loss.data())[0]);
    out.gradNorm.dispose();
    progress.tick(1, `judges: recognizer step ${i + 1}`);
  }
  readStep.dispose();
  tree.dispose(readState as unknown as JsTree<np.Array>);

  type WhoBatch = { images: np.Array; labels: np.Array };
  let writer: WriterIdentifierParams = initWriterIdentifier(rng(9002), wc);
  const whoStep = makeStep((p: WriterIdentifierParams, b: WhoBatch) => {
    const o = identifyWriter(p, wc, b.images);
    o.tokens.dispose();
    return classificationLoss(o.logits, b.labels);
  }, train);
  let whoState = initAdamW(writer);
  const whoLosses: number[] = [];
  for (let i = 0; i < s.steps; i++) {
    await progress.gate?.();
    const hb = handwritingBatch({ writers: data.heldOutWriters, words: data.writerWords, batch: s.batch, width, seed: 600_000 + i });
    const out = whoStep(writer, whoState, { images: wordPixels(hb.images, s.batch, width), labels: np.array(hb.writers) }, s.lr);
    ({ params: writer, state: whoState } = out);
    whoLosses.push((await out.loss.data())[0]);
    out.gradNorm.dispose();
    progress.tick(1, `judges: writer classifier step ${i + 1}`);
  }
  whoStep.dispose();
  tree.dispose(whoState as unknown as JsTree<np.Array>);
  return judgesOf(
    config,
    data.heldOutWriters.length,
    { recognizer, writer },
    { recognizer: lastTenth(readLosses), writer: lastTenth(whoLosses) },
  );
}

/** The writer classifier's architecture: the writer identifier with a PEG, over `writers` held-out writers. */
function judgeWriterConfig(config: WriteVitConfig, writers: number): WriterIdentifierConfig {
  return { ...writerConfig(config), pe: "peg", writers };
}

/** Judges from trained parameters (consumed), as `trainJudges` returns them or a checkpoint holds them. */
export function judgesOf(
  config: WriteVitConfig,
  heldOutWriters: number,
  params: Pick<Judges, "recognizer" | "writer">,
  finalLoss: Judges["finalLoss"],
): Judges {
  return { config, ...params, writerConfig: judgeWriterConfig(config, heldOutWriters), finalLoss };
}

/** Frees the judges' parameters. */
export function disposeJudges(j: Judges): void {
  tree.dispose([j.recognizer, j.writer] as unknown as JsTree<np.Array>);
}

/** What the judges make of N images (N, 32, W, 1) in model pixels. */
export interface Verdict {
  /** Texts read by the recognizer. */
  read: string[];
  /** Writer (index into the held-out writers) the classifier names. */
  writer: Int32Array;
  /** (N, C) pooled features of the writer classifier, row-major. */
  features: Float64Array;
}

/** Judges images in chunks of `chunk`. Host pixels (N, 32, W) in [-1, 1]; borrows the judges. */
export async function judge(j: Judges, pixels: Float32Array, count: number, chunk: number): Promise<Verdict> {
  const W = wordWidth(j.config);
  const per = 32 * W;
  const rc = recognizerConfig(j.config);
  const read = jit((p: RecognizerParams, x: np.Array) => recognize(p, rc, x));
  const who = jit((p: WriterIdentifierParams, x: np.Array): JsTree<np.Array> => {
    const o = identifyWriter(p, j.writerConfig, x);
    return [np.argmax(o.logits, 1), np.mean(o.tokens, 1)];
  });
  const out: Verdict = { read: [], writer: new Int32Array(count), features: new Float64Array(count * j.config.width) };
  for (let b = 0; b < count; b += chunk) {
    const n = Math.min(chunk, count - b);
    const x = () => np.array(pixels.subarray(b * per, (b + n) * per)).reshape([n, 32, W, 1]);
    const logits = await read(tree.ref(j.recognizer as unknown as JsTree<np.Array>) as never, x()).data(); // (n, T, V)
    for (const labels of greedyDecode(logits, n, 2 * j.config.maxChars, j.config.characters + 1)) out.read.push(decodeLabels(labels));
    const [cls, feats] = who(tree.ref(j.writer as unknown as JsTree<np.Array>) as never, x()) as unknown as [np.Array, np.Array];
    out.writer.set(await cls.data(), b);
    out.features.set(await feats.data(), b * j.config.width);
  }
  read.dispose();
  who.dispose();
  return out;
}
