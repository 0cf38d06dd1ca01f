/**
 * Fused WebGPU kernelized attention with FFT RPE against the jax-js composite
 * (PRF features, then `kernelizedAttentionInChunks`) on the current WebGPU
 * device, float32, B = 1, PRF features ("softmax" input scale), causal:
 *
 *   npx tsx bench/kernelizedAttention.ts                                  # --sizes 1024,4096 --heads 8 --dim 64 --reps 5
 *   npx tsx bench/kernelizedAttention.ts --sizes 16384,65536 --no-composite
 *   npx tsx bench/kernelizedAttention.ts --sizes 65536 --no-composite --max-workgroup-fft 4096   # FFT levels of up to 4096 points
 *
 * D = Dv = M = --dim; the bias is b_o = -0.01 |o| as in
 * scripts/bench/torch_anchor.py. Each path runs a few times to compile and
 * warm up, then `--reps` times, timed to the end of its GPU work
 * (`device.queue.onSubmittedWorkDone()`); the table shows medians, the bytes
 * the fused passes read and write (`kernelizedFusedTraffic`) over the fused
 * time (GB/s), and the ratio composite / fused. Every row also reports the
 * largest difference between the outputs (--no-composite: checks that the
 * fused output is finite). Without l2 normalisation (as the anchor) the
 * features span many orders of magnitude, and the first rows of causal
 * attention, whose denominators are tiny next to the channels' norms, carry
 * the relative FFT error of both paths (see test/attention/kernelizedReference.ts).
 */
import { getWebGPUDevice, numpy as np } from "@jax-js/jax";
import { prf } from "../src/attention/featureMaps.js";
import { kernelizedAttentionInChunks } from "../src/attention/kernelized.js";
import { kernelizedAttentionFused, kernelizedFusedTraffic, planKernelizedFused } from "../src/kernels/webgpu/kernelizedAttention.js";
import { gaussianOrthogonalProjection } from "../src/pe/orthogonalFeatures.js";
import { rng } from "../src/pe/random.js";
import { init, teardown } from "../src/runtime/init.js";
import { parseFlags } from "./flags.js";
import { timeRuns } from "./timing.js";

const flags = parseFlags("bench/kernelizedAttention.ts", process.argv.slice(2), {
  sizes: { kind: "ints", default: [1024, 4096] },
  heads: { kind: "int", default: 8 },
  dim: { kind: "int", default: 64 },
  reps: { kind: "int", default: 5 },
  "max-workgroup-fft": { kind: "int", default: undefined },
  "no-composite": { kind: "switch" },
});
const { sizes, heads: H, dim: D, reps } = flags;
const withComposite = !flags["no-composite"];
const maxWorkgroupFft = flags["max-workgroup-fft"];
const warmup = 2;
const M = D;
const Dv = D;

const rt = await init({ device: "webgpu" });
const device = getWebGPUDevice();
console.log(
  `device: ${rt.description}; B=1, H=${H}, D=Dv=M=${D}, PRF, causal, float32; median of ${reps} runs after ${warmup} warm-up runs` +
    (withComposite ? "" : "; composite skipped"),
);

/** Median ms of `reps` runs after `warmup` untimed ones. */
const time = async (run: () => Promise<void>) => (await timeRuns(run, { warmup, warmupMs: 0, reps })).medianMs;

const W = Float32Array.from(gaussianOrthogonalProjection(M, D, { seed: 1, scaling: "chi" }));
const rows: string[][] = [["L", "FFT levels", "fused ms", "GB moved", "GB/s", "composite ms", "composite/fused", "max |diff|"]];
for (const L of sizes) {
  const r = rng(L);
  const rand = (n: number) => Float32Array.from({ length: n }, () => r.normal());
  const q = np.array(rand(H * L * D)).reshape([1, H, L, D]);
  const k = np.array(rand(H * L * D)).reshape([1, H, L, D]);
  const v = np.array(rand(H * L * Dv)).reshape([1, H, L, Dv]);
  const bias = Float32Array.from({ length: H * (2 * L - 1) }, (_, i) => -0.01 * Math.abs((i % (2 * L - 1)) - (L - 1)));
  const b = np.array(bias).reshape([H, 2 * L - 1]);
  const w = np.array(W).reshape([M, D]);
  const fused = () =>
    kernelizedAttentionFused(q.ref, k.ref, v.ref, {
      causal: true,
      qkNorm: "none",
      rpe: b.ref,
      features: { kind: "prf", projection: w.ref, inputScale: "softmax" },
      maxWorkgroupFft,
    });
  const composite = () => {
    const phiQ = prf(q.ref, w.ref, { role: "query", inputScale: "softmax" });
    const phiK = prf(k.ref, w.ref, { role: "key", inputScale: "softmax" });
    return kernelizedAttentionInChunks(phiQ, phiK, v.ref, { rpe: b.ref, causal: true });
  };

  // the fused path first: the composite leaves large allocations behind in jax-js
  const out = await fused();
  const got = await out.data();
  out.dispose();
  const tFused = await time(async () => {
    const o = await fused();
    await device.queue.onSubmittedWorkDone();
    o.dispose();
  });
  let diff = 0;
  let tComposite = NaN;
  if (withComposite) {
    const expected = await (await composite()).data();
    for (let i = 0; i < got.length; i++) diff = Math.max(diff, Math.abs(got[i] - expected[i]));
    tComposite = await time(async () => {
      const o = await (await composite()).blockUntilReady();
      await device.queue.onSubmittedWorkDone();
      o.dispose();
    });
  } else {
    for (let i = 0; i < got.length; i++) if (!Number.isFinite(got[i])) throw new Error(`bench: fused output ${i} is ${got[i]} at L=${L}`);
  }
  const plan = planKernelizedFused(1, H, L, M, Dv, { maxWorkgroupFft });
  const bytes = kernelizedFusedTraffic(1, H, L, D, M, Dv, plan);
  rows.push([
    String(L),
    plan.levels.join("x"),
    tFused.toFixed(2),
    (bytes / 1e9).toFixed(2),
    (bytes / 1e6 / tFused).toFixed(0),
    withComposite ? tComposite.toFixed(2) : "-",
    withComposite ? (tComposite / tFused).toFixed(2) : "-",
    withComposite ? diff.toExponential(1) : "-",
  ]);
  for (const x of [q, k, v, b, w]) x.dispose();
}

const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
for (const row of rows) console.log(row.map((cell, c) => cell.padStart(widths[c])).join("  "));
await teardown();
