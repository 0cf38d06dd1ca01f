/**
 * Memory and time of kernelized attention with RPE at a long sequence, float32
 * on WebAssembly:
 *
 *   npx tsx bench/kernelizedMemory.ts                      # L=16384, H=8, M=64, Dv=64, B=1, causal
 *   npx tsx bench/kernelizedMemory.ts --L 4096 --bidirectional
 *
 * Peak memory is read three ways: the process's maximum resident set size
 * from the OS (`process.resourceUsage().maxRSS`), the resident set size
 * sampled every 20 ms from a worker thread (the main thread is busy inside
 * jax-js while it computes), and the size of jax-js's WebAssembly linear
 * memory, which only grows, so its final size is its peak. A few output rows
 * are checked against the float64 formula so that the timing is of a correct
 * computation.
 */
import { Worker } from "node:worker_threads";
import { wasmMemories } from "../src/lab/wasmMemory.js"; // first: before jax-js creates its memory
import { parseFlags } from "./flags.js";

const { numpy: np } = await import("@jax-js/jax");
const { init } = await import("../src/runtime/init.js");
const { kernelizedAttentionInChunks, planKernelized } = await import("../src/attention/kernelized.js");
const { memoryBudget } = await import("../src/attention/memoryBudget.js");
const { fftLength } = await import("../src/attention/toeplitz.js");
const { rng } = await import("../src/pe/random.js");

const flags = parseFlags("bench/kernelizedMemory.ts", process.argv.slice(2), {
  L: { kind: "int", default: 16384 },
  H: { kind: "int", default: 8 },
  M: { kind: "int", default: 64 },
  Dv: { kind: "int", default: 64 },
  B: { kind: "int", default: 1 },
  bidirectional: { kind: "switch" },
});
const { L, H, M, Dv, B } = flags;
const causal = !flags.bidirectional;

const MiB = 2 ** 20;
const mib = (bytes: number) => (bytes / MiB).toFixed(0);

// Sample the process RSS from another thread while the main thread computes.
const sampler = new Worker(
  `const { parentPort } = require("node:worker_threads");
   let peak = 0;
   const tick = () => { peak = Math.max(peak, process.memoryUsage.rss()); };
   const timer = setInterval(tick, 20);
   parentPort.on("message", (m) => { tick(); if (m === "stop") { clearInterval(timer); } parentPort.postMessage(peak); });`,
  { eval: true },
);
const samplerPeak = () =>
  new Promise<number>((resolve) => {
    sampler.once("message", resolve);
    sampler.postMessage("peak");
  });

const rows: Array<[string, string]> = [];
const note = (what: string, value: string) => rows.push([what, value]);

const rt = await init({ device: "wasm" });
const t0 = performance.now();

// float32 inputs: positive features exp(N(0,1)) / sqrt(M), values N(0,1), a decaying relative bias
const r = rng(1);
const phiQ = new Float32Array(B * H * L * M);
const phiK = new Float32Array(B * H * L * M);
for (let i = 0; i < phiQ.length; i++) {
  phiQ[i] = Math.exp(r.normal()) / Math.sqrt(M);
  phiK[i] = Math.exp(r.normal()) / Math.sqrt(M);
}
const v = Float32Array.from({ length: B * H * L * Dv }, () => r.normal());
const rpe = Float32Array.from({ length: H * (2 * L - 1) }, (_, i) => 0.5 * r.normal() - 0.01 * Math.abs((i % (2 * L - 1)) - (L - 1)));
const inputBytes = 4 * (phiQ.length + phiK.length + v.length + rpe.length);
const tInputs = performance.now();
const rssBefore = process.memoryUsage().rss;

const budget = memoryBudget("bench", undefined);
const plan = planKernelized("bench", B, H, L, M, Dv, np.float32, budget);
const chunks = plan.heads.length * plan.features.length * plan.values.length;

const out = await kernelizedAttentionInChunks(
  np.array(phiQ).reshape([B, H, L, M]),
  np.array(phiK).reshape([B, H, L, M]),
  np.array(v).reshape([B, H, L, Dv]),
  { rpe: np.array(rpe).reshape([H, 2 * L - 1]), causal },
);
const z = await out.data();
const tDone = performance.now();
const usage = process.memoryUsage();
const sampledRss = await samplerPeak();
sampler.postMessage("stop");
await sampler.terminate();

// Check a few rows of head 0 (batch 0) against the float64 formula.
let worst = 0;
for (const i of [0, 1, Math.floor(L / 2), L - 1]) {
  const used = causal ? L : 2 * L - 1;
  let bmax = -Infinity;
  for (let o = 0; o < used; o++) bmax = Math.max(bmax, rpe[o]);
  const num = new Float64Array(Dv);
  let den = 0;
  for (let j = 0; j <= (causal ? i : L - 1); j++) {
    let dot = 0;
    for (let m = 0; m < M; m++) dot += phiQ[i * M + m] * phiK[j * M + m];
    const w = dot * Math.exp(rpe[j - i + L - 1] - bmax);
    den += w;
    for (let d = 0; d < Dv; d++) num[d] += w * v[j * Dv + d];
  }
  for (let d = 0; d < Dv; d++) worst = Math.max(worst, Math.abs(z[i * Dv + d] - num[d] / den) / (1 + Math.abs(num[d] / den)));
}

const wasmBytes = wasmMemories.reduce((a, m) => Math.max(a, m.buffer.byteLength), 0);
note("device", rt.description);
note("shape", `B=${B} H=${H} L=${L} M=${M} Dv=${Dv} float32, ${causal ? "causal" : "bidirectional"}, with RPE`);
note("FFT length n", String(fftLength(L)));
note(
  "chunks (head x feature x value blocks)",
  `${chunks} = ${plan.heads.length} x ${plan.features.length} x ${plan.values.length}, target ${mib(budget.chunkBytes)} MiB`,
);
note("inputs + output (MiB)", `${mib(inputBytes)} + ${mib(4 * B * H * L * Dv)}`);
note("time: inputs (s)", ((tInputs - t0) / 1000).toFixed(1));
note("time: kernelizedAttentionInChunks + read (s)", ((tDone - tInputs) / 1000).toFixed(1));
note("peak RSS, OS maxRSS (MiB)", mib(process.resourceUsage().maxRSS * 1024));
note("peak RSS, sampled every 20 ms (MiB)", mib(sampledRss));
note("RSS before the call (MiB)", mib(rssBefore));
note("WebAssembly memory, final = peak (MiB)", mib(wasmBytes));
note("arrayBuffers / external after (MiB)", `${mib(usage.arrayBuffers)} / ${mib(usage.external)}`);
note("max error of 4 rows vs float64 (relative to 1 + |z|)", worst.toExponential(2));

const width = Math.max(...rows.map(([k]) => k.length));
for (const [k, val] of rows) console.log(`${k.padEnd(width)}  ${val}`);
