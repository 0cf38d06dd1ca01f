/** Gradient checks of softmax attention with every learnable positional encoding, and CoPE against its formula. */
import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, it } from "vitest";
import { attention } from "../../src/attention/attention.js";
import { slopes } from "../../src/pe/alibi.js";
import { inverseFrequencies } from "../../src/pe/rope/frequencies.js";
import { init } from "../../src/runtime/init.js";
import { checkGradients, randn, read } from "../gradcheck.js";
import { expectClose, FLOAT64_FORMULA, JIT_VS_EAGER } from "../tolerance.js";
import { arr } from "./reference.js";

beforeAll(async () => {
  await init({ device: "cpu" });
});

const B = 1,
  H = 2,
  L = 5,
  D = 4;
const q = randn([B, H, L, D], 1, 0.7);
const k = randn([B, H, L, D], 2, 0.7);
const v = randn([B, H, L, 3], 3);

describe("gradients of attention", () => {
  it("q, k, v with ALiBi, causal, window, grouped-query", async () => {
    const kg = randn([B, 1, L, D], 4);
    const vg = randn([B, 1, L, 3], 5);
    await checkGradients(
      (a, b, c) => attention(a, b, c, { causal: true, window: 3, pe: { type: "bias", kind: "alibi", slopes: slopes(H) } }),
      [q, kg, vg],
    );
  });

  it("q, k, v through rotary with xPos and a YaRN config", async () => {
    const hfConfig = {
      head_dim: D,
      num_attention_heads: H,
      max_position_embeddings: 64,
      rope_parameters: { rope_type: "yarn", factor: 4, original_max_position_embeddings: 16 },
    };
    await checkGradients(
      (a, b, c) =>
        attention(a, b, c, {
          causal: true,
          pe: { type: "rotary", pairing: "halves", frequencies: { hfConfig }, xpos: { scaleBase: 8, center: 2 } },
        }),
      [q, k, v],
    );
    await checkGradients(
      (a, b, c) =>
        attention(a, b, c, { pe: { type: "rotary", pairing: "interleaved", frequencies: { invFreq: inverseFrequencies(2, 50) } } }),
      [q, k, v],
    );
  });

  it("the T5 table", async () => {
    await checkGradients(
      (t, a) =>
        attention(a, arr(k), arr(v), { pe: { type: "bias", kind: "t5", table: t, bidirectional: true, numBuckets: 8, maxDistance: 16 } }),
      [randn([8, H], 6), q],
    );
  });

  it("KERPLE r1, r2 (log and power)", async () => {
    const r = (seed: number) => ({ data: randn([H], seed).data.map((x) => 0.5 + Math.abs(x) / 2), shape: [H] });
    for (const variant of ["log", "power"] as const) {
      await checkGradients(
        (r1, r2) => attention(arr(q), arr(k), arr(v), { causal: true, pe: { type: "bias", kind: "kerple", variant, r1, r2 } }),
        [r(7), r(8)],
      );
    }
  });

  it("FIRE MLP, c and threshold", async () => {
    const scalar = (x: number) => ({ data: Float64Array.of(x), shape: [] as number[] });
    await checkGradients(
      (w1, b1, w2, b2, c, thr) =>
        attention(arr(q), arr(k), arr(v), {
          causal: true,
          pe: { type: "bias", kind: "fire", mlp: { w1, b1, w2, b2 }, c, threshold: thr, eps: 1e-6 },
        }),
      [randn([1, 6], 9), randn([6], 10), randn([6, H], 11), randn([H], 12), scalar(0.4), scalar(2.5)],
    );
  });

  it("dynamic MLP bias and learned table", async () => {
    await checkGradients(
      (w1, b1, w2, b2) =>
        attention(arr(q), arr(k), arr(v), { pe: { type: "bias", kind: "mlp", mlp: { w1, b1, w2, b2 }, logDistance: true } }),
      [randn([1, 6], 13), randn([6], 14), randn([6, H], 15), randn([H], 16)],
    );
    await checkGradients(
      (t, a) => attention(a, arr(k), arr(v), { pe: { type: "bias", kind: "table", table: t, maxDistance: 2 } }),
      [randn([H, 5], 17), q],
    );
  });

  it("CoPE embeddings, q and k", async () => {
    await checkGradients(
      (e, a, b) => attention(a, b, arr(v), { causal: true, pe: { type: "contextual", kind: "cope", embeddings: e } }),
      [randn([D, 4], 18), q, k],
    );
  });
});

describe("CoPE equals its formula", () => {
  it("gated positions, clamped, interpolated between integer embeddings", async () => {
    const npos = 3;
    const e = randn([D, npos], 19);
    const scale = 0.5;
    const out = await read(
      attention(arr(q), arr(k), arr(v), { causal: true, scale, pe: { type: "contextual", kind: "cope", embeddings: arr(e) } }),
    );
    const expected = new Float64Array(B * H * L * 3);
    const at = (x: { data: Float64Array }, ...i: number[]) => x.data[i.reduce((acc, v2, j) => acc * [B, H, L, D][j] + v2, 0)];
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < L; i++) {
        const logit = (j: number) => {
          let s = 0;
          for (let d = 0; d < D; d++) s += at(q, 0, h, i, d) * at(k, 0, h, j, d);
          return s * scale;
        };
        const gates = Array.from({ length: L }, (_, j) => (j <= i ? 1 / (1 + Math.exp(-logit(j))) : 0));
        const z = (n: number) => {
          let s = 0;
          for (let d = 0; d < D; d++) s += at(q, 0, h, i, d) * e.data[d * npos + n];
          return s;
        };
        const final = Array.from({ length: L }, (_, j) => {
          if (j > i) return -Infinity;
          const p = Math.min(
            gates.slice(j).reduce((a, g) => a + g, 0),
            npos - 1,
          );
          const w = p - Math.floor(p);
          return logit(j) + z(Math.ceil(p)) * w + z(Math.floor(p)) * (1 - w);
        });
        const m = Math.max(...final);
        const pr = final.map((x) => Math.exp(x - m));
        const sum = pr.reduce((a, c) => a + c, 0);
        for (let j = 0; j <= i; j++)
          for (let d = 0; d < 3; d++) expected[(h * L + i) * 3 + d] += (pr[j] / sum) * v.data[(h * L + j) * 3 + d];
      }
    }
    expectClose(out, expected, FLOAT64_FORMULA);
  });
});

describe("jitted gradients (a gather's gradient is a scatter, which jit cannot compile: lookups are one-hot products)", () => {
  it("T5 table, learned table and CoPE embeddings under jit(grad) equal the eager gradients", async () => {
    const { grad, jit } = await import("@jax-js/jax");
    const specs = {
      t5: (t: np.Array) => ({ type: "bias", kind: "t5", table: t, bidirectional: false, numBuckets: 8, maxDistance: 16 }) as const,
      table: (t: np.Array) => ({ type: "bias", kind: "table", table: t, maxDistance: 2 }) as const,
      cope: (t: np.Array) => ({ type: "contextual", kind: "cope", embeddings: t }) as const,
    };
    const params = { t5: randn([8, H], 21), table: randn([H, 5], 22), cope: randn([D, 4], 23) };
    for (const kind of ["t5", "table", "cope"] as const) {
      const loss = (t: np.Array, a: np.Array) => np.sum(np.square(attention(a, arr(k), arr(v), { causal: true, pe: specs[kind](t) })));
      const eager = await read(grad(loss)(arr(params[kind]), arr(q)));
      const f = jit(grad(loss));
      const jitted = await read(f(arr(params[kind]), arr(q)));
      f.dispose();
      expectClose(jitted, eager, JIT_VS_EAGER, kind);
    }
  });
});
