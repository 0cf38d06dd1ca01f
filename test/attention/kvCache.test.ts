import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, it } from "vitest";
import { attention } from "../../src/attention/attention.js";
import { KVCache } from "../../src/attention/kvCache.js";
import type { AttentionPE } from "../../src/attention/spec.js";
import { slopes } from "../../src/pe/alibi.js";
import { inverseFrequencies } from "../../src/pe/rope/frequencies.js";
import { init } from "../../src/runtime/init.js";
import { type Input, randn, read } from "../gradcheck.js";
import { expectClose, FLOAT64_FORMULA } from "../tolerance.js";
import { arr } from "./reference.js";

beforeAll(async () => {
  await init({ device: "cpu" });
});

const B = 1,
  H = 4,
  Hkv = 2,
  T = 9,
  D = 4;
const q = randn([B, H, T, D], 1);
const k = randn([B, Hkv, T, D], 2);
const v = randn([B, Hkv, T, D], 3);
const prefix = (x: Input, n: number): Input => {
  const [b, h, , d] = x.shape;
  const out = new Float64Array(b * h * n * d);
  for (let i = 0; i < b * h; i++) out.set(x.data.subarray(i * T * d, i * T * d + n * d), i * n * d);
  return { data: out, shape: [b, h, n, d] };
};
const step = (x: Input, t: number) => {
  const p = prefix(x, t + 1);
  const [b, h, , d] = x.shape;
  const out = new Float64Array(b * h * d);
  for (let i = 0; i < b * h; i++) out.set(p.data.subarray((i * (t + 1) + t) * d, (i * (t + 1) + t + 1) * d), i * d);
  return { data: out, shape: [b, h, 1, d] };
};

const specs: [string, () => AttentionPE][] = [
  ["NoPE", () => ({ type: "none" })],
  ["ALiBi", () => ({ type: "bias", kind: "alibi", slopes: slopes(H) })],
  ["T5", () => ({ type: "bias", kind: "t5", table: arr(randn([8, H], 4)), bidirectional: false, numBuckets: 8, maxDistance: 6 })],
  ["RoPE", () => ({ type: "rotary", pairing: "halves", frequencies: { invFreq: inverseFrequencies(4, 100) } })],
  [
    "dynamic NTK past its length",
    () => ({
      type: "rotary",
      pairing: "halves",
      frequencies: {
        hfConfig: { head_dim: D, num_attention_heads: H, max_position_embeddings: 4, rope_parameters: { rope_type: "dynamic", factor: 2 } },
      },
    }),
  ],
  [
    "LongRoPE past its length",
    () => ({
      type: "rotary",
      pairing: "interleaved",
      frequencies: {
        hfConfig: {
          head_dim: D,
          num_attention_heads: H,
          max_position_embeddings: 16,
          rope_parameters: { rope_type: "longrope", short_factor: [1, 1.5], long_factor: [2, 4], original_max_position_embeddings: 4 },
        },
      },
    }),
  ],
  ["CoPE", () => ({ type: "contextual", kind: "cope", embeddings: arr(randn([D, 3], 5)) })],
];

describe("KV-cache decoding equals the full forward", () => {
  for (const [name, pe] of specs) {
    it(name, async () => {
      const cache = new KVCache({ maxLength: T });
      for (let t = 0; t < T; t++) {
        const { keys, values, offset } = cache.append(arr(step(k, t)), arr(step(v, t)));
        expect(offset).toBe(t);
        const decoded = await read(attention(arr(step(q, t)), keys, values, { causal: true, pe: pe() }));
        const full = await read(attention(arr(prefix(q, t + 1)), arr(prefix(k, t + 1)), arr(prefix(v, t + 1)), { causal: true, pe: pe() }));
        const last = new Float64Array(H * D);
        for (let h = 0; h < H; h++) last.set(full.subarray((h * (t + 1) + t) * D, (h * (t + 1) + t + 1) * D), h * D);
        expectClose(decoded, last, FLOAT64_FORMULA, `${name} step ${t}`);
      }
      cache.dispose();
    });
  }

  it("refuses appends past maxLength and mismatched shapes", () => {
    const cache = new KVCache({ maxLength: 2 });
    cache.append(np.zeros([1, 2, 2, 4]), np.zeros([1, 2, 2, 4]));
    expect(() => cache.append(np.zeros([1, 2, 1, 4]), np.zeros([1, 2, 1, 4]))).toThrow(
      /KVCache.append: appending 1 positions to 2 exceeds maxLength 2/,
    );
    expect(() => cache.append(np.zeros([1, 3, 1, 4]), np.zeros([1, 3, 1, 4]))).toThrow(/does not match the cached keys \(1, 2, 2, 4\)/);
    expect(() => new KVCache({ maxLength: 0 })).toThrow(/KVCache: options.maxLength must be an integer >= 1, got 0/);
    cache.dispose();
  });
});
