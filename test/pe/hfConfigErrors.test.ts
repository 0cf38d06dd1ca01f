import { describe, expect, it } from "vitest";
import { fromHFConfig, type HFConfig, layerTypes } from "../../src/pe/rope/hfConfig.js";

const base: HFConfig = { hidden_size: 64, num_attention_heads: 4, max_position_embeddings: 4096 };
const withRope = (rope_parameters: Record<string, unknown>, extra: HFConfig = {}) => ({ ...base, ...extra, rope_parameters });

describe("rope.fromHFConfig bad input", () => {
  it("unknown rope_type", () => {
    expect(() => fromHFConfig(withRope({ rope_type: "ntk-by-parts" }))).toThrow(
      /rope.fromHFConfig: unknown rope_type "ntk-by-parts"; supported: default, linear, dynamic, yarn, longrope, llama3, proportional/,
    );
    expect(() => fromHFConfig({ ...base, rope_scaling: { type: "su", factor: 2 } })).toThrow(/unknown rope_type "su"/);
  });

  it("missing or non-positive factor", () => {
    expect(() => fromHFConfig(withRope({ rope_type: "linear" }))).toThrow(
      /rope_type "linear" needs rope_parameters.factor \(a number > 0\), but it is missing/,
    );
    expect(() => fromHFConfig(withRope({ rope_type: "dynamic", factor: 0 }))).toThrow(/rope_parameters.factor must be > 0, got 0/);
    expect(() => fromHFConfig(withRope({ rope_type: "llama3", factor: -8, low_freq_factor: 1, high_freq_factor: 4 }))).toThrow(
      /rope_parameters.factor must be > 0, got -8/,
    );
  });

  it("YaRN without an original length", () => {
    const { max_position_embeddings: _, ...noMax } = base;
    expect(() => fromHFConfig({ ...noMax, rope_parameters: { rope_type: "yarn", factor: 4 } })).toThrow(
      /rope_type "yarn" needs the original context length: set rope_parameters.original_max_position_embeddings/,
    );
  });

  it("head counts and dims", () => {
    expect(() => fromHFConfig({ ...base, num_attention_heads: 0 })).toThrow(
      /rope.fromHFConfig: num_attention_heads must be an integer >= 1, got 0/,
    );
    expect(() => fromHFConfig({ ...base, num_attention_heads: 2.5 })).toThrow(/num_attention_heads must be an integer >= 1, got 2.5/);
    expect(() => fromHFConfig({ ...base, head_dim: 10, partial_rotary_factor: 0.3 })).toThrow(
      /rotary dims int\(head_dim \* partial_rotary_factor\) = int\(10 \* 0.3\) = 3 must be even and >= 2/,
    );
  });

  it("LongRoPE factor lists of the wrong length", () => {
    const rp = {
      rope_type: "longrope",
      short_factor: [1, 1, 1],
      long_factor: [1, 1, 1, 1, 1, 1, 1, 1],
      original_max_position_embeddings: 1024,
    };
    expect(() => fromHFConfig(withRope(rp))).toThrow(/rope_parameters.short_factor must have rotary dims \/ 2 = 8 entries, got 3/);
    expect(() => fromHFConfig(withRope({ ...rp, short_factor: "1,1" }))).toThrow(
      /rope_parameters.short_factor must be a list of 8 numbers/,
    );
  });

  it("NaN and Infinity parameters", () => {
    expect(() => fromHFConfig(withRope({ rope_type: "linear", factor: NaN }))).toThrow(
      /rope_parameters.factor must be a finite number, got NaN/,
    );
    expect(() => fromHFConfig(withRope({ rope_type: "default", rope_theta: Infinity }))).toThrow(
      /rope_parameters.rope_theta must be a finite number, got Infinity/,
    );
    expect(() => fromHFConfig(withRope({ rope_type: "yarn", factor: 4, beta_fast: NaN, original_max_position_embeddings: 1024 }))).toThrow(
      /rope_parameters.beta_fast must be a finite number, got NaN/,
    );
    const lr = {
      rope_type: "longrope",
      short_factor: [1, 1, 1, NaN, 1, 1, 1, 1],
      long_factor: [1, 1, 1, 1, 1, 1, 1, 1],
      original_max_position_embeddings: 1024,
    };
    expect(() => fromHFConfig(withRope(lr))).toThrow(/rope_parameters.short_factor\[3\] must be a finite number, got NaN/);
    expect(() => fromHFConfig(base, { seqLen: NaN })).toThrow(/options.seqLen must be an integer >= 1, got NaN/);
  });

  it("malformed config objects", () => {
    // @ts-expect-error not an object
    expect(() => fromHFConfig(null)).toThrow(/rope.fromHFConfig: config must be a JSON object, got null/);
    expect(() => fromHFConfig({ ...base, rope_scaling: [1, 2] as unknown as Record<string, unknown> })).toThrow(
      /rope_scaling must be an object, got \[1,2\]/,
    );
  });

  it("per-layer-type parameters need a layer type", () => {
    const cfg = {
      ...base,
      layer_types: ["sliding_attention", "full_attention"],
      rope_parameters: {
        full_attention: { rope_type: "linear", factor: 8, rope_theta: 1e6 },
        sliding_attention: { rope_type: "default", rope_theta: 1e4 },
      },
    };
    expect(() => fromHFConfig(cfg)).toThrow(
      /rope_parameters is per layer type \(full_attention, sliding_attention\): pass options.layerType/,
    );
    expect(() => fromHFConfig(cfg, { layerType: "global" })).toThrow(
      /options.layerType "global" has no RoPE parameters; available: full_attention, sliding_attention/,
    );
    const full = fromHFConfig(cfg, { layerType: "full_attention" });
    expect(full.type).toBe("linear");
    expect(full.invFreq[1]).toBeCloseTo(1e6 ** (-2 / 16) / 8, 15);
    expect(fromHFConfig(cfg, { layerType: "sliding_attention" }).invFreq[1]).toBeCloseTo(1e4 ** (-2 / 16), 15);
    expect(layerTypes(cfg)).toEqual(["full_attention", "sliding_attention"]);
    expect(layerTypes({ ...base, rope_theta: 1e6, rope_local_base_freq: 1e4 })).toEqual(["full_attention", "sliding_attention"]);
    expect(layerTypes({ ...base, rope_theta: 1e6 })).toEqual([]);
    expect(() => layerTypes(null as unknown as HFConfig)).toThrow("rope.layerTypes: config must be an object, got null");
  });

  it("legacy rope_scaling wins over rope_parameters, a theta inside the parameters wins over the top level", () => {
    const r = fromHFConfig({
      ...base,
      rope_theta: 500,
      rope_scaling: { type: "linear", factor: 2 },
      rope_parameters: { rope_type: "default", rope_theta: 7 },
    });
    expect(r.type).toBe("linear");
    expect(r.invFreq[1]).toBeCloseTo(500 ** (-2 / 16) / 2, 15);
    expect(fromHFConfig({ ...base, rope_theta: 500, rope_parameters: { rope_theta: 7 } }).invFreq[1]).toBeCloseTo(7 ** (-2 / 16), 15);
  });
});
