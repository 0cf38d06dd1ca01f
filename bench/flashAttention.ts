/**
 * Fused WebGPU attention kernel against the jitted `attention` composite on
 * the current WebGPU device, float32, causal, B = 1:
 *
 *   npx tsx bench/flashAttention.ts                          # --sizes 256,512 --heads 4 --dim 64
 *   npx tsx bench/flashAttention.ts --sizes 256,1024 --heads 8 --reps 10
 *   npx tsx bench/flashAttention.ts --sizes 16384,65536 --heads 8 --pe alibi --no-composite
 *
 * For each size L = S and positional encoding (none, ALiBi, RoPE "halves";
 * `--pe` picks some, comma-separated), both paths run a few times to compile
 * and warm up, then `--reps` times; each run is timed to the end of its GPU
 * work (`device.queue.onSubmittedWorkDone()` after the composite's output is
 * realized) and the table shows medians, the ratio composite / fused, and the
 * fused kernel's rate in TFLOP/s counting 4 B H L S D / 2 flops (the two
 * matrix products over the causal half). Every row first checks that both
 * outputs agree. `--no-composite` skips the composite (too slow or too large
 * at long lengths): only the fused kernel runs, its output checked finite.
 *
 * `--backward` times a training pass instead: the fused forward with its
 * statistics and `flashAttentionBackward` (dq, dk, dv for a random dO)
 * against the jitted composite's value and VJP; TFLOP/s count the five
 * matrix products of the pass (2 forward, 3 backward; P recomputed is a
 * sixth the kernels do but is not counted), 5 B H L S D flops over the causal half.
 * `--batch` sets B (default 1). scripts/bench/sdpa_backward.py times PyTorch's
 * SDPA forward + backward at the same sizes.
 */
import { getWebGPUDevice, jit, numpy as np, vjp } from "@jax-js/jax";
import { attention } from "../src/attention/attention.js";
import type { AttentionPE } from "../src/attention/spec.js";
import { flashAttention, flashAttentionWithStats } from "../src/kernels/webgpu/flashAttention.js";
import { flashAttentionBackward } from "../src/kernels/webgpu/flashBackward.js";
import { toJaxArray } from "../src/kernels/webgpu/gpuTensor.js";
import { slopes } from "../src/pe/alibi.js";
import { rng } from "../src/pe/random.js";
import { inverseFrequencies } from "../src/pe/rope/frequencies.js";
import { init, teardown } from "../src/runtime/init.js";
import { parseFlags } from "./flags.js";
import { timeRuns } from "./timing.js";

const flags = parseFlags("bench/flashAttention.ts", process.argv.slice(2), {
  sizes: { kind: "ints", default: [256, 512] },
  heads: { kind: "int", default: 4 },
  dim: { kind: "int", default: 64 },
  reps: { kind: "int", default: 5 },
  pe: { kind: "names", default: ["none", "alibi", "rope"], allowed: ["none", "alibi", "rope"] },
  "no-composite": { kind: "switch" },
  backward: { kind: "switch" },
  batch: { kind: "int", default: 1 },
});
const { sizes, heads: H, dim: D, reps, batch: B } = flags;
const backward = flags.backward;
const warmup = 2;
const withComposite = !flags["no-composite"];
const peFilter = flags.pe;

const rt = await init({ device: "webgpu" });
const device = getWebGPUDevice();
console.log(
  `device: ${rt.description}; B=${B}, H=${H}, D=Dv=${D}, causal, float32, ${backward ? "forward + backward" : "forward"}; median of ${reps} runs after ${warmup} warm-up runs`,
);

const pes = (
  [
    ["none", { type: "none" }],
    ["alibi", { type: "bias", kind: "alibi", slopes: slopes(H) }],
    ["rope", { type: "rotary", pairing: "halves", frequencies: { invFreq: inverseFrequencies(D, 10000) } }],
  ] as [string, AttentionPE][]
).filter(([name]) => peFilter.includes(name));

/** Median ms of `reps` runs after `warmup` untimed ones. */
const time = async (run: () => Promise<void>) => (await timeRuns(run, { warmup, warmupMs: 0, reps })).medianMs;

const rows: string[][] = [["L=S", "pe", "composite ms", "fused ms", "composite/fused", "fused TFLOP/s", "max |diff|"]];
for (const L of sizes) {
  const r = rng(L);
  const rand = (n: number) => Float32Array.from({ length: n }, () => r.normal());
  const shape = [B, H, L, D];
  const q = np.array(rand(B * H * L * D)).reshape(shape);
  const k = np.array(rand(B * H * L * D)).reshape(shape);
  const v = np.array(rand(B * H * L * D)).reshape(shape);
  const dO = np.array(rand(B * H * L * D)).reshape(shape);
  for (const [name, pe] of pes) {
    const opts = { causal: true, pe };
    const f = (a: np.Array, b: np.Array, c: np.Array) => attention(a, b, c, opts);
    // forward: the output; backward: the output and dq, dk, dv, concatenated
    const composite = backward
      ? jit((a: np.Array, b: np.Array, c: np.Array, g: np.Array) => {
          const [y, pull] = vjp(f, [a, b, c]);
          return np.concatenate([y, ...pull(g)].map((x) => x.reshape([-1])));
        })
      : jit(f);
    const fused = async (): Promise<np.Array> => {
      if (!backward) return toJaxArray(await flashAttention(q.ref, k.ref, v.ref, opts));
      const { out, stats } = await flashAttentionWithStats(q.ref, k.ref, v.ref, opts);
      const g = await flashAttentionBackward(q.ref, k.ref, v.ref, out.ref, stats, dO.ref, opts);
      stats.dispose();
      return np.concatenate([out, g.dq, g.dk, g.dv].map((x) => x.reshape([-1])));
    };
    const call = composite as unknown as (...a: np.Array[]) => np.Array;
    const runComposite = () => (backward ? call(q.ref, k.ref, v.ref, dO.ref) : call(q.ref, k.ref, v.ref));
    // agreement first
    const got = await (await fused()).data();
    let diff = 0;
    if (withComposite) {
      const expected = await runComposite().data();
      for (let i = 0; i < got.length; i++) diff = Math.max(diff, Math.abs(got[i] - expected[i]));
    } else if (!got.every(Number.isFinite)) {
      diff = NaN;
    }

    const tComposite = withComposite
      ? await time(async () => {
          const o = await runComposite().blockUntilReady();
          await device.queue.onSubmittedWorkDone();
          o.dispose();
        })
      : NaN;
    const tFused = await time(async () => {
      const o = await (await fused()).blockUntilReady();
      await device.queue.onSubmittedWorkDone();
      o.dispose();
    });
    composite.dispose();
    const tflops = ((backward ? 5 : 2) * 2 * B * H * L * L * D) / 2 / (tFused * 1e-3) / 1e12;
    rows.push([
      String(L),
      name,
      withComposite ? tComposite.toFixed(2) : "-",
      tFused.toFixed(2),
      withComposite ? (tComposite / tFused).toFixed(2) : "-",
      tflops.toFixed(2),
      withComposite ? diff.toExponential(1) : Number.isNaN(diff) ? "non-finite" : "-",
    ]);
  }
  for (const x of [q, k, v, dO]) x.dispose();
}

const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
for (const row of rows) console.log(row.map((cell, c) => cell.padStart(widths[c])).join("  "));
await teardown();
