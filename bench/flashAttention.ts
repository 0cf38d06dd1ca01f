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
 */
import { getWebGPUDevice, jit, numpy as np } from "@jax-js/jax";
import { attention } from "../src/attention/attention.js";
import type { AttentionPE } from "../src/attention/spec.js";
import { flashAttention } from "../src/kernels/webgpu/flashAttention.js";
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
});
const { sizes, heads: H, dim: D, reps } = flags;
const warmup = 2;
const withComposite = !flags["no-composite"];
const peFilter = flags.pe;

const rt = await init({ device: "webgpu" });
const device = getWebGPUDevice();
console.log(`device: ${rt.description}; B=1, H=${H}, D=Dv=${D}, causal, float32; median of ${reps} runs after ${warmup} warm-up runs`);

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
  const q = np.array(rand(H * L * D)).reshape([1, H, L, D]);
  const k = np.array(rand(H * L * D)).reshape([1, H, L, D]);
  const v = np.array(rand(H * L * D)).reshape([1, H, L, D]);
  for (const [name, pe] of pes) {
    const composite = jit((a: np.Array, b: np.Array, c: np.Array) => attention(a, b, c, { causal: true, pe }));
    const fused = () => flashAttention(q.ref, k.ref, v.ref, { causal: true, pe });
    // agreement first
    const out = await fused();
    const got = await out.data();
    out.dispose();
    let diff = 0;
    if (withComposite) {
      const expected = await composite(q.ref, k.ref, v.ref).data();
      for (let i = 0; i < got.length; i++) diff = Math.max(diff, Math.abs(got[i] - expected[i]));
    } else if (!got.every(Number.isFinite)) {
      diff = NaN;
    }

    const tComposite = withComposite
      ? await time(async () => {
          const o = await composite(q.ref, k.ref, v.ref).blockUntilReady();
          await device.queue.onSubmittedWorkDone();
          o.dispose();
        })
      : NaN;
    const tFused = await time(async () => {
      const o = await fused();
      await device.queue.onSubmittedWorkDone();
      o.dispose();
    });
    composite.dispose();
    const tflops = (4 * H * L * L * D) / 2 / (tFused * 1e-3) / 1e12;
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
  q.dispose();
  k.dispose();
  v.dispose();
}

const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
for (const row of rows) console.log(row.map((cell, c) => cell.padStart(widths[c])).join("  "));
await teardown();
