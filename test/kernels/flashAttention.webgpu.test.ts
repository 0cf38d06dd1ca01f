/**
 * The fused WebGPU attention kernel against the `attention` composite run on
 * the same device in float32 (Dawn; Mesa lavapipe in CI).
 */
import { getWebGPUDevice, numpy as np } from "@jax-js/jax";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type AttentionOptions, attention } from "../../src/attention/attention.js";
import type { AttentionPE } from "../../src/attention/spec.js";
import {
  type FlashAttentionOptions,
  flashAttention,
  flashAttentionPipelineCount,
  QUERY_BLOCK,
} from "../../src/kernels/webgpu/flashAttention.js";
import { toJaxArray } from "../../src/kernels/webgpu/gpuTensor.js";
import { slopes } from "../../src/pe/alibi.js";
import { inverseFrequencies } from "../../src/pe/rope/frequencies.js";
import { mropePositions, mropeTables } from "../../src/pe/rope/mrope.js";
import { init, teardown } from "../../src/runtime/init.js";
import { type Input, randn } from "../gradcheck.js";
import { expectClose, FLOAT32_EPS } from "../tolerance.js";
import { type Case, f32 } from "./attentionCase.js";

// Mesa lavapipe compiles each tiled attention pipeline in 3 to 15 s on 2 cores
// (a cold shader cache on a fresh CI machine); a test compiling several needs
// more than the default 60 s.
vi.setConfig({ testTimeout: 300_000 });

beforeAll(async () => {
  await init({ device: "webgpu" });
});
afterAll(teardown);

/**
 * Both sides compute in float32 with the same builtins (exp, log, sin, cos of
 * the device), the same bias and rotation steps, but sum in different orders:
 * the composite's einsum reduces q.k over D and p.v over S in its own order and
 * normalises p before the product, while the kernel sums D in fused
 * multiply-add chains and S tile by tile with rescaling by exp(m_old - m_new)
 * (online softmax), the row sums as 16 partials added at the end. Each
 * reordered sum of n terms differs by at most ~n eps sum|terms| (worst case,
 * typically sqrt(n) eps): with D, S <= ~300 and O(1) inputs this is a few
 * hundred eps of the O(1) outputs. 512 eps ~ 3e-5 leaves room for the
 * worst-case linear growth and for logits up to ~10 in magnitude (ALiBi, T5
 * tables), whose rounding the exp amplifies.
 */
const FUSED_FLOAT32 = { rtol: 512 * FLOAT32_EPS, atol: 512 * FLOAT32_EPS };

/** PE arrays are consumed by both calls, so each gets its own copy. */
type PEFactory = () => AttentionPE | undefined;

async function compare(c: Case, pe: PEFactory, opts: Omit<FlashAttentionOptions, "pe"> = {}, what = "") {
  const B = c.B ?? 1;
  const Dv = c.Dv ?? c.D;
  const seed = c.seed ?? 1;
  const q = randn([B, c.H, c.L, c.D], seed, 0.5);
  const k = randn([B, c.Hkv, c.S, c.D], seed + 1, 0.5);
  const v = randn([B, c.Hkv, c.S, Dv], seed + 2);
  const { keyBlock: _kb, limits: _lim, ...compositeOpts } = opts;
  const expected = await attention(f32(q), f32(k), f32(v), { ...(compositeOpts as AttentionOptions), pe: pe() }).data();
  const fused = await flashAttention(f32(q), f32(k), f32(v), { ...opts, pe: pe() });
  expect(fused.shape).toEqual([B, c.H, c.L, Dv]);
  const got = await fused.data();
  fused.dispose();
  expectClose(got, expected, FUSED_FLOAT32, what);
}

const H = 4;
const tableR = 6;
const t5Table = randn([32, H], 11);
const relTable = randn([H, 2 * tableR + 1], 12);
const r1 = [0.5, 1, 1.5, 2];
const r2 = [0.3, 0.6, 0.9, 1.2];
const inv16 = inverseFrequencies(16, 10000);
const inv8 = inverseFrequencies(8, 10000); // partial: 8 of 16 dims
const peKinds: [string, PEFactory][] = [
  ["none", () => undefined],
  ["alibi", () => ({ type: "bias", kind: "alibi", slopes: slopes(H) })],
  ["table", () => ({ type: "bias", kind: "table", table: f32(relTable), maxDistance: tableR })],
  ["t5 bidirectional", () => ({ type: "bias", kind: "t5", table: f32(t5Table), bidirectional: true, numBuckets: 32, maxDistance: 128 })],
  [
    "t5 causal",
    () => ({
      type: "bias",
      kind: "t5",
      table: f32({ data: t5Table.data.slice(0, 16 * H), shape: [16, H] }),
      bidirectional: false,
      numBuckets: 16,
      maxDistance: 64,
    }),
  ],
  [
    "kerple log",
    () => ({ type: "bias", kind: "kerple", variant: "log", r1: np.array(Float32Array.from(r1)), r2: np.array(Float32Array.from(r2)) }),
  ],
  [
    "kerple power",
    () => ({
      type: "bias",
      kind: "kerple",
      variant: "power",
      r1: np.array(Float32Array.from(r1)),
      r2: np.array(Float32Array.from([0.5, 1, 1.5, 2])),
    }),
  ],
  ["rope halves", () => ({ type: "rotary", pairing: "halves", frequencies: { invFreq: inv16 } })],
  ["rope interleaved", () => ({ type: "rotary", pairing: "interleaved", frequencies: { invFreq: inv16 } })],
  ["rope halves partial", () => ({ type: "rotary", pairing: "halves", frequencies: { invFreq: inv8, attentionFactor: 1.2 } })],
  ["rope interleaved partial, last 2 heads", () => ({ type: "rotary", pairing: "interleaved", frequencies: { invFreq: inv8 }, heads: 2 })],
];
const masks: [string, Omit<FlashAttentionOptions, "pe">][] = [
  ["no mask", {}],
  ["causal", { causal: true }],
  ["window [20, 7]", { window: [20, 7] }],
];

describe("flashAttention on webgpu equals attention()", () => {
  // L, S odd, not multiples of the 64-query or 16/64-key blocks; GQA 4 -> 2 heads; masks rotate over the encodings
  peKinds.forEach(([peName, pe], n) => {
    const [maskName, opts] = masks[n % masks.length];
    it(`${peName}: ${maskName}, GQA, L=S=77; decoding L=1 at queryOffset 129`, async () => {
      await compare({ H, Hkv: 2, L: 77, S: 77, D: 16 }, pe, opts, `${peName}, ${maskName}`);
      await compare({ H, Hkv: 2, L: 1, S: 130, D: 16 }, pe, { causal: true, queryOffset: 129 }, `${peName}, decoding`);
    });
  });

  it("M-RoPE tables computed beforehand (Qwen2-VL sectioned, Qwen3-VL interleaved): causal and decoding, GQA, the last 2 heads", async () => {
    // 70 text tokens, a 1 x 4 x 5 image, 40 text tokens: L = S = 130
    const positions = mropePositions([{ text: 70 }, { image: { t: 1, h: 4, w: 5 } }, { text: 40 }]);
    const S = positions.temporal.length;
    for (const [interleaved, pairing] of [
      [false, "halves"],
      [true, "interleaved"],
    ] as const) {
      const table = (from: number) => {
        const rows = (p: Float64Array) => p.subarray(from);
        return mropeTables({ temporal: rows(positions.temporal), height: rows(positions.height), width: rows(positions.width) }, inv16, {
          section: [2, 3, 3],
          interleaved,
          pairing,
          attentionFactor: 1.1,
        });
      };
      const pe =
        (query: number, heads?: number): PEFactory =>
        () => ({
          type: "rotary",
          pairing,
          frequencies: { tables: { query: table(query), key: table(0) } },
          ...(heads ? { heads } : {}),
        });
      await compare({ H, Hkv: 2, L: S, S, D: 16 }, pe(0), { causal: true }, `M-RoPE ${pairing}`);
      await compare({ H, Hkv: 2, L: 1, S, D: 16 }, pe(S - 1, 2), { causal: true, queryOffset: S - 1 }, `M-RoPE ${pairing}, decoding`);
    }
  });

  it("every mask with ALiBi and RoPE", async () => {
    for (const [maskName, opts] of masks) {
      await compare({ H, Hkv: 2, L: 77, S: 77, D: 16 }, peKinds[1][1], opts, `alibi, ${maskName}`);
      await compare({ H, Hkv: 2, L: 77, S: 77, D: 16 }, peKinds[8][1], opts, `rope, ${maskName}`);
    }
  });

  it("causal sliding window (w = 33) with T5 and RoPE, L=S=150, B=2", async () => {
    await compare({ B: 2, H, Hkv: 1, L: 150, S: 150, D: 16 }, peKinds[3][1], { causal: true, window: 33 }, "t5 causal window");
    await compare({ B: 2, H, Hkv: 1, L: 150, S: 150, D: 16 }, peKinds[7][1], { causal: true, window: 33 }, "rope causal window");
  });

  it("RoPE from a Hugging Face config: YaRN (attention factor) and dynamic NTK (follows the length)", async () => {
    const yarn = {
      head_dim: 16,
      num_attention_heads: H,
      max_position_embeddings: 64,
      rope_parameters: { rope_type: "yarn", factor: 4, original_max_position_embeddings: 16 },
    };
    const dynamic = {
      head_dim: 16,
      num_attention_heads: H,
      max_position_embeddings: 32,
      rope_parameters: { rope_type: "dynamic", factor: 2 },
    };
    await compare(
      { H, Hkv: 2, L: 50, S: 50, D: 16 },
      () => ({ type: "rotary", pairing: "halves", frequencies: { hfConfig: yarn } }),
      { causal: true },
      "yarn",
    );
    await compare(
      { H, Hkv: 2, L: 50, S: 50, D: 16 },
      () => ({ type: "rotary", pairing: "interleaved", frequencies: { hfConfig: dynamic } }),
      { causal: true },
      "dynamic",
    );
  });

  it("T5 buckets at every distance up to 300 (log-spaced boundaries at 16, 32, 64, 128)", async () => {
    await compare({ H, Hkv: 4, L: 3, S: 300, D: 8, seed: 5 }, peKinds[3][1], { queryOffset: 0 }, "t5 long distances");
    await compare({ H, Hkv: 4, L: 300, S: 3, D: 8, seed: 6 }, peKinds[3][1], { queryOffset: 0 }, "t5 long distances, keys first");
  });

  it("decoding inside the cache (queryOffset 40 of S = 130) and a 3-query chunk", async () => {
    await compare({ H, Hkv: 2, L: 1, S: 130, D: 16 }, peKinds[3][1], { causal: true, queryOffset: 40 }, "t5 decode inside");
    await compare({ H, Hkv: 2, L: 3, S: 130, D: 16 }, peKinds[9][1], { causal: true }, "rope decode 3");
  });

  it("head dimensions 32, 64, 128 and Dv != D", async () => {
    const alibi2: PEFactory = () => ({ type: "bias", kind: "alibi", slopes: slopes(2) });
    for (const D of [32, 64, 128]) await compare({ H: 2, Hkv: 1, L: 70, S: 70, D }, alibi2, { causal: true }, `D=${D}`);
    await compare(
      { H: 2, Hkv: 2, L: 40, S: 50, D: 32, Dv: 64 },
      () => ({ type: "rotary", pairing: "halves", frequencies: { invFreq: inverseFrequencies(32, 10000) } }),
      {},
      "D=32 Dv=64",
    );
  });

  it("head dimensions not multiples of 4 (scalar loads, partial vec4 columns): D=13, Dv=7", async () => {
    await compare({ H, Hkv: 2, L: 67, S: 93, D: 13, Dv: 7 }, peKinds[1][1], { causal: true }, "D=13 Dv=7");
  });

  it("head dimensions not multiples of 4: D=6, Dv=18 (a partial second chunk of output columns)", async () => {
    await compare({ H, Hkv: 4, L: 30, S: 30, D: 6, Dv: 18 }, peKinds[2][1], { window: [5, 9] }, "D=6 Dv=18");
  });

  it("the largest head dimensions D = Dv = 256 (8 chunks of q and k, 4 vec4 output columns per invocation)", async () => {
    await compare(
      { H: 2, Hkv: 1, L: 70, S: 75, D: 256 },
      () => ({ type: "bias", kind: "alibi", slopes: slopes(2) }),
      { causal: true },
      "D=256",
    );
  });

  // 16 KiB (the WebGPU minimum): 32-query blocks, q and k in 2 chunks; 8 KiB: 16-query blocks, 4 chunks
  for (const [bytes, BQ] of [
    [16384, 32],
    [8192, 16],
  ]) {
    it(`smaller workgroup memory (${bytes} bytes): ${BQ}-query blocks`, async () => {
      await compare(
        { H, Hkv: 2, L: 77, S: 140, D: 32 },
        peKinds[1][1],
        { causal: true, limits: { maxComputeWorkgroupStorageSize: bytes } },
        `workgroup memory ${bytes}`,
      );
    });
  }

  it("tile edges: L = one query block + 1, S = two key tiles + 2, v staged 4, 16 or 64 keys at a time, explicit positions", async () => {
    const L = QUERY_BLOCK + 1;
    for (const keyBlock of [4, 16, 64]) {
      await compare({ H, Hkv: 2, L, S: 130, D: 16 }, peKinds[1][1], { causal: true, keyBlock }, `keyBlock ${keyBlock}`);
    }
    await compare({ H, Hkv: 2, L, S: 17, D: 16 }, peKinds[2][1], { window: [3, 2], keyBlock: 8, queryOffset: 0 }, "window, L > S");
    const qp = Array.from({ length: 20 }, (_, i) => 3 * i + 1);
    const kp = Array.from({ length: 20 }, (_, j) => 2 * j);
    await compare({ H, Hkv: 2, L: 20, S: 20, D: 16 }, peKinds[7][1], { queryPositions: qp, keyPositions: kp }, "rope explicit positions");
    await compare({ H, Hkv: 2, L: 20, S: 20, D: 16 }, peKinds[3][1], { queryPositions: qp, keyPositions: kp }, "t5 explicit positions");
  });

  it("a query that sees no key averages all values, as the composite", async () => {
    // window [0, 0] non-causal, queries at indices 30.. beyond the 10 keys
    await compare({ H, Hkv: 2, L: 5, S: 10, D: 8 }, peKinds[1][1], { window: [0, 0], queryOffset: 30 }, "empty rows");
  });

  it("caches one pipeline per configuration", async () => {
    const before = flashAttentionPipelineCount();
    for (let n = 0; n < 2; n++) await compare({ H: 2, Hkv: 2, L: 9, S: 9, D: 12 }, () => undefined, {}, "cache");
    expect(flashAttentionPipelineCount()).toBe(before + 1);
  });

  it("chains with jax-js through toJaxArray", async () => {
    const x = (s: number) => f32(randn([1, 2, 5, 8], s));
    const out = await toJaxArray(await flashAttention(x(1), x(2), x(3)));
    expect(out.shape).toEqual([1, 2, 5, 8]);
    expectClose(await np.multiply(out, 2).data(), await np.multiply(attention(x(1), x(2), x(3)), 2).data(), FUSED_FLOAT32, "toJaxArray");
  });
});

/**
 * Cross-shaped-window stripes against the composite run stripe by stripe: the
 * tokens of each stripe (rows or columns of the grid) gathered on the host,
 * `attention` over them with their original indices as positions, scattered back.
 */
async function compareStripes(grid: [number, number], width: number, axis: "rows" | "columns", pe: PEFactory, causal = false) {
  const [gh, gw] = grid;
  const [Hs, L, D] = [2, gh * gw, 8];
  const q = randn([1, Hs, L, D], 31, 0.5);
  const k = randn([1, Hs, L, D], 32, 0.5);
  const v = randn([1, Hs, L, D], 33);
  const stripeOf = (t: number) => (axis === "rows" ? Math.floor(Math.floor(t / gw) / width) : Math.floor((t % gw) / width));
  const expected = new Float64Array(Hs * L * D);
  for (let s = 0; s <= stripeOf(axis === "rows" ? L - 1 : gw - 1); s++) {
    const tokens = Array.from({ length: L }, (_, t) => t).filter((t) => stripeOf(t) === s);
    const pick = (x: Input) => {
      const out = new Float32Array(Hs * tokens.length * D);
      for (let h = 0; h < Hs; h++)
        tokens.forEach((t, n) => out.set(x.data.subarray((h * L + t) * D, (h * L + t + 1) * D), (h * tokens.length + n) * D));
      return np.array(out).reshape([1, Hs, tokens.length, D]);
    };
    const y = await attention(pick(q), pick(k), pick(v), { causal, pe: pe(), queryPositions: tokens, keyPositions: tokens }).data();
    for (let h = 0; h < Hs; h++)
      tokens.forEach((t, n) => expected.set(y.subarray((h * tokens.length + n) * D, (h * tokens.length + n + 1) * D), (h * L + t) * D));
  }
  const fused = await flashAttention(f32(q), f32(k), f32(v), { causal, pe: pe(), stripes: { grid, width, axis } });
  const got = await fused.data();
  fused.dispose();
  expectClose(got, expected, FUSED_FLOAT32, `${axis} stripes of ${width} on ${gh}x${gw}`);
}

describe("flashAttention with cross-shaped-window stripes equals attention() per stripe", () => {
  it("horizontal stripes (rows), a narrower last stripe, several key tiles: no PE and ALiBi", async () => {
    await compareStripes([13, 11], 3, "rows", () => undefined);
    await compareStripes([13, 11], 5, "rows", () => ({ type: "bias", kind: "alibi", slopes: slopes(2) }));
  });
  it("vertical stripes (columns), a narrower last stripe: no PE, and causal with ALiBi", async () => {
    await compareStripes([12, 9], 2, "columns", () => undefined);
    await compareStripes([12, 9], 4, "columns", () => ({ type: "bias", kind: "alibi", slopes: slopes(2) }), true);
  });
});

/**
 * float16 storage: the kernel widens f16 q, k, v to f32 exactly as it reads
 * them, so against the composite run in float32 on the same f16 values only
 * the summation order differs, and FUSED_FLOAT32 holds as for float32 inputs.
 */
async function compareHalf(c: Case, pe: PEFactory, opts: Omit<FlashAttentionOptions, "pe"> = {}) {
  const Dv = c.Dv ?? c.D;
  const half = (x: Input) => f32(x).astype(np.float16);
  const q = randn([1, c.H, c.L, c.D], 41, 0.5);
  const k = randn([1, c.Hkv, c.S, c.D], 42, 0.5);
  const v = randn([1, c.Hkv, c.S, Dv], 43);
  const expected = await attention(half(q).astype(np.float32), half(k).astype(np.float32), half(v).astype(np.float32), {
    ...(opts as AttentionOptions),
    pe: pe(),
  }).data();
  const fused = await flashAttention(half(q), half(k), half(v), { ...opts, pe: pe() });
  expect(fused.shape).toEqual([1, c.H, c.L, Dv]);
  const got = await fused.data();
  fused.dispose();
  expectClose(got, expected, FUSED_FLOAT32, "float16 storage");
}

describe("flashAttention with float16 storage (shader-f16) equals attention() on the same values", () => {
  it("vec4 rows, causal, ALiBi, grouped-query; scalar rows (D = 6, Dv = 10) with a window", async () => {
    expect(getWebGPUDevice().features.has("shader-f16")).toBe(true);
    await compareHalf({ H: 4, Hkv: 2, L: 70, S: 70, D: 16 }, () => ({ type: "bias", kind: "alibi", slopes: slopes(4) }), { causal: true });
    await compareHalf({ H: 2, Hkv: 2, L: 33, S: 33, D: 6, Dv: 10 }, () => undefined, { window: [5, 3] });
  });
});

describe("flashAttention refuses bad input", () => {
  const x = (shape: number[]) => f32(randn(shape, 1));
  it("names the function and the shapes", async () => {
    await expect(flashAttention(x([1, 2, 4, 8]), x([1, 2, 5, 8]), x([1, 2, 4, 8]))).rejects.toThrow(
      "flashAttention: q, k, v shapes mismatch: q=(1, 2, 4, 8), k=(1, 2, 5, 8), v=(1, 2, 4, 8)",
    );
    await expect(flashAttention(x([1, 3, 4, 8]), x([1, 2, 4, 8]), x([1, 2, 4, 8]))).rejects.toThrow(
      "flashAttention: query heads (3) must be a multiple of key/value heads (2)",
    );
    await expect(flashAttention(x([2, 4, 8]), x([2, 4, 8]), x([2, 4, 8]))).rejects.toThrow(
      "flashAttention: q, k, v must be (B, H, L, D), got q=(2, 4, 8)",
    );
    await expect(flashAttention(x([1, 1, 4, 300]), x([1, 1, 4, 300]), x([1, 1, 4, 8]))).rejects.toThrow(
      "D = 300 and Dv = 8 must be in [1, 256]",
    );
  });
  it("dtypes must be float32", async () => {
    const i32 = np.zeros([1, 1, 4, 8], { dtype: np.int32 });
    await expect(flashAttention(i32, x([1, 1, 4, 8]), x([1, 1, 4, 8]))).rejects.toThrow(
      "flashAttention: q must be float32 or float16, got int32",
    );
    const h = (shape: number[]) => np.zeros(shape, { dtype: np.float16 });
    await expect(flashAttention(h([1, 1, 4, 8]), x([1, 1, 4, 8]), x([1, 1, 4, 8]))).rejects.toThrow(
      "flashAttention: q, k and v must share one dtype, got float16, float32, float32",
    );
    await expect(
      flashAttention(h([1, 1, 4, 8]), h([1, 1, 4, 8]), h([1, 1, 4, 8]), {
        pe: { type: "rotary", pairing: "halves", frequencies: { invFreq: [1, 0.1] } },
      }),
    ).rejects.toThrow("flashAttention: RoPE with float16 storage is not supported by the fused kernel");
    const table = np.zeros([1, 5], { dtype: np.int32 });
    await expect(
      flashAttention(x([1, 1, 4, 8]), x([1, 1, 4, 8]), x([1, 1, 4, 8]), { pe: { type: "bias", kind: "table", table, maxDistance: 2 } }),
    ).rejects.toThrow("flashAttention: pe.table must be a float32 webgpu array of shape (1, 5), got int32");
  });
  it("unsupported encodings and options", async () => {
    const run = (opts: FlashAttentionOptions) => flashAttention(x([1, 2, 4, 8]), x([1, 2, 4, 8]), x([1, 2, 4, 8]), opts);
    await expect(run({ pe: { type: "bias", kind: "alibi", slopes: [1] } })).rejects.toThrow(
      "flashAttention: options.pe.slopes must hold one slope per head (2), got 1",
    );
    await expect(
      run({ pe: { type: "rotary", pairing: "halves", frequencies: { invFreq: [1, 0.1] }, xpos: { scaleBase: 512, center: 0 } } }),
    ).rejects.toThrow("xPos is not supported");
    await expect(run({ pe: { type: "rotary", pairing: "halves", frequencies: { invFreq: [1, 0.1, 0.01, 0.001, 1e-4] } } })).rejects.toThrow(
      "flashAttention: options.pe.frequencies.invFreq must hold 1..D/2 = 4 frequencies for head dim 8, got 5",
    );
    await expect(run({ window: 0 })).rejects.toThrow("flashAttention: options.window must be >= 1");
    await expect(run({ queryOffset: -1 })).rejects.toThrow("flashAttention: options.queryOffset must be an integer >= 0, got -1");
    await expect(run({ keyBlock: 1000 })).rejects.toThrow("flashAttention: options.keyBlock must be a power of two in [4, 64]");
    await expect(run({ keyBlock: 12 })).rejects.toThrow("flashAttention: options.keyBlock must be a power of two in [4, 64]");
    await expect(run({ queryPositions: [0, 1] })).rejects.toThrow("flashAttention: options.queryPositions must hold 4 positions, got 2");
    await expect(run({ stripes: { grid: [2, 3], width: 1, axis: "rows" } })).rejects.toThrow(
      "flashAttention: options.stripes.grid must be [height, width] with height * width = L = S and queryOffset 0, got grid [2,3]",
    );
    await expect(run({ stripes: { grid: [2, 2], width: 3, axis: "rows" } })).rejects.toThrow(
      "flashAttention: options.stripes.width must be an integer in [1, 2] (the grid's rows), got 3",
    );
    await expect(run({ stripes: { grid: [2, 2], width: 1, axis: "diagonal" as never } })).rejects.toThrow(
      'flashAttention: options.stripes.axis must be "rows" or "columns", got "diagonal"',
    );
  });
  it("refuses buffers over the storage-buffer limit (planted small limit)", async () => {
    const run = (limits: FlashAttentionOptions["limits"]) =>
      flashAttention(x([1, 2, 64, 8]), x([1, 2, 64, 8]), x([1, 2, 64, 8]), { limits });
    // q is 1 * 2 * 64 * 8 * 4 = 4096 bytes
    await expect(run({ maxStorageBufferBindingSize: 4000 })).rejects.toThrow(
      "flashAttention: q (1, 2, 64, 8) float32 needs 4096 bytes, more than the device allows for one storage buffer (maxStorageBufferBindingSize 4000, maxBufferSize",
    );
    await expect(run({ maxBufferSize: 4095 })).rejects.toThrow("maxBufferSize 4095");
    const ok = await run({ maxStorageBufferBindingSize: 4096 });
    ok.dispose();
    expect(getWebGPUDevice().limits.maxStorageBufferBindingSize).toBeGreaterThan(4096);
  });
});
