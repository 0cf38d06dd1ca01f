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
 * Both train as src/lab/wordSupervision.ts does, on batches drawn from
 * seeds of their own.
 */
import { type JsTree, jit, numpy as np, tree } from "@jax-js/jax";
import { initRecognizer, type RecognizerParams, recognize } from "../nn/recognizer.js";
import { identifyWriter, initWriterIdentifier, type WriterIdentifierConfig, type WriterIdentifierParams } from "../nn/writerIdentifier.js";
import { recognizerConfig, type WriteVitConfig, wordWidth, writerConfig } from "../nn/writeVit.js";
import { rng } from "../pe/random.js";
import { decodeLabels } from "../train/data/handwriting.js";
import { greedyDecode } from "./handwritingMetrics.js";
import type { ProgressSink } from "./progress.js";
import { trainRecognizer, trainWriterIdentifier, type WordSupervision } from "./wordSupervision.js";

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
  s: WordSupervision,
  data: { trainWriters: number[]; heldOutWriters: number[]; words: string[]; writerWords: string[] },
  progress: ProgressSink,
): Promise<Judges> {
  const wc = judgeWriterConfig(config, data.heldOutWriters.length);
  const read = await trainRecognizer(
    initRecognizer(rng(9001), recognizerConfig(config)),
    config,
    s,
    { writers: data.trainWriters, words: data.words, seed: 500_000 },
    progress,
    "judges: recognizer",
  );
  const who = await trainWriterIdentifier(
    initWriterIdentifier(rng(9002), wc),
    wc,
    config,
    s,
    { writers: data.heldOutWriters, words: data.writerWords, seed: 600_000 },
    progress,
    "judges: writer classifier",
  );
  return judgesOf(
    config,
    data.heldOutWriters.length,
    { recognizer: read.params, writer: who.params },
    { recognizer: lastTenth(read.losses), writer: lastTenth(who.losses) },
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
