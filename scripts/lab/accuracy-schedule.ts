/**
 * Chooses the learning rate of `posenc lab accuracy --preset quick` on
 * validation examples: softmax attention, the reference the experiment needs
 * to fit, trains at the preset's step budget with each candidate rate and is
 * evaluated on VALIDATION_SEED's examples (the report's are HELD_OUT_SEED's).
 * Prints the trials and writes them to docs/tuning/accuracy-schedule.json.
 * Run on WebAssembly, one worker thread per core:
 * `npx tsx scripts/lab/accuracy-schedule.ts`.
 */
import { writeFileSync } from "node:fs";
import { availableParallelism, cpus } from "node:os";
import { resolve } from "node:path";
import { ACCURACY_PRESETS, accuracyWork, runAccuracy, VALIDATION_SEED } from "../../src/lab/accuracy.js";
import { Progress } from "../../src/lab/progress.js";
import { workerPool } from "../../src/lab/workerPool.js";
import { init, teardown } from "../../src/runtime/init.js";

const OUT = resolve(import.meta.dirname, "../../docs/tuning/accuracy-schedule.json");
const CANDIDATES = [1e-2, 3e-3];
if (process.argv.length > 2) throw new Error(`accuracy-schedule: takes no arguments, got ${process.argv.slice(2).join(" ")}`);
const workers = availableParallelism();
await init({ device: "wasm" });
const pool = workerPool(workers, "wasm");
const t0 = performance.now();
const trials = await Promise.all(
  CANDIDATES.map(async (lr) => {
    const s = { ...ACCURACY_PRESETS.quick, variants: ["softmax"], seeds: 1, lr, evalSeed: VALIDATION_SEED };
    const [run] = await runAccuracy(s, new Progress(`accuracy lr ${lr}`, accuracyWork(s)), pool);
    return { lr, accuracy: run.accuracy, finalLoss: run.losses[run.losses.length - 1] };
  }),
);
const seconds = (performance.now() - t0) / 1000;
await teardown();
for (const t of trials)
  console.log(`softmax lr ${t.lr}: validation accuracy ${t.accuracy.toFixed(3)}, last loss ${t.finalLoss.toExponential(2)}`);
writeFileSync(
  OUT,
  `${JSON.stringify(
    {
      command: "npx tsx scripts/lab/accuracy-schedule.ts",
      device: `wasm on ${cpus()[0]?.model.trim() ?? "unknown CPU"}, ${cpus().length} cores, ${workers} worker threads`,
      date: new Date().toISOString(),
      seconds,
      settings: { ...ACCURACY_PRESETS.quick, variants: ["softmax"], seeds: 1, evalSeed: VALIDATION_SEED },
      trials,
    },
    null,
    1,
  )}\n`,
);
console.log(`wrote ${OUT} (${seconds.toFixed(0)} s)`);
