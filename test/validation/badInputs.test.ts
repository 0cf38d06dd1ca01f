/**
 * Bad inputs across the public API, table-driven: each case is a call and
 * the error it must raise, naming the function, the argument and the value.
 * Then property tests (fast-check): malformed PE specs and model configs
 * give a finite result or an Error whose message starts with the public
 * function's name, never a low-level failure.
 */
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { numpy as np } from "@jax-js/jax";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { attention } from "../../src/attention/attention.js";
import type { AttentionPE } from "../../src/attention/spec.js";
import { initLM, type LMConfig, lmForward, lmLoss } from "../../src/nn/lm.js";
import { initVit, type VitConfig } from "../../src/nn/vit.js";
import { slopes } from "../../src/pe/alibi.js";
import { fromHFConfig } from "../../src/pe/rope/hfConfig.js";
import { init } from "../../src/runtime/init.js";
import { initAdamW } from "../../src/train/adamw.js";
import { fromSafetensors, loadCheckpoint } from "../../src/train/checkpoint.js";
import { syntheticBatch, vocabSize } from "../../src/train/data/synthetic.js";
import { makeTrainStep, toBatch } from "../../src/train/trainStep.js";
import { TINY_LM, tinyVit } from "../configs.js";
import { randn, read } from "../gradcheck.js";

beforeAll(async () => {
  await init({ device: "cpu" });
});

const f64 = (shape: number[], seed = 1) => np.array(randn(shape, seed).data).reshape(shape);
/** q (1, 2, 5, 8), k and v (1, 2, 5, 8): 2 heads, head dim 8. */
const run =
  (pe: unknown, options: Record<string, unknown> = {}) =>
  () =>
    attention(f64([1, 2, 5, 8], 1), f64([1, 2, 5, 8], 2), f64([1, 2, 5, 8], 3), { ...options, pe: pe as AttentionPE });
const rope = { type: "rotary", pairing: "halves", frequencies: { invFreq: [1, 0.1, 0.01] } };
const t5 = (table: np.Array) => ({ type: "bias", kind: "t5", table, bidirectional: true, numBuckets: 32, maxDistance: 128 });

const lm = TINY_LM;
const vit = tinyVit();
const withLM = (over: Record<string, unknown>) => ({ ...lm, ...over }) as LMConfig;
const hf = { hidden_size: 64, num_attention_heads: 4, max_position_embeddings: 4096 };

/** [what, call, the error's text] */
const CASES: [string, () => unknown, string][] = [
  // attention: specs as plain data
  ["unknown PE type", run({ type: "rope" }), 'attention: options.pe.type must be "none", "rotary", "bias" or "contextual", got "rope"'],
  [
    "RoPE without pairing",
    run({ ...rope, pairing: undefined }),
    'attention: options.pe.pairing must be "halves", "interleaved", got undefined',
  ],
  ["RoPE pairing misspelt", run({ ...rope, pairing: "gptj" }), 'attention: options.pe.pairing must be "halves", "interleaved", got "gptj"'],
  [
    "RoPE with more frequencies than D/2",
    run({ ...rope, frequencies: { invFreq: [1, 1, 1, 1, 1] } }),
    "attention: options.pe.frequencies.invFreq must hold 1..D/2 = 4 frequencies for head dim 8, got 5",
  ],
  [
    "RoPE with a NaN frequency",
    run({ ...rope, frequencies: { invFreq: [1, Number.NaN] } }),
    "attention: options.pe.frequencies.invFreq[1] must be finite, got NaN",
  ],
  ["T5 table (4, 2) for 32 buckets", run(t5(np.zeros([4, 2]))), "attention: options.pe.table must be (32, 2), got (4, 2)"],
  ["T5 table transposed", run(t5(np.zeros([2, 32]))), "attention: options.pe.table must be (32, 2), got (2, 32)"],
  [
    "T5 without bidirectional",
    run({ ...t5(np.zeros([32, 2])), bidirectional: undefined }),
    "attention: options.pe.bidirectional must be true or false, got undefined",
  ],
  [
    "learned table (2, 5) where 13 columns are needed",
    run({ type: "bias", kind: "table", table: np.zeros([2, 5]), maxDistance: 6 }),
    "attention: options.pe.table must be (2, 13), got (2, 5)",
  ],
  [
    "KERPLE r1 of length 3 for 2 heads",
    run({ type: "bias", kind: "kerple", variant: "log", r1: np.ones([3]), r2: np.ones([2]) }),
    "attention: options.pe.r1 must be (2), got (3)",
  ],
  [
    "KERPLE r1 of length 1 for 2 heads",
    run({ type: "bias", kind: "kerple", variant: "log", r1: np.ones([1]), r2: np.ones([2]) }),
    "attention: options.pe.r1 must be (2), got (1)",
  ],
  [
    "KERPLE variant misspelt",
    run({ type: "bias", kind: "kerple", variant: "logarithmic", r1: np.ones([2]), r2: np.ones([2]) }),
    'attention: options.pe.variant must be "log", "power", got "logarithmic"',
  ],
  [
    "unknown bias kind",
    run({ type: "bias", kind: "rpe" }),
    'attention: options.pe.kind must be "alibi", "t5", "kerple", "fire", "mlp", "table", got "rpe"',
  ],
  [
    "ALiBi slopes for 3 heads",
    run({ type: "bias", kind: "alibi", slopes: slopes(3) }),
    "attention: options.pe.slopes must hold one slope per head (2), got 3",
  ],
  ["scale NaN", run(undefined, { scale: Number.NaN }), "attention: options.scale must be a finite number, got NaN"],
  ["causal as a string", run(undefined, { causal: "yes" }), 'attention: options.causal must be true or false, got "yes"'],
  ["a spec that is a string", run("rotary"), 'attention: options.pe must be a positional-encoding spec, got "rotary"'],
  // models
  [
    "LM RoPE without pairing",
    () => initLM(withLM({ pe: { type: "rotary", base: 10000 } }), 0),
    'initLM: config.pe.pairing must be "halves", "interleaved", got undefined',
  ],
  [
    "LM norm type batch",
    () => initLM(withLM({ norm: { type: "batch", eps: 1e-5 } }), 0),
    'initLM: config.norm.type must be "layer", "rms", got "batch"',
  ],
  [
    "LM mlp kind relu",
    () => initLM(withLM({ mlp: { kind: "relu", hidden: 8 } }), 0),
    'initLM: config.mlp.kind must be "gelu", "swiglu", got "relu"',
  ],
  ["LM width -16", () => initLM(withLM({ width: -16 }), 0), "initLM: config.width must be an integer >= 1, got -16"],
  [
    "LM without norm",
    () => initLM(withLM({ norm: undefined }), 0),
    'initLM: config.norm must be { type: "layer" | "rms", eps }, got undefined',
  ],
  [
    "LM T5 with 1 bucket",
    () => initLM(withLM({ pe: { type: "t5", bidirectional: true, numBuckets: 1, maxDistance: 8 } }), 0),
    "initLM: config.pe.numBuckets (1) leaves no exact bucket: at least 4 are needed",
  ],
  [
    "LM absolute kind typo",
    () => initLM(withLM({ absolute: { kind: "learnt", maxPositions: 8 } }), 0),
    'initLM: config.absolute.kind must be "sinusoidal", "learned", got "learnt"',
  ],
  [
    "lmForward with a bad config",
    () => lmForward(initLM(lm, 0), withLM({ heads: 3 }), np.array(Int32Array.of(1, 2)).reshape([1, 2])),
    "lmForward: config.width (16) must be a multiple of config.heads (3)",
  ],
  [
    "lmLoss with targets of another length",
    () =>
      lmLoss(initLM(lm, 0), lm, {
        tokens: np.array(Int32Array.of(1, 2, 3)).reshape([1, 3]),
        targets: np.array(Int32Array.of(1, 2)).reshape([1, 2]),
        mask: np.ones([1, 3]),
      }),
    "lmLoss: batch.tokens, batch.targets and batch.mask must all be (B, L), got tokens (1, 3), targets (1, 2), mask (1, 3)",
  ],
  [
    "ViT norm type",
    () => initVit({ ...vit, norm: { type: "group", eps: 1e-5 } } as unknown as VitConfig, 0),
    'initVit: config.norm.type must be "layer", "rms", got "group"',
  ],
  // training
  [
    "AdamW beta1 1.5",
    () => makeTrainStep(lm, { adamw: { beta1: 1.5, beta2: 0.99, eps: 1e-8, weightDecay: 0, decay: "all" }, clipNorm: 1 }),
    "makeStep: train.adamw.beta1 must be in [0, 1), got 1.5",
  ],
  // pe/
  ["alibi.slopes(1e9)", () => slopes(1e9), "alibi.slopes: numHeads must be <= 65536 (alibi.MAX_HEADS), got 1000000000"],
  // config.json
  [
    "YaRN without factor or original length",
    () => fromHFConfig({ ...hf, rope_scaling: { rope_type: "yarn" } }),
    'rope.fromHFConfig: rope_type "yarn" needs rope_parameters.factor, or rope_parameters.original_max_position_embeddings to derive it',
  ],
  [
    "YaRN factor misspelt",
    () => fromHFConfig({ ...hf, rope_scaling: { rope_type: "yarn", fator: 4 } }),
    'rope.fromHFConfig: unknown RoPE parameter "fator": did you mean "factor"?',
  ],
  [
    "Gemma 3 (4.x form) without a layer type",
    () => fromHFConfig({ ...hf, rope_theta: 1e6, rope_local_base_freq: 10000 }),
    "rope.fromHFConfig: with rope_local_base_freq (Gemma 3), RoPE is per layer type (full_attention, sliding_attention): pass options.layerType (posenc rope --layer-type)",
  ],
  // files
  ["safetensors header not JSON", () => fromSafetensors(header("{nope")), "fromSafetensors: the header is not valid JSON"],
  [
    "safetensors entry without data_offsets",
    () => fromSafetensors(header(JSON.stringify({ w: { dtype: "F32", shape: [1] } }))),
    "fromSafetensors: w: data_offsets must be [begin, end] with 0 <= begin <= end, got undefined",
  ],
];

/** safetensors bytes with `json` as the header and no data. */
function header(json: string): Uint8Array {
  const text = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + text.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  return out;
}

describe("bad inputs get an error naming the function, the argument and the value", () => {
  for (const [what, call, message] of CASES) {
    it(what, () => {
      expect(call).toThrow(message);
    });
  }

  it("a NaN learning rate is refused before the step consumes anything", () => {
    const step = makeTrainStep(lm, { adamw: { beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0, decay: "all" }, clipNorm: 1 });
    const params = initLM({ ...lm, vocabSize: vocabSize({ task: "copy", length: 4, symbols: 4 }) }, 0);
    const state = initAdamW(params);
    const batch = toBatch(syntheticBatch({ task: "copy", length: 4, symbols: 4 }, 2, 0));
    expect(() => step(params, state, batch, Number.NaN)).toThrow("trainStep: lr must be a finite number >= 0, got NaN");
    step.dispose();
  });

  it("an invalid config.json in a checkpoint is named with its path", async () => {
    const dir = await mkdtemp(join(tmpdir(), "posenc-bad-"));
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "config.json"), "{ width: 16 ");
    await expect(loadCheckpoint(dir)).rejects.toThrow(`loadCheckpoint: ${join(dir, "config.json")} is not valid JSON`);
    await expect(loadCheckpoint(join(dir, "missing"))).rejects.toThrow(
      `loadCheckpoint: cannot read ${join(dir, "missing", "config.json")}`,
    );
  });

  it("read as their families read them: DeepSeek rotates qk_rope_head_dim and reports its softmax scale; Gemma 3 (4.x) per layer type", () => {
    const deepseek = {
      hidden_size: 7168,
      num_attention_heads: 128,
      qk_rope_head_dim: 64,
      max_position_embeddings: 163840,
      rope_theta: 10000,
      rope_scaling: {
        type: "yarn",
        factor: 40,
        original_max_position_embeddings: 4096,
        mscale: 1,
        mscale_all_dim: 1,
        beta_fast: 32,
        beta_slow: 1,
      },
    };
    const d = fromHFConfig(deepseek);
    expect([d.headDim, d.rotaryDim]).toEqual([64, 64]);
    expect(d.softmaxScale).toBeCloseTo((0.1 * Math.log(40) + 1) ** 2, 12);
    expect(fromHFConfig({ ...hf, rope_scaling: { rope_type: "linear", factor: 2 } }).softmaxScale).toBe(1);
    const gemma = { ...hf, rope_theta: 1e6, rope_local_base_freq: 10000, rope_scaling: { rope_type: "linear", factor: 8 } };
    const local = fromHFConfig(gemma, { layerType: "sliding_attention" });
    const global = fromHFConfig(gemma, { layerType: "full_attention" });
    expect([local.parameters.type, local.parameters.base]).toEqual(["default", 10000]);
    expect([global.parameters.type, global.parameters.base]).toEqual(["linear", 1e6]);
  });
});

const JUNK = [undefined, null, Number.NaN, -1, 0, 1.5, 1e9, "x", "halves", true, [], {}];

/** One mutation of a JSON-like value: the field reached by `path` (indices into the keys at each depth) deleted or replaced. */
const mutation = fc.record({
  path: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
  remove: fc.boolean(),
  junk: fc.constantFrom(...JUNK),
});

function mutate(value: unknown, m: { path: number[]; remove: boolean; junk: unknown }): unknown {
  const [i, ...rest] = m.path;
  if (typeof value !== "object" || value === null || Array.isArray(value) || "dtype" in value) return m.junk;
  const out: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  const key = Object.keys(out)[i % Object.keys(out).length];
  if (rest.length > 0 && typeof out[key] === "object" && out[key] !== null) out[key] = mutate(out[key], { ...m, path: rest });
  else if (m.remove) delete out[key];
  else out[key] = m.junk;
  return out;
}

describe("malformed specs and configs, at random: a result or an Error naming the function", () => {
  it("attention with 300 mutated PE specs", async () => {
    const valid = [
      () => rope,
      () => t5(np.zeros([32, 2])),
      () => ({ type: "bias", kind: "alibi", slopes: [0.5, 0.25] }),
      () => ({ type: "bias", kind: "table", table: np.zeros([2, 7]), maxDistance: 3 }),
      () => ({ type: "bias", kind: "kerple", variant: "power", r1: np.ones([2]), r2: np.ones([2]) }),
    ];
    await fc.assert(
      fc.asyncProperty(fc.nat(valid.length - 1), mutation, async (which, m) => {
        const spec = mutate(valid[which](), m);
        let out: np.Array;
        try {
          out = run(spec)();
        } catch (e) {
          expect((e as Error).message, JSON.stringify(spec)).toMatch(/^attention: /);
          return;
        }
        const values = await read(out);
        expect(values.every(Number.isFinite), `non-finite output for ${JSON.stringify(spec)}`).toBe(true);
      }),
      { numRuns: 300, seed: 7 },
    );
  });

  it("initLM with 300 mutated configs", () => {
    fc.assert(
      fc.property(mutation, (m) => {
        const config = mutate(lm, m) as LMConfig;
        try {
          initLM(config, 0);
        } catch (e) {
          expect((e as Error).message, JSON.stringify(config)).toMatch(/^initLM: /);
        }
      }),
      { numRuns: 300, seed: 11 },
    );
  });
});
