/**
 * Probes of how WriteViT's generator trains, at the size of `posenc lab
 * handwriting --preset full`, PEG only, one seed, 100 critic-only + 600
 * adversarial iterations, the model's recognizer and writer identifier
 * pretrained on real words (the preset's `pretrain`):
 *
 *   pretrained   the preset as it is (WriteViT's losses + the paired L1 term at alpha 4, a generator step every 2nd iteration)
 *   no-l1        WriteViT's losses only (reconstruction 0)
 *   every        a generator step every iteration (600 instead of 300)
 *   every-lr     the same at lr 1e-3 for all four networks (the preset: 3e-4)
 *
 * Each probe saves into OUT/<probe>/handwriting-runs; the judges train in the
 * first and are copied to the others (they depend only on the model's sizes,
 * the writers and their own settings, which the probes share). Prints the
 * scores and writes them, with the generator's late losses, to
 * docs/tuning/handwriting-probes.json. With `--resume` the trainings OUT
 * holds are kept; without it every probe starts from an empty directory.
 * About 30 minutes a probe on two cores (wasm):
 *
 *   npx tsx scripts/lab/handwriting-probes.ts OUT [--resume]
 */
import { cpSync, existsSync, rmSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join, resolve } from "node:path";
import { HANDWRITING_PRESETS, type HandwritingSettings, handwritingWork, runHandwriting } from "../../src/lab/handwriting.js";
import { Progress } from "../../src/lab/progress.js";
import { mean } from "../../src/lab/stats.js";
import { init, teardown } from "../../src/runtime/init.js";

const PROBES: Record<string, Partial<HandwritingSettings>> = {
  pretrained: {},
  "no-l1": { reconstruction: 0 },
  every: { generatorEvery: 1 },
  "every-lr": { generatorEvery: 1, lr: 1e-3 },
};
const DOC = resolve(import.meta.dirname, "../../docs/tuning/handwriting-probes.json");

const args = process.argv.slice(2);
const out = args.find((a) => !a.startsWith("--"));
const unknown = args.filter((a) => a.startsWith("--") && a !== "--resume");
if (out === undefined || unknown.length > 0) {
  console.error("usage: npx tsx scripts/lab/handwriting-probes.ts OUT [--resume]");
  process.exit(2);
}
const resume = args.includes("--resume");
const rt = await init({ device: "wasm" });
const t0 = performance.now();
const rows: Record<string, unknown>[] = [];
let judgesFrom: string | null = null;
for (const [name, probe] of Object.entries(PROBES)) {
  const runs = join(out, name, "handwriting-runs");
  if (!resume) rmSync(runs, { recursive: true, force: true });
  if (judgesFrom && !existsSync(join(runs, "judges.json"))) {
    cpSync(join(judgesFrom, "judges"), join(runs, "judges"), { recursive: true });
    cpSync(join(judgesFrom, "judges.json"), join(runs, "judges.json"));
  }
  const s: HandwritingSettings = {
    ...HANDWRITING_PRESETS.full,
    variants: ["peg"],
    steps: 600,
    ...probe,
    checkpoint: null,
    runs,
    resume: resume || judgesFrom !== null, // the copied judges are kept (without --resume they are all the directory holds)
  };
  const res = await runHandwriting(s, new Progress(`probe ${name}`, handwritingWork(s)));
  judgesFrom ??= runs;
  const [run] = res.runs;
  const late = run.losses.filter(([, , g]) => g !== null).slice(-10);
  const generator = ["adversarial", "recognizer", "writer", "reconstruction"].map((k, i) => [
    k,
    mean(late.map(([, , g]) => g?.[i] ?? NaN)),
  ]);
  rows.push({
    probe: name,
    settings: probe,
    untrained: run.untrained,
    trained: run.trained,
    real: res.real,
    msPerIteration: run.msPerIteration,
    "generator losses, mean of the last 10 reads": Object.fromEntries(generator),
    "critic losses after pretraining (D, R, W)": run.losses[0][1],
  });
  console.log(
    `${name.padEnd(10)}  CER ${run.trained.cer.toFixed(3)} (untrained ${run.untrained.cer.toFixed(3)}, real ${res.real.cer.toFixed(3)})  ` +
      `writer accuracy ${run.trained.writerAccuracy.toFixed(3)}  Fréchet ${run.trained.frechet.toFixed(2)}  ${run.msPerIteration.toFixed(0)} ms/iteration`,
  );
}
writeFileSync(
  DOC,
  `${JSON.stringify(
    {
      command: `npx tsx scripts/lab/handwriting-probes.ts ${args.join(" ")}`,
      device: `${rt.device} (${rt.description}) on ${cpus()[0]?.model.trim() ?? "unknown CPU"}, ${cpus().length} cores`,
      date: new Date().toISOString(),
      "seconds of this command": Math.round((performance.now() - t0) / 1000),
      probes: rows,
    },
    null,
    2,
  )}\n`,
);
console.log(`wrote ${DOC}`);
await teardown();
