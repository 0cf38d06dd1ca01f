/**
 * The shipped text corpus (`data/sonnets.txt`, Shakespeare's sonnets, public
 * domain) as character-level language-modelling batches: a vocabulary of the
 * corpus's distinct characters (sorted by code point), a split into training
 * text (the first 90%) and validation text (the rest), and seeded random
 * windows of T + 1 characters read as tokens = w[0..T-1], targets = w[1..T].
 *
 * Reference: Karpathy, char-rnn and nanoGPT `shakespeare_char`,
 * https://github.com/karpathy/nanoGPT/tree/master/data/shakespeare_char
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { integer } from "../../core/validate.js";
import { rng } from "../../pe/random.js";
import type { TokenBatch } from "./synthetic.js";

export interface Corpus {
  /** Distinct characters, sorted; a token is an index into it. */
  vocab: string[];
  train: Int32Array;
  validation: Int32Array;
}

/** Fraction of the corpus used for training; the rest validates. */
export const TRAIN_FRACTION = 0.9;

const CORPUS_PATH = fileURLToPath(new URL("../../../data/sonnets.txt", import.meta.url));
let cached: Corpus | undefined;

/** The sonnets, tokenized (read once per process). */
export function sonnets(): Corpus {
  if (cached) return cached;
  const text = readFileSync(CORPUS_PATH, "utf8");
  const vocab = [...new Set(text)].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!);
  const index = new Map(vocab.map((c, i) => [c, i]));
  const ids = Int32Array.from([...text], (c) => index.get(c)!);
  const cut = Math.floor(TRAIN_FRACTION * ids.length);
  cached = { vocab, train: ids.slice(0, cut), validation: ids.slice(cut) };
  return cached;
}

/** `batch` random windows of `length` + 1 tokens from `ids`, from `seed`; every target counts. */
export function textBatch(ids: Int32Array, vocabSize: number, batch: number, length: number, seed: number): TokenBatch {
  const fn = "textBatch";
  integer(fn, "batch", batch, 1);
  integer(fn, "length", length, 1);
  if (ids.length < length + 1) throw new Error(`${fn}: the text (${ids.length} tokens) is shorter than length + 1 = ${length + 1}`);
  const r = rng(integer(fn, "seed", seed, 0));
  const out: TokenBatch = {
    batch,
    length,
    vocabSize,
    tokens: new Int32Array(batch * length),
    targets: new Int32Array(batch * length),
    mask: new Float32Array(batch * length).fill(1),
  };
  for (let b = 0; b < batch; b++) {
    const start = r.below(ids.length - length);
    out.tokens.set(ids.subarray(start, start + length), b * length);
    out.targets.set(ids.subarray(start + 1, start + length + 1), b * length);
  }
  return out;
}
