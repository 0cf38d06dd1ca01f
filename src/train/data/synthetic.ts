/**
 * Seeded synthetic sequence tasks for length-generalisation experiments, as
 * next-token batches with a loss mask over the answer:
 *
 * every sequence begins with BOS, then
 *
 *   copy:     x_1 .. x_n SEP x_1 .. x_n
 *   reverse:  x_1 .. x_n SEP x_n .. x_1
 *   addition: a_1 .. a_n PLUS b_1 .. b_n EQ s_0 .. s_n     (n-digit operands, zero padded;
 *             the n+1 sum digits most significant first, or reversed when asked)
 *   recall:   k_1 v_1 .. k_m v_m SEP k_q v_q               (distinct keys; the query is one of them;
 *             with `queries` q > 1, q distinct keys in random order, each followed by its value:
 *             multi-query associative recall, Arora et al. 2023, whose answers are every second token)
 *   passkey:  f .. f KEY d_1 .. d_p f .. f SEP d_1 .. d_p   (filler f, the digits hidden at a random place)
 *
 * Each example is one sequence s of length T + 1; the model reads
 * tokens = s[0 .. T-1] and predicts targets = s[1 .. T]; mask[t] = 1 exactly
 * when s[t + 1] belongs to the answer (after SEP or EQ; of multi-query
 * recall, the values).
 *
 * Token ids: 0 PAD, 1 SEP, 2 PLUS, 3 EQ, 4 KEY, 5 FILLER, 6 BOS, then the
 * symbols (digits 0-9 are the symbols 0-9 of addition and passkey). The BOS
 * token gives a model without positional encoding a fixed token to measure
 * its position by (Kazemnejad et al. 2023, Theorem 1: a causal layer that
 * attends evenly to its prefix reads 1/(t+1) off BOS), as decoder LMs have.
 *
 * Reference: Delétang et al. (2023) "Neural Networks and the Chomsky
 * Hierarchy", https://arxiv.org/abs/2207.02098; Kazemnejad et al. (2023)
 * "The Impact of Positional Encoding on Length Generalization in
 * Transformers", https://arxiv.org/abs/2305.19466; Mohtashami & Jaggi (2023)
 * passkey retrieval, https://arxiv.org/abs/2305.16300; Arora et al. (2023)
 * "Zoology: Measuring and Improving Recall in Efficient Language Models",
 * https://arxiv.org/abs/2312.04927 (multi-query associative recall)
 */

import { fail, integer } from "../../core/validate.js";
import { type Rng, rng } from "../../pe/random.js";

export const PAD = 0;
export const SEP = 1;
export const PLUS = 2;
export const EQ = 3;
export const KEY = 4;
export const FILLER = 5;
export const BOS = 6;
/** Id of symbol 0. */
export const FIRST_SYMBOL = 7;

export type TaskConfig =
  | { task: "copy" | "reverse" /** Sequence length n. */; length: number /** Symbols in the alphabet. */; symbols: number }
  | { task: "addition" /** Digits per operand. */; digits: number /** Sum digits least significant first. */; reverseAnswer: boolean }
  | {
      task: "recall" /** Key-value pairs. */;
      pairs: number /** Symbols; keys and values are drawn from them, keys distinct. */;
      symbols: number /** Keys asked after SEP, distinct, at most `pairs`; default 1. */;
      queries?: number;
    }
  | { task: "passkey" /** Total filler tokens. */; filler: number /** Digits of the passkey. */; digits: number };

export interface TokenBatch {
  batch: number;
  /** T, the model's input length. */
  length: number;
  /** Smallest vocabulary that covers the task. */
  vocabSize: number;
  /** (batch, T) row-major */
  tokens: Int32Array;
  /** (batch, T) row-major */
  targets: Int32Array;
  /** (batch, T) 1 where the target is part of the answer. */
  mask: Float32Array;
}

/** Vocabulary size a task needs. */
export function vocabSize(config: TaskConfig): number {
  switch (config.task) {
    case "copy":
    case "reverse":
    case "recall":
      return FIRST_SYMBOL + config.symbols;
    case "addition":
    case "passkey":
      return FIRST_SYMBOL + 10;
    default:
      return config satisfies never;
  }
}

/** An example: its tokens, and its answer: the tokens at answerStart, answerStart + answerStride, ... to the end. */
export interface Example {
  sequence: number[];
  answerStart: number;
  answerStride: number;
}

/** One example: the full sequence, BOS first, and where its answer tokens are. */
export function example(config: TaskConfig, r: Rng): Example {
  const { sequence, answerStart, answerStride } = body(config, r);
  return { sequence: [BOS, ...sequence], answerStart: answerStart + 1, answerStride };
}

/** The example after BOS, with the answer's indices in it. */
function body(config: TaskConfig, r: Rng): Example {
  const fn = "synthetic.example";
  const sym = (i: number) => FIRST_SYMBOL + i;
  switch (config.task) {
    case "copy":
    case "reverse": {
      const n = integer(fn, "config.length", config.length, 1);
      integer(fn, "config.symbols", config.symbols, 1);
      const x = Array.from({ length: n }, () => sym(r.below(config.symbols)));
      const answer = config.task === "copy" ? x : [...x].reverse();
      return { sequence: [...x, SEP, ...answer], answerStart: n + 1, answerStride: 1 };
    }
    case "addition": {
      const n = integer(fn, "config.digits", config.digits, 1);
      const a = Array.from({ length: n }, () => r.below(10));
      const b = Array.from({ length: n }, () => r.below(10));
      // schoolbook addition on digit lists (most significant first), exact for any n
      const sum = new Array<number>(n + 1).fill(0);
      let carry = 0;
      for (let i = n - 1; i >= 0; i--) {
        const d = a[i] + b[i] + carry;
        sum[i + 1] = d % 10;
        carry = Math.floor(d / 10);
      }
      sum[0] = carry;
      const answer = config.reverseAnswer ? [...sum].reverse() : sum;
      return { sequence: [...a.map(sym), PLUS, ...b.map(sym), EQ, ...answer.map(sym)], answerStart: 2 * n + 2, answerStride: 1 };
    }
    case "recall": {
      const m = integer(fn, "config.pairs", config.pairs, 1);
      if (config.symbols < m) fail(fn, `config.symbols (${config.symbols}) must be >= config.pairs (${m}) for distinct keys`);
      const nq = config.queries === undefined ? 1 : integer(fn, "config.queries", config.queries, 1);
      if (nq > m) fail(fn, `config.queries (${nq}) must be <= config.pairs (${m}): the keys asked are distinct`);
      const keys = shuffled(config.symbols, r);
      const pairs = keys.slice(0, m).map((k) => [sym(k), sym(r.below(config.symbols))]);
      // one query: any pair (the draw of the single-query task); more: distinct pairs in random order
      const asked =
        nq === 1
          ? [pairs[r.below(m)]]
          : shuffled(m, r)
              .slice(0, nq)
              .map((i) => pairs[i]);
      return { sequence: [...pairs.flat(), SEP, ...asked.flat()], answerStart: 2 * m + 2, answerStride: 2 };
    }
    case "passkey": {
      const f = integer(fn, "config.filler", config.filler, 0);
      const p = integer(fn, "config.digits", config.digits, 1);
      const digits = Array.from({ length: p }, () => sym(r.below(10)));
      const at = r.below(f + 1);
      const body = [...new Array<number>(at).fill(FILLER), KEY, ...digits, ...new Array<number>(f - at).fill(FILLER)];
      return { sequence: [...body, SEP, ...digits], answerStart: body.length + 1, answerStride: 1 };
    }
    default:
      return config satisfies never;
  }
}

/** 0 .. n - 1 in a random order (Fisher-Yates from the last index). */
function shuffled(n: number, r: Rng): number[] {
  const xs = Array.from({ length: n }, (_, i) => i);
  for (let i = xs.length - 1; i > 0; i--) {
    const j = r.below(i + 1);
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

/** `batch` examples from `seed`: the same seed gives the same batch. */
export function syntheticBatch(config: TaskConfig, batch: number, seed: number): TokenBatch {
  integer("syntheticBatch", "batch", batch, 1);
  const r = rng(seed);
  const examples = Array.from({ length: batch }, () => example(config, r));
  const T = examples[0].sequence.length - 1;
  const out: TokenBatch = {
    batch,
    length: T,
    vocabSize: vocabSize(config),
    tokens: new Int32Array(batch * T),
    targets: new Int32Array(batch * T),
    mask: new Float32Array(batch * T),
  };
  examples.forEach(({ sequence, answerStart, answerStride }, b) => {
    for (let t = 0; t < T; t++) {
      out.tokens[b * T + t] = sequence[t];
      out.targets[b * T + t] = sequence[t + 1];
      out.mask[b * T + t] = t + 1 >= answerStart && (t + 1 - answerStart) % answerStride === 0 ? 1 : 0;
    }
  });
  return out;
}
