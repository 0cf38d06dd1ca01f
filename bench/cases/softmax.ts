/**
 * Benchmark cases of softmax attention for `npm run bench` (bench/run.ts):
 * causal, float32, B = 1, H = 8, D = Dv = 64, plain and with ALiBi.
 *
 * - fused: `flashAttention` (one WGSL kernel, online softmax, the ALiBi bias
 *   computed in the kernel), WebGPU only;
 * - composite: `jit(attention)`, which materializes the (B, H, L, L) logits;
 *   skipped when they exceed one storage buffer of the device
 *   (`maxStorageBufferBindingSize`).
 *
 * FLOPs: the two products q k^T and p v over the L^2 / 2 visible (query, key)
 * pairs, a multiply-add counted as 2: 2 * 2 * B H (L^2 / 2) D. The softmax's
 * exponentials and the bias are not counted (FlashAttention's convention).
 * Bytes: q, k, v read and the output written once, 4 B H L (3 D + Dv).
 */
import { jit, numpy as np } from "@jax-js/jax";
import { attention } from "../../src/attention/attention.js";
import type { AttentionPE } from "../../src/attention/spec.js";
import { flashAttention } from "../../src/kernels/webgpu/flashAttention.js";
import { slopes } from "../../src/pe/alibi.js";
import { rng } from "../../src/pe/random.js";
import {
  arrayOutput,
  type BenchCase,
  type BenchEnv,
  formatBytes,
  type Implementation,
  normals,
  SHAPE,
  type TorchAnchor,
  tensorOutput,
} from "./case.js";

const { B, H, D } = SHAPE;

interface Inputs {
  q: np.Array; // (B, H, L, D)
  k: np.Array; // (B, H, L, D)
  v: np.Array; // (B, H, L, D)
  pe: AttentionPE;
  L: number;
}

/**
 * Both sides compute in float32 with the same bias and the device's exp, but
 * sum in different orders (the composite's reductions over D and S, the
 * kernel's online softmax rescaling block by block): a few hundred float32
 * ulps of the O(1) outputs, as test/kernels/flashAttention.webgpu.test.ts
 * argues for its FUSED_FLOAT32 tolerance, 512 * 2^-24.
 */
const FUSED_FLOAT32 = { rtol: 512 * 2 ** -24, atol: 512 * 2 ** -24 };

function fused(x: Inputs, env: BenchEnv): Implementation {
  return {
    role: "fused",
    name: "flashAttention",
    skip: env.webgpu ? null : "the fused kernels need WebGPU (no adapter here; the composites ran on WebAssembly)",
    run: async () => tensorOutput(await flashAttention(x.q.ref, x.k.ref, x.v.ref, { causal: true, pe: x.pe })),
    dispose: () => {},
  };
}

function composite(x: Inputs, env: BenchEnv): Implementation {
  const scores = 4 * B * H * x.L * x.L;
  const limit = env.runtime.limits.maxStorageBufferBindingSize;
  const f = jit((q: np.Array, k: np.Array, v: np.Array) => attention(q, k, v, { causal: true, pe: x.pe }));
  return {
    role: "composite",
    name: "jit(attention)",
    skip:
      scores > limit
        ? `its (H, L, L) logits need ${formatBytes(scores)}, more than one storage buffer (maxStorageBufferBindingSize ${formatBytes(limit)})`
        : null,
    run: async () => arrayOutput(await f(x.q.ref, x.k.ref, x.v.ref).blockUntilReady()),
    dispose: () => f.dispose(),
  };
}

function softmaxCase(id: string, title: string, torch: TorchAnchor, pe: () => AttentionPE): BenchCase {
  return {
    id,
    group: "softmax",
    title,
    torch,
    tolerance: FUSED_FLOAT32,
    flops: (L) => 2 * 2 * B * H * ((L * L) / 2) * D,
    bytes: (L) => 4 * B * H * L * (3 * D + D),
    setup(L, env) {
      const r = rng(L);
      const array = () => np.array(normals(B * H * L * D, () => r.normal())).reshape([B, H, L, D]);
      const x: Inputs = { q: array(), k: array(), v: array(), pe: pe(), L };
      return {
        implementations: [fused(x, env), composite(x, env)],
        dispose: () => [x.q, x.k, x.v].forEach((a) => a.dispose()),
      };
    },
  };
}

/** Causal softmax attention, no positional encoding (PyTorch: SDPA is_causal). */
export const causal = softmaxCase("causal", "softmax attention, causal", "sdpa_causal", () => ({ type: "none" }));

/** Causal softmax attention with ALiBi (PyTorch: SDPA with the materialized (H, L, L) bias). */
export const alibi = softmaxCase("alibi", "softmax attention, causal, ALiBi bias", "sdpa_bias", () => ({
  type: "bias",
  kind: "alibi",
  slopes: slopes(H),
}));
