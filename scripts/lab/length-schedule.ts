/**
 * Chooses the quick preset's per-training learning rate and step budget of
 * `posenc lab length` on validation seeds at the training length
 * (lab/lengthTune.ts), prints the trials and the choice, and writes them to
 * docs/tuning/length-schedule.json; QUICK_SCHEDULE in lab/length.ts holds
 * the choice (a test checks the two agree). Run on WebAssembly, one worker
 * thread per core: `npx tsx scripts/lab/length-schedule.ts`. With
 * `--resume`, the trials already in that file (same settings) are kept and
 * only the missing ones run.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus } from "node:os";
import { resolve } from "node:path";
import { LENGTH_PRESETS } from "../../src/lab/length.js";
import { type TuneTrial, tuneLength, tuneWork } from "../../src/lab/lengthTune.js";
import { Progress } from "../../src/lab/progress.js";
import { workerPool } from "../../src/lab/workerPool.js";
import { init, teardown } from "../../src/runtime/init.js";

const OUT = resolve(import.meta.dirname, "../../docs/tuning/length-schedule.json");
const settings = { ...LENGTH_PRESETS.quick, schedule: {} };
const workers = availableParallelism();
const args = process.argv.slice(2);
if (args.some((a) => a !== "--resume")) throw new Error(`length-schedule: unknown arguments ${args.join(" ")}; it takes --resume only`);
let known: TuneTrial[] = [];
if (args.includes("--resume") && existsSync(OUT)) {
  const earlier = JSON.parse(readFileSync(OUT, "utf8")) as { settings: unknown; trials: TuneTrial[] };
  if (JSON.stringify(earlier.settings) !== JSON.stringify(settings))
    throw new Error(`length-schedule --resume: ${OUT} was made with other settings; run without --resume`);
  known = earlier.trials;
}
await init({ device: "wasm" });
const t0 = performance.now();
const { trials, schedules } = await tuneLength(
  settings,
  new Progress("length schedule", tuneWork(settings)),
  workerPool(workers, "wasm"),
  known,
);
const seconds = (performance.now() - t0) / 1000;
await teardown();

for (const t of trials)
  console.log(
    `${t.key.padEnd(11)} lr ${t.lr.toExponential(0)}  steps x${t.stepScale}  seed ${t.seed}  accuracy ${t.accuracy.toFixed(3)}  loss ${t.finalLoss.toFixed(4)}`,
  );
console.log("\nchosen (QUICK_SCHEDULE in src/lab/length.ts):");
for (const [key, k] of Object.entries(schedules))
  console.log(
    `  ${key}: { lr: ${k.lr}, stepScale: ${k.stepScale} },  // validation accuracy ${k.accuracy.toFixed(3)}${k.fitted ? "" : ", did not fit"}`,
  );
writeFileSync(
  OUT,
  `${JSON.stringify(
    {
      command: `npx tsx scripts/lab/length-schedule.ts${args.length ? ` ${args.join(" ")}` : ""}`,
      device: `wasm on ${cpus()[0]?.model.trim() ?? "unknown CPU"}, ${cpus().length} cores, ${workers} worker threads`,
      date: new Date().toISOString(),
      seconds,
      settings,
      trials,
      schedules,
    },
    null,
    1,
  )}\n`,
);
console.log(`\nwrote ${OUT} (${seconds.toFixed(0)} s)`);
