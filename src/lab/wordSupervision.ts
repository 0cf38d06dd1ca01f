/**
 * Supervised training on real word images alone, of WriteViT's recognizer
 * (CTC on the word's text) and of its writer identifier (cross-entropy on
 * the writer), with AdamW (0.9, 0.999), no weight decay, clip 1 and a
 * constant learning rate, on batches `handwritingBatch` draws from seeds
 * `seed`, `seed + 1`, ... Used by the lab's frozen judges and to pretrain a
 * WriteViT's own recognizer and writer identifier before its adversarial
 * phase (the generator's legibility and style signals are those networks'
 * gradients, which carry nothing while they cannot read or tell writers
 * apart).
 */
import { type JsTree, numpy as np, tree } from "@jax-js/jax";
import { fail, integer, knownFields, positive, record } from "../core/validate.js";
import { classificationLoss } from "../nn/classifier.js";
import { type RecognizerParams, recognize } from "../nn/recognizer.js";
import { identifyWriter, type WriterIdentifierConfig, type WriterIdentifierParams } from "../nn/writerIdentifier.js";
import { recognizerConfig, type WriteVitConfig, wordWidth } from "../nn/writeVit.js";
import { type AdamWConfig, initAdamW } from "../train/adamw.js";
import type { CtcTargets } from "../train/ctc.js";
import { handwritingBatch } from "../train/data/handwriting.js";
import { makeStep } from "../train/trainStep.js";
import { textTargets, wordPixels } from "../train/writeVitBatch.js";
import { recognitionLoss } from "../train/writeVitStep.js";
import type { ProgressSink } from "./progress.js";

const ADAM: AdamWConfig = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decay: "all" };

export interface WordSupervision {
  steps: number;
  batch: number;
  lr: number;
}

/** Where the words come from: writer ids (labels are indices into this list), words, the first batch seed. */
export interface WordSource {
  writers: readonly number[];
  words: readonly string[];
  seed: number;
}

/** Checks supervision settings named `field` (a caller's name for them, e.g. "pretrain"). */
export function checkWordSupervision(fn: string, field: string, s: WordSupervision): void {
  record(fn, field, s, "{ steps, batch, lr }");
  knownFields(fn, field, s, ["steps", "batch", "lr"]);
  integer(fn, `${field}.steps`, s.steps, 0);
  integer(fn, `${field}.batch`, s.batch, 1);
  positive(fn, `${field}.lr`, s.lr);
}

function check(fn: string, s: WordSupervision, source: WordSource): void {
  checkWordSupervision(fn, "settings", s);
  record(fn, "source", source, "{ writers, words, seed }");
  knownFields(fn, "source", source, ["writers", "words", "seed"]);
  integer(fn, "source.seed", source.seed, 0);
}

async function train<P, B>(
  params: P,
  loss: (p: P, b: B) => np.Array,
  s: WordSupervision,
  batchAt: (i: number) => B,
  progress: ProgressSink,
  label: string,
): Promise<{ params: P; losses: number[] }> {
  const step = makeStep(loss, { adamw: ADAM, clipNorm: 1 });
  let state = initAdamW(params);
  const losses: number[] = [];
  for (let i = 0; i < s.steps; i++) {
    await progress.gate?.();
    const out = step(params, state, batchAt(i), s.lr);
    ({ params, state } = out);
    losses.push((await out.loss.data())[0]);
    out.gradNorm.dispose();
    progress.tick(1, `${label} step ${i + 1}`);
  }
  step.dispose();
  tree.dispose(state as unknown as JsTree<np.Array>);
  return { params, losses };
}

/** Trains a recognizer (consumed; `recognizerConfig(config)`) to read the source's words with CTC over the model's 2 n columns. */
export async function trainRecognizer(
  params: RecognizerParams,
  config: WriteVitConfig,
  s: WordSupervision,
  source: WordSource,
  progress: ProgressSink,
  label: string,
): Promise<{ params: RecognizerParams; losses: number[] }> {
  check("trainRecognizer", s, source);
  const rc = recognizerConfig(config);
  const width = wordWidth(config);
  type ReadBatch = { images: np.Array; targets: CtcTargets };
  return train<RecognizerParams, ReadBatch>(
    params,
    (p, b) => recognitionLoss(recognize(p, rc, b.images), b.targets),
    s,
    (i) => {
      const hb = handwritingBatch({ writers: source.writers, words: source.words, batch: s.batch, width, seed: source.seed + i });
      return { images: wordPixels(hb.images, s.batch, width), targets: textTargets(config, hb.texts) };
    },
    progress,
    label,
  );
}

/** Trains a writer identifier (consumed) to name the source's writers (class k = source.writers[k]). */
export async function trainWriterIdentifier(
  params: WriterIdentifierParams,
  wc: WriterIdentifierConfig,
  config: WriteVitConfig,
  s: WordSupervision,
  source: WordSource,
  progress: ProgressSink,
  label: string,
): Promise<{ params: WriterIdentifierParams; losses: number[] }> {
  const fn = "trainWriterIdentifier";
  check(fn, s, source);
  if (source.writers.length !== wc.writers)
    fail(fn, `source.writers names ${source.writers.length} writers, but the identifier tells ${wc.writers} apart (wc.writers)`);
  const width = wordWidth(config);
  type WhoBatch = { images: np.Array; labels: np.Array };
  return train<WriterIdentifierParams, WhoBatch>(
    params,
    (p, b) => {
      const o = identifyWriter(p, wc, b.images);
      o.tokens.dispose();
      return classificationLoss(o.logits, b.labels);
    },
    s,
    (i) => {
      const hb = handwritingBatch({ writers: source.writers, words: source.words, batch: s.batch, width, seed: source.seed + i });
      return { images: wordPixels(hb.images, s.batch, width), labels: np.array(hb.writers) };
    },
    progress,
    label,
  );
}
