/** Properties of the seeded synthetic tasks. */
import { describe, expect, it } from "vitest";
import {
  BOS,
  EQ,
  FILLER,
  FIRST_SYMBOL,
  KEY,
  PLUS,
  SEP,
  syntheticBatch,
  type TaskConfig,
  type TokenBatch,
} from "../../src/train/data/synthetic.js";

/** Row b as the full sequence after its BOS (tokens followed by the last target), and the answer part of it. */
function row(t: TokenBatch, b: number): { s: number[]; answer: number[] } {
  const T = t.length;
  const s = [...t.tokens.subarray(b * T, (b + 1) * T), t.targets[(b + 1) * T - 1]];
  // targets are the sequence shifted by one
  for (let i = 0; i + 1 < T; i++) expect(t.targets[b * T + i]).toBe(t.tokens[b * T + i + 1]);
  const answer = s.filter((_, i) => i >= 1 && t.mask[b * T + i - 1] === 1);
  expect(s[0]).toBe(BOS);
  return { s: s.slice(1), answer };
}
const digits = (xs: number[]) => xs.map((x) => x - FIRST_SYMBOL);

describe("synthetic tasks", () => {
  it("copy: the answer equals the source; reverse: the source reversed", () => {
    for (const task of ["copy", "reverse"] as const) {
      const t = syntheticBatch({ task, length: 7, symbols: 5 }, 16, 1);
      expect([t.length, t.vocabSize]).toEqual([15, FIRST_SYMBOL + 5]);
      for (let b = 0; b < 16; b++) {
        const { s, answer } = row(t, b);
        const source = s.slice(0, 7);
        expect(s[7]).toBe(SEP);
        expect(source.every((x) => x >= FIRST_SYMBOL && x < FIRST_SYMBOL + 5)).toBe(true);
        expect(answer).toEqual(task === "copy" ? source : [...source].reverse());
      }
    }
  });

  it("addition: the answer digits are the sum of the operands (both orders), for 12-digit operands", () => {
    for (const reverseAnswer of [false, true]) {
      const t = syntheticBatch({ task: "addition", digits: 12, reverseAnswer }, 32, 2);
      for (let b = 0; b < 32; b++) {
        const { s, answer } = row(t, b);
        expect([s[12], s[25]]).toEqual([PLUS, EQ]);
        const a = BigInt(digits(s.slice(0, 12)).join(""));
        const c = BigInt(digits(s.slice(13, 25)).join(""));
        const sum = digits(answer);
        expect(sum.length).toBe(13);
        expect(BigInt((reverseAnswer ? [...sum].reverse() : sum).join(""))).toBe(a + c);
      }
    }
  });

  it("recall: distinct keys, the queried key is among them and the answer is its value", () => {
    const t = syntheticBatch({ task: "recall", pairs: 6, symbols: 10 }, 32, 3);
    for (let b = 0; b < 32; b++) {
      const { s, answer } = row(t, b);
      const keys = [0, 2, 4, 6, 8, 10].map((i) => s[i]);
      expect(new Set(keys).size).toBe(6);
      expect(s[12]).toBe(SEP);
      const q = s[13];
      expect(keys).toContain(q);
      expect(answer).toEqual([s[2 * keys.indexOf(q) + 1]]);
    }
  });

  it("multi-query recall: distinct asked keys in random order, every value after one is an answer, nothing else", () => {
    const t = syntheticBatch({ task: "recall", pairs: 8, symbols: 12, queries: 5 }, 32, 5);
    expect(t.length).toBe(2 * 8 + 1 + 2 * 5);
    const firsts = new Set<number>();
    for (let b = 0; b < 32; b++) {
      const { s, answer } = row(t, b);
      const value = new Map(Array.from({ length: 8 }, (_, i) => [s[2 * i], s[2 * i + 1]]));
      expect(value.size).toBe(8);
      expect(s[16]).toBe(SEP);
      const asked = [0, 1, 2, 3, 4].map((i) => s[17 + 2 * i]);
      expect(new Set(asked).size).toBe(5);
      expect(answer).toEqual(asked.map((k) => value.get(k)));
      firsts.add(asked[0]);
    }
    expect(firsts.size).toBeGreaterThan(4); // the order is random, not the pairs' order
    expect(syntheticBatch({ task: "recall", pairs: 6, symbols: 10, queries: 1 }, 8, 3)).toEqual(
      syntheticBatch({ task: "recall", pairs: 6, symbols: 10 }, 8, 3),
    );
    expect(() => syntheticBatch({ task: "recall", pairs: 4, symbols: 10, queries: 5 }, 1, 0)).toThrow(
      "synthetic.example: config.queries (5) must be <= config.pairs (4): the keys asked are distinct",
    );
    expect(() => syntheticBatch({ task: "recall", pairs: 4, symbols: 10, queries: 0 }, 1, 0)).toThrow(
      /config.queries must be an integer >= 1/,
    );
  });

  it("passkey: the answer digits appear right after the KEY marker in the filler", () => {
    const t = syntheticBatch({ task: "passkey", filler: 20, digits: 5 }, 16, 4);
    for (let b = 0; b < 16; b++) {
      const { s, answer } = row(t, b);
      const at = s.indexOf(KEY);
      expect(s.filter((x) => x === FILLER).length).toBe(20);
      expect(answer).toEqual(s.slice(at + 1, at + 6));
      expect(s[s.length - 6]).toBe(SEP);
    }
  });

  it("is determined by the seed", () => {
    const config: TaskConfig = { task: "copy", length: 5, symbols: 9 };
    expect(syntheticBatch(config, 4, 7)).toEqual(syntheticBatch(config, 4, 7));
    expect(syntheticBatch(config, 4, 7).tokens).not.toEqual(syntheticBatch(config, 4, 8).tokens);
    expect(() => syntheticBatch({ task: "recall", pairs: 5, symbols: 3 }, 1, 0)).toThrow(
      "synthetic.example: config.symbols (3) must be >= config.pairs (5) for distinct keys",
    );
  });
});
