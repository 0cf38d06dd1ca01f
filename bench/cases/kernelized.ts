/**
 * Benchmark case of kernelized attention with relative positional encoding
 * for `npm run bench` (bench/run.ts): causal, float32, B = 1, H = 8,
 * D = Dv = 64, M = 64 positive random features (PRF, softmax input scaling,
 * no q/k normalisation), relative bias b_{j-i} = -0.01 |j - i| on every head
 * (as scripts/bench/torch_anchor.py uses), Toeplitz products by FFT.
 *
 * Implementations (`IMPLEMENTATIONS`):
 * - fused: `kernelizedAttentionFused` (WGSL: features, FFT Toeplitz products
 *   and the contraction in one command buffer), WebGPU only;
 * - composite: `jit(kernelizedRpeAttention)` while the buffers of all its
 *   chunks, which a jitted call allocates together (about 8 B H M (Dv + 1) n
 *   float32, kernelized.ts), stay under `jitPeakBytes`; above that the
 *   feature maps jitted, then `kernelizedAttentionInChunks`, which awaits
 *   each chunk and so bounds the memory.
 *
 * FLOPs, per (batch, head), with n = fftLength(L) (2L for L a power of two),
 * V = Dv + 1 value channels (the last one all ones, for the denominator) and
 * C = M V channels; a multiply-add counts 2, exp 1, a complex FFT of length n
 * 5 n log2 n (the radix-2 count; two real channels share one complex transform):
 *   feature maps, q and k:     2 L (2 D M + 3 D + 5 M)   (scale, projection, |x|^2/2, stabiliser, exp, 1/sqrt(M))
 *   outer products phi(k) v:   L C
 *   Toeplitz products:         C (5 n log2 n + 3 n)     (C/2 forward and C/2 inverse transforms, complex products)
 *   spectrum of exp(b):        5 n log2 n
 *   contraction with phi(q):   2 L C
 *   ratio:                     L Dv
 * Bytes: q, k, v, the projection and b read and the output written once.
 *
 * Agreement: max |fused - composite| is reported without a pass/fail
 * tolerance. The first causal rows have denominators of a few terms, where
 * both FFT paths carry errors relative to the whole channel norm; the
 * elementwise bound is derived and checked in
 * test/kernels/kernelizedAttention.webgpu.test.ts.
 */

import os from "node:os";
import { jit, numpy as np } from "@jax-js/jax";
import { prf } from "../../src/attention/featureMaps.js";
import { kernelizedAttentionInChunks, kernelizedRpeAttention } from "../../src/attention/kernelized.js";
import { fftLength } from "../../src/attention/toeplitz.js";
import { kernelizedAttentionFused } from "../../src/kernels/webgpu/kernelizedAttention.js";
import { gaussianOrthogonalProjection } from "../../src/pe/orthogonalFeatures.js";
import { rng } from "../../src/pe/random.js";
import { arrayOutput, type BenchCase, type BenchEnv, formatBytes, type Implementation, normals, SHAPE, tensorOutput } from "./case.js";

const { B, H, D, M } = SHAPE;
const Dv = D;

interface Inputs {
  q: np.Array; // (B, H, L, D)
  k: np.Array; // (B, H, L, D)
  v: np.Array; // (B, H, L, Dv)
  W: np.Array; // (M, D)
  b: np.Array; // (H, 2L-1)
  L: number;
}

/**
 * Largest estimated peak of a jitted call: on a GPU, 16 GiB, a fraction of a
 * data-centre GPU's memory that Dawn also needs for the inputs; on a software
 * adapter or WebAssembly, a quarter of the host's memory (WebAssembly: at
 * most 2 GiB of its 4 GiB linear memory).
 */
function jitPeakBytes(env: BenchEnv): number {
  if (env.webgpu && !env.software) return 16 * 2 ** 30;
  const host = os.totalmem() / 4;
  return env.webgpu ? host : Math.min(host, 2 ** 31);
}

function composite(x: Inputs, env: BenchEnv): Implementation {
  const peak = 8 * B * H * M * (Dv + 1) * fftLength(x.L) * 4;
  const features = { kind: "prf", inputScale: "softmax" } as const;
  if (peak <= jitPeakBytes(env)) {
    const f = jit((q: np.Array, k: np.Array, v: np.Array, W: np.Array, b: np.Array) =>
      kernelizedRpeAttention(q, k, v, { features: { ...features, projection: W }, qkNorm: "none", rpe: b, causal: true }),
    );
    return {
      role: "composite",
      name: "jit(kernelizedRpeAttention)",
      skip: null,
      run: async () => arrayOutput(await f(x.q.ref, x.k.ref, x.v.ref, x.W.ref, x.b.ref).blockUntilReady()),
      dispose: () => f.dispose(),
    };
  }
  const phiQ = jit((q: np.Array, W: np.Array) => prf(q, W, { role: "query", inputScale: features.inputScale }));
  const phiK = jit((k: np.Array, W: np.Array) => prf(k, W, { role: "key", inputScale: features.inputScale }));
  return {
    role: "composite",
    name: "jit(prf) + kernelizedAttentionInChunks",
    skip: null,
    note: `a jitted call would allocate ~${formatBytes(peak)} at once; the chunked composite awaits each chunk`,
    run: async () => {
      const out = await kernelizedAttentionInChunks(phiQ(x.q.ref, x.W.ref), phiK(x.k.ref, x.W.ref), x.v.ref, {
        rpe: x.b.ref,
        causal: true,
      });
      return arrayOutput(await out.blockUntilReady());
    },
    dispose: () => {
      phiQ.dispose();
      phiK.dispose();
    },
  };
}

function fused(x: Inputs, env: BenchEnv): Implementation {
  return {
    role: "fused",
    name: "kernelizedAttentionFused",
    skip: env.webgpu ? null : "the fused kernels need WebGPU (no adapter here; the composites ran on WebAssembly)",
    run: async () =>
      tensorOutput(
        await kernelizedAttentionFused(x.q.ref, x.k.ref, x.v.ref, {
          features: { kind: "prf", inputScale: "softmax", projection: x.W.ref },
          qkNorm: "none",
          rpe: x.b.ref,
          causal: true,
        }),
      ),
    dispose: () => {},
  };
}

const IMPLEMENTATIONS: Array<(x: Inputs, env: BenchEnv) => Implementation> = [fused, composite];

export const kernelized: BenchCase = {
  id: "kernelized",
  group: "kernelized",
  title: "kernelized attention, causal, FFT RPE, PRF M=64",
  torch: "kernelized",
  flops(L) {
    const n = fftLength(L);
    const C = M * (Dv + 1);
    const fft = 5 * n * Math.log2(n);
    const perHead = 2 * L * (2 * D * M + 3 * D + 5 * M) + L * C + C * (fft + 3 * n) + fft + 2 * L * C + L * Dv;
    return B * H * perHead;
  },
  bytes: (L) => 4 * (B * H * L * (2 * D + Dv) + M * D + H * (2 * L - 1) + B * H * L * Dv),
  setup(L, env) {
    const r = rng(L);
    const array = (n: number, shape: number[]) => np.array(normals(n, () => r.normal())).reshape(shape);
    const bias = new Float32Array(H * (2 * L - 1));
    for (let i = 0; i < bias.length; i++) bias[i] = -0.01 * Math.abs((i % (2 * L - 1)) - (L - 1));
    const x: Inputs = {
      q: array(B * H * L * D, [B, H, L, D]),
      k: array(B * H * L * D, [B, H, L, D]),
      v: array(B * H * L * Dv, [B, H, L, Dv]),
      W: np.array(Float32Array.from(gaussianOrthogonalProjection(M, D, { seed: 0, scaling: "chi" }))).reshape([M, D]),
      b: np.array(bias).reshape([H, 2 * L - 1]),
      L,
    };
    return {
      implementations: IMPLEMENTATIONS.map((make) => make(x, env)),
      dispose: () => [x.q, x.k, x.v, x.W, x.b].forEach((a) => a.dispose()),
    };
  },
};
