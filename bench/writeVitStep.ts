/**
 * WriteViT's two training steps (src/train/writeVitStep.ts), jitted, on a
 * device of choice: milliseconds per step (call to its losses read on the
 * host), median of --reps after 2 warm-up steps, and the kernels one step
 * launches with the time the engine's trace puts inside them:
 *
 *   npx tsx bench/writeVitStep.ts                                  # wasm, width 32, 4 characters, batch 8
 *   npx tsx bench/writeVitStep.ts --device webgpu --batch 16 --width 64 --chars 6
 *
 * The model is lab handwriting's quick preset's (2 heads, 2 decoder blocks,
 * 2 blocks per stage, discriminator width 16, PEG; the full preset has 1
 * block per stage), trained on 200 synthetic writers;
 * --kernels N also lists the N kernel sizes that take longest.
 */
import { profiler } from "@jax-js/jax";
import { initWriteVit, type WriteVitConfig, wordWidth } from "../src/nn/writeVit.js";
import { rng } from "../src/pe/random.js";
import { init, teardown } from "../src/runtime/init.js";
import { HANDWRITING_ALPHABET, handwritingBatch, handwritingWordSplit, writerIds } from "../src/train/data/handwriting.js";
import { writeVitBatch } from "../src/train/writeVitBatch.js";
import { initWriteVitTraining, makeWriteVitSteps } from "../src/train/writeVitStep.js";
import { parseFlags } from "./flags.js";

const flags = parseFlags("bench/writeVitStep.ts", process.argv.slice(2), {
  device: { kind: "names", default: ["wasm"], allowed: ["wasm", "webgpu", "cpu"] },
  batch: { kind: "int", default: 8 },
  width: { kind: "int", default: 32 },
  chars: { kind: "int", default: 4 },
  reps: { kind: "int", default: 3 },
  kernels: { kind: "int", default: undefined },
});
if (flags.device.length !== 1) throw new Error("bench/writeVitStep.ts: --device takes one device");
const rt = await init({ device: flags.device[0] as "wasm" | "webgpu" | "cpu" });
const B = flags.batch;
const config: WriteVitConfig = {
  maxChars: flags.chars,
  width: flags.width,
  heads: 2,
  decoderDepth: 2,
  stageDepth: 2,
  discriminatorWidth: 16,
  characters: HANDWRITING_ALPHABET.length,
  writers: 200,
  pe: "peg",
};
const W = wordWidth(config);
const words = handwritingWordSplit(config.maxChars).train;
const writers = writerIds("train");
let state = initWriteVitTraining(initWriteVit(config, 1), 2);
const steps = makeWriteVitSteps(config);
const r = rng(3);
const batchOf = (seed: number) => writeVitBatch(config, handwritingBatch({ writers, words, batch: B, width: W, seed }), r);
console.log(
  `device: ${rt.description}; width ${config.width}, ${config.maxChars} characters (${W} px), batch ${B}; median of ${flags.reps} after 2 warm-ups`,
);

let seed = 0;
async function step(which: "critic" | "generator"): Promise<number> {
  const t0 = performance.now();
  const out = which === "critic" ? steps.critic(state, batchOf(seed++), 1e-4) : steps.generator(state, batchOf(seed++), 1e-4);
  state = out.state;
  await Promise.all(Object.values(out.losses).map((a) => a.data()));
  return performance.now() - t0;
}

for (const which of ["critic", "generator"] as const) {
  for (let i = 0; i < 2; i++) await step(which);
  const times: number[] = [];
  for (let i = 0; i < flags.reps; i++) times.push(await step(which));
  times.sort((a, b) => a - b);
  performance.clearMeasures();
  profiler.startTrace();
  await step(which);
  profiler.stopTrace();
  const traced = performance.getEntriesByType("measure");
  const inside = traced.reduce((a, m) => a + m.duration, 0);
  console.log(
    `${which}: ${times[Math.floor(times.length / 2)].toFixed(0)} ms/step; ${traced.length} kernels, ${inside.toFixed(0)} ms inside them`,
  );
  if (flags.kernels !== undefined) {
    const by = new Map<string, [number, number]>();
    for (const m of traced) {
      const v = by.get(m.name) ?? [0, 0];
      by.set(m.name, [v[0] + 1, v[1] + m.duration]);
    }
    for (const [name, [n, ms]] of [...by].sort((a, b) => b[1][1] - a[1][1]).slice(0, flags.kernels))
      console.log(`  ${name.padEnd(24)} ${String(n).padStart(5)} x  ${ms.toFixed(1)} ms`);
  }
}
await teardown();
