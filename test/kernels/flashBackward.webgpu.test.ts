/**
 * The fused attention backward against the gradient of the `attention`
 * composite (jax-js `vjp`) on the same device in float32 (Dawn; Mesa lavapipe
 * in CI), and the forward's statistics and output written into jax-js arrays.
 */
import { numpy as np, vjp } from "@jax-js/jax";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type AttentionOptions, attention } from "../../src/attention/attention.js";
import type { AttentionPE } from "../../src/attention/spec.js";
import { type FlashAttentionOptions, flashAttentionWithStats } from "../../src/kernels/webgpu/flashAttention.js";
import { flashAttentionBackward } from "../../src/kernels/webgpu/flashBackward.js";
import { slopes } from "../../src/pe/alibi.js";
import { inverseFrequencies } from "../../src/pe/rope/frequencies.js";
import { init, teardown } from "../../src/runtime/init.js";
import { randn } from "../gradcheck.js";
import { expectClose, FLOAT32_EPS } from "../tolerance.js";
import { type Case, f32 } from "./attentionCase.js";

// lavapipe compiles each configuration's three pipelines in several seconds
vi.setConfig({ testTimeout: 300_000 });

beforeAll(async () => {
  await init({ device: "webgpu" });
});
afterAll(teardown);

/**
 * Both sides compute in float32 with the same exp and rotation; they sum in
 * different orders. Each gradient is a sum over S (or L) of products of P, dP
 * and q or k, as the forward's output is a sum over S of P v; the extra
 * factor (dP - delta) is itself a reordered sum over Dv. The forward's bound
 * (flashAttention.webgpu.test.ts: 512 eps, for sums of a few hundred O(1)
 * terms) is kept for values; gradients are compared against their largest
 * magnitude (atol scaled by max |g|), since an entry that cancels to near
 * zero keeps the absolute error of its terms.
 */
const FUSED_GRAD_FLOAT32 = 512 * FLOAT32_EPS;

async function compareGradients(c: Case, pe: () => AttentionPE | undefined, opts: Omit<FlashAttentionOptions, "pe">, what: string) {
  const B = c.B ?? 1;
  const Dv = c.Dv ?? c.D;
  const q = randn([B, c.H, c.L, c.D], 3, 0.7);
  const k = randn([B, c.Hkv, c.S, c.D], 4, 0.7);
  const v = randn([B, c.Hkv, c.S, Dv], 5);
  const dO = randn([B, c.H, c.L, Dv], 6);
  const [y, pull] = vjp(
    (a: np.Array, b: np.Array, w: np.Array) => attention(a, b, w, { ...(opts as AttentionOptions), pe: pe() }),
    [f32(q), f32(k), f32(v)],
  );
  const expectedOut = await y.data();
  const [gq, gk, gv] = pull(f32(dO));
  pull.dispose();
  const { out, stats } = await flashAttentionWithStats(f32(q), f32(k), f32(v), { ...opts, pe: pe() });
  expect([out.shape, out.dtype, stats.shape]).toEqual([[B, c.H, c.L, Dv], np.float32, [B, c.H, c.L, 2]]);
  const got = await flashAttentionBackward(f32(q), f32(k), f32(v), out.ref, stats, f32(dO), { ...opts, pe: pe() });
  stats.dispose();
  expectClose(await out.data(), expectedOut, { rtol: FUSED_GRAD_FLOAT32, atol: FUSED_GRAD_FLOAT32 }, `${what}: out`);
  for (const [name, g, e] of [
    ["dq", got.dq, gq],
    ["dk", got.dk, gk],
    ["dv", got.dv, gv],
  ] as const) {
    expect(g.shape, name).toEqual(e.shape);
    const expected = await e.data();
    const scale = Math.max(1, ...Array.from(expected, Math.abs));
    expectClose(await g.data(), expected, { rtol: FUSED_GRAD_FLOAT32, atol: FUSED_GRAD_FLOAT32 * scale }, `${what}: ${name}`);
  }
}

const inv16 = inverseFrequencies(16, 10000);
const inv8 = inverseFrequencies(8, 10000);

describe("flashAttentionBackward equals the composite's gradient", () => {
  it("causal, grouped-query, RoPE halves (full and partial with an attention factor), lengths not multiples of the tile", async () => {
    const rope = (inv: Float64Array | number[], attentionFactor?: number): AttentionPE => ({
      type: "rotary",
      pairing: "halves",
      frequencies: { invFreq: inv, ...(attentionFactor ? { attentionFactor } : {}) },
    });
    await compareGradients({ B: 2, H: 4, Hkv: 2, L: 37, S: 37, D: 16 }, () => rope(inv16), { causal: true }, "rope causal gqa");
    await compareGradients({ H: 2, Hkv: 1, L: 21, S: 21, D: 16 }, () => rope(inv8, 1.2), { causal: true }, "partial rope");
  });

  it("bidirectional with no PE; interleaved RoPE; D and Dv that are not multiples of 16; wide heads", async () => {
    await compareGradients({ H: 2, Hkv: 2, L: 19, S: 33, D: 6, Dv: 10 }, () => undefined, {}, "cross lengths, odd dims");
    await compareGradients(
      { H: 2, Hkv: 2, L: 24, S: 24, D: 16 },
      () => ({ type: "rotary", pairing: "interleaved", frequencies: { invFreq: inv16 } }),
      {},
      "rope interleaved",
    );
    // D + Dv over 160: the invocation's own rows are read from memory instead of registers
    await compareGradients({ H: 2, Hkv: 1, L: 20, S: 20, D: 96 }, () => undefined, { causal: true }, "rows from memory");
  });

  it("a window with ALiBi, a query offset (KV cache), and queries that see no key", async () => {
    const alibi = (): AttentionPE => ({ type: "bias", kind: "alibi", slopes: slopes(4) });
    await compareGradients({ H: 4, Hkv: 4, L: 40, S: 40, D: 8 }, alibi, { window: [5, 3] }, "window alibi");
    await compareGradients({ H: 4, Hkv: 2, L: 9, S: 30, D: 8 }, alibi, { causal: true }, "query offset");
    // queries at index t see keys t - 2 .. t; those past S + 2 see none, and the composite averages v
    await compareGradients(
      { H: 2, Hkv: 2, L: 12, S: 6, D: 8 },
      () => undefined,
      { window: [2, 0], queryOffset: 0 },
      "queries seeing no key",
    );
  });
});

describe("flashAttentionBackward refuses what it does not compute", () => {
  it("a learnable bias, and outputs or statistics of the wrong shape", async () => {
    const q = () => f32(randn([1, 2, 8, 4], 1));
    const table = (): AttentionPE => ({ type: "bias", kind: "table", table: np.zeros([2, 5]), maxDistance: 2 });
    const { out, stats } = await flashAttentionWithStats(q(), q(), q());
    await expect(flashAttentionBackward(q(), q(), q(), out.ref, stats, q(), { pe: table() })).rejects.toThrow(
      "flashAttentionBackward: the gradient of a learnable bias (table) is not computed by the fused backward",
    );
    await expect(flashAttentionBackward(q(), q(), q(), out.ref.reshape([1, 2, 4, 8]), stats, q())).rejects.toThrow(
      "flashAttentionBackward: out must be a float32 webgpu array of shape (1, 2, 8, 4), got float32 webgpu (1, 2, 4, 8)",
    );
    await expect(flashAttentionBackward(q(), q(), q(), out.ref, { shape: [1, 2, 8, 2] } as never, q())).rejects.toThrow(
      "flashAttentionBackward: stats must be the (1, 2, 8, 2) GpuTensor of statistics from flashAttentionWithStats, got",
    );
    out.dispose();
    stats.dispose();
  });
});
