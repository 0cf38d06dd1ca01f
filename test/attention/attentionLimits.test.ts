/** Splitting past the device's buffer limit, and bad input. */
import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, it } from "vitest";
import { attention } from "../../src/attention/attention.js";
import { slopes } from "../../src/pe/alibi.js";
import { inverseFrequencies } from "../../src/pe/rope/frequencies.js";
import { init } from "../../src/runtime/init.js";
import { randn, read } from "../gradcheck.js";
import { expectClose, FLOAT64_FORMULA } from "../tolerance.js";
import { arr } from "./reference.js";

beforeAll(async () => {
  await init({ device: "cpu" });
});

const B = 2,
  H = 4,
  L = 7,
  S = 7,
  D = 4;
const q = randn([B, H, L, D], 1);
const k = randn([B, 2, S, D], 2);
const v = randn([B, 2, S, 3], 3);

describe("logits larger than a storage buffer are split", () => {
  const pes = [
    { type: "bias", kind: "alibi", slopes: slopes(H) },
    { type: "rotary", pairing: "halves", frequencies: { invFreq: inverseFrequencies(4, 100) } },
  ] as const;
  for (const pe of pes) {
    it(`by heads, then by query blocks (${pe.type})`, async () => {
      const whole = await read(attention(arr(q), arr(k), arr(v), { causal: true, pe }));
      const full = B * H * L * S * 8;
      // room for 2 heads, then for 3 query rows of one head, then for 1 row
      for (const limit of [full / 2, B * 1 * 3 * S * 8, B * S * 8]) {
        const split = await read(attention(arr(q), arr(k), arr(v), { causal: true, pe, maxBufferBytes: limit }));
        expectClose(split, whole, FLOAT64_FORMULA, `limit ${limit}`);
      }
    });
  }

  it("refuses when one head and one query row do not fit, and consumes its inputs", () => {
    const [a, b, c] = [arr(q), arr(k), arr(v)];
    expect(() => attention(a, b, c, { maxBufferBytes: B * S * 8 - 1 })).toThrow(
      /attention: one head and one query row of logits \(B=2, S=7: 112 bytes\) exceed the device's storage buffer limit of 111 bytes/,
    );
    expect([a.refCount, b.refCount, c.refCount]).toEqual([0, 0, 0]);
  });
});

describe("attention bad input", () => {
  const call =
    (opts: Parameters<typeof attention>[3], qs = [B, H, L, D], ks = [B, 2, S, D], vs = [B, 2, S, 3]) =>
    () =>
      attention(np.zeros(qs), np.zeros(ks), np.zeros(vs), opts);
  it("shapes", () => {
    expect(call({}, [B, H, L])).toThrow(/attention: q, k, v must be \(B, H, L, D\), got q=\(2, 4, 7\)/);
    expect(call({}, undefined, [B, 2, S, 5])).toThrow(/attention: q, k, v shapes mismatch: q=\(2, 4, 7, 4\), k=\(2, 2, 7, 5\)/);
    expect(call({}, [B, 3, L, D])).toThrow(/attention: query heads \(3\) must be a multiple of key\/value heads \(2\)/);
    expect(call({ paddingMask: np.ones([B, S + 1]) })).toThrow(/options.paddingMask must be \(B, S\) = \(2, 7\), got \(2, 8\)/);
  });
  it("options and specs", () => {
    expect(call({ window: 0 })).toThrow(/options.window must be >= 1, got 0/);
    expect(call({ window: [1, -1] })).toThrow(/options.window must be a positive integer or \[left, right\]/);
    expect(call({ queryOffset: -1 })).toThrow(/options.queryOffset must be an integer >= 0, got -1/);
    expect(call({ pe: { type: "bias", kind: "alibi", slopes: slopes(3) } })).toThrow(
      "attention: options.pe.slopes must hold one slope per head (4), got 3",
    );
    expect(call({ pe: { type: "contextual", kind: "cope", embeddings: np.zeros([D, 2]) } })).toThrow(
      /CoPE \(pe.kind "cope"\) needs causal attention/,
    );
    expect(call({ pe: { type: "rotary", pairing: "halves", frequencies: { invFreq: [1] }, heads: 1 } })).toThrow(
      /pe.heads \(1\) must be an integer in \[1, 4\] covering whole key\/value groups of 2 heads/,
    );
    expect(call({ queryPositions: [0, 1] })).toThrow(/attention: options.queryPositions must hold 7 positions, got 2/);
    expect(call({ keyPositions: [0, 1, 2, 3, 4, 5, NaN] })).toThrow(/options.keyPositions\[6\] must be finite, got NaN/);
    // refused inputs are disposed, position arrays included
    const [qa, ka, va, qp] = [np.zeros([B, H, L, D]), np.zeros([B, 2, S, D]), np.zeros([B, 2, S, 3]), np.arange(0, L).astype(np.float32)];
    expect(() => attention(qa, ka, va, { queryPositions: qp, keyPositions: [0, 1] })).toThrow(
      /options.keyPositions must hold 7 positions, got 2/,
    );
    expect([qa, ka, va, qp].map((a) => a.refCount)).toEqual([0, 0, 0, 0]);
  });
});
