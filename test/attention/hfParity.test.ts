/**
 * posenc attention against the attention of transformers' Llama, T5 and
 * BLOOM modules: the modules' own projected q, k, v (see
 * scripts/fixtures/hf_attention.py) go through `attention` with the matching
 * positional encoding, and must give what entered each module's output
 * projection.
 */
import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, it } from "vitest";
import { attention } from "../../src/attention/attention.js";
import { slopes } from "../../src/pe/alibi.js";
import type { HFConfig } from "../../src/pe/rope/hfConfig.js";
import { init } from "../../src/runtime/init.js";
import { fixture } from "../fixtures.js";
import { read } from "../gradcheck.js";
import { expectClose, FLOAT32_EPS, FLOAT64_FORMULA } from "../tolerance.js";

beforeAll(async () => {
  await init({ device: "cpu" });
});

/**
 * The float64 modules keep one float32 step: Llama's rotary module computes
 * cos/sin in float32, BLOOM's softmax runs in float32. Errors of a few
 * float32 ulps in the logits (|logit| <~ 10) reach the outputs: 64 ulps.
 */
const FLOAT32_STEP_IN_FLOAT64_MODULE = { rtol: 64 * FLOAT32_EPS, atol: 64 * FLOAT32_EPS };

const tensor = (data: number[], shape: number[]) => np.array(Float64Array.from(data)).reshape(shape);

interface Case {
  name: string;
  heads: number;
  kvHeads?: number;
  headDim: number;
  length: number;
  q: number[];
  k: number[];
  v: number[];
  out: number[];
}

describe("Llama attention (RoPE from the config, grouped-query)", () => {
  for (const c of fixture<Case & { config: HFConfig; scale: number }>("hf_attention_llama").cases) {
    it(c.name, async () => {
      const { heads: H, kvHeads: Hkv = H, headDim: D, length: S } = c;
      const out = attention(tensor(c.q, [1, H, S, D]), tensor(c.k, [1, Hkv, S, D]), tensor(c.v, [1, Hkv, S, D]), {
        causal: true,
        scale: c.scale,
        pe: { type: "rotary", pairing: "halves", frequencies: { hfConfig: c.config } },
      });
      expectClose(await read(out), c.out, FLOAT32_STEP_IN_FLOAT64_MODULE, c.name);
    });
  }
});

describe("T5 attention (relative buckets, no scaling)", () => {
  for (const c of fixture<Case & { bidirectional: boolean; numBuckets: number; maxDistance: number; table: number[] }>("hf_attention_t5")
    .cases) {
    it(c.name, async () => {
      const { heads: H, headDim: D, length: S } = c;
      const out = attention(tensor(c.q, [1, H, S, D]), tensor(c.k, [1, H, S, D]), tensor(c.v, [1, H, S, D]), {
        causal: !c.bidirectional,
        scale: 1,
        pe: {
          type: "bias",
          kind: "t5",
          table: tensor(c.table, [c.numBuckets, H]),
          bidirectional: c.bidirectional,
          numBuckets: c.numBuckets,
          maxDistance: c.maxDistance,
        },
      });
      // BLOOM's softmax runs in float32 (dtype=torch.float32) even for a float64 module
      expectClose(await read(out), c.out, FLOAT64_FORMULA, c.name);
    });
  }
});

describe("BLOOM attention (ALiBi)", () => {
  for (const c of fixture<Case>("hf_attention_bloom").cases) {
    it(c.name, async () => {
      const { heads: H, headDim: D, length: S } = c;
      // BLOOM adds slope * key position (row-constant shift of -slope |i - j| under the causal mask);
      // its slopes are float32 values, used here as they are.
      const out = attention(tensor(c.q, [1, H, S, D]), tensor(c.k, [1, H, S, D]), tensor(c.v, [1, H, S, D]), {
        causal: true,
        pe: { type: "bias", kind: "alibi", slopes: slopes(H) },
      });
      expectClose(await read(out), c.out, FLOAT32_STEP_IN_FLOAT64_MODULE, c.name);
    });
  }
});
