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
import { fail, integer } from "../../core/validate.js";
import { rng } from "../../pe/random.js";
import { shippedText } from "../../runtime/host.js";
import type { TokenBatch } from "./synthetic.js";

export interface Corpus {
  /** Distinct characters, sorted; a token is an index into it. */
  vocab: string[];
  train: Int32Array;
  validation: Int32Array;
}

/** Fraction of the corpus used for training; the rest validates. */
export const TRAIN_FRACTION = 0.9;

let cached: Corpus | undefined;

/** The sonnets, tokenized (Node: read once per process from the package's data/). */
export function sonnets(): Corpus {
  cached ??= corpus(shippedText("sonnets", "sonnets.txt"));
  return cached;
}

/**
 * The sonnets from a URL, as a browser loads them (data/sonnets.txt served
 * as an asset; a bundler's `new URL("posenc/data/sonnets.txt", import.meta.url)`).
 */
export async function loadSonnets(url: string | URL): Promise<Corpus> {
  const fn = "loadSonnets";
  if (typeof url !== "string" && !(url instanceof URL)) fail(fn, `url must be a string or a URL, got ${typeof url}`);
  let response: Response;
  try {
    response = await fetch(url);
  } catch (e) {
    return fail(fn, `cannot fetch ${String(url)} (${(e as Error).message})`);
  }
  if (!response.ok) fail(fn, `fetching ${String(url)} answered ${response.status} ${response.statusText}`);
  return corpus(await response.text());
}

/** A text as a character-level corpus: its sorted distinct characters, and the first TRAIN_FRACTION of it for training. */
export function corpus(text: string): Corpus {
  if (typeof text !== "string") fail("corpus", `text must be a string, got ${typeof text}`);
  const vocab = [...new Set(text)].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!);
  if (vocab.length < 2) fail("corpus", `text must hold at least two distinct characters, got ${vocab.length}`);
  const index = new Map(vocab.map((c, i) => [c, i]));
  const ids = Int32Array.from([...text], (c) => index.get(c)!);
  const cut = Math.floor(TRAIN_FRACTION * ids.length);
  return { vocab, train: ids.slice(0, cut), validation: ids.slice(cut) };
}

/**
 * The loss of a model that ignores context: the entropy, in nats per token,
 * of the token frequencies of `ids`, -sum_c p_c ln p_c. A language model
 * trained on `ids` that ends above it has learned less than the character
 * counts.
 */
export function unigramLoss(ids: Int32Array): number {
  if (!(ids instanceof Int32Array) || ids.length === 0) fail("unigramLoss", "ids must be a non-empty Int32Array");
  const counts = new Map<number, number>();
  for (const t of ids) counts.set(t, (counts.get(t) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) h -= (n / ids.length) * Math.log(n / ids.length);
  return h;
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
