/** lab accuracy at the tiny size: units, saved runs, the report, and refused settings. */
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { ACCURACY_PRESETS, accuracyReport, accuracyTask, accuracyUnits, accuracyWork, runAccuracy } from "../../src/lab/accuracy.js";
import { silent } from "../../src/lab/progress.js";
import { init } from "../../src/runtime/init.js";
import { syntheticBatch } from "../../src/train/data/synthetic.js";

beforeAll(async () => {
  await init({ device: "wasm" });
});

const tiny = ACCURACY_PRESETS.tiny;

describe("lab accuracy", () => {
  it("trains every variant from every seed on multi-query recall and reports accuracy, loss and time per step", async () => {
    const batch = syntheticBatch(accuracyTask(tiny), 1, 0);
    expect(batch.length).toBe(2 * (tiny.pairs + tiny.queries) + 1);
    expect(Array.from(batch.mask).filter((m) => m === 1)).toHaveLength(tiny.queries);
    let ticks = 0;
    const runs = await runAccuracy(tiny, { tick: (n = 1) => void (ticks += n), done: () => {} });
    expect(ticks).toBe(accuracyWork(tiny));
    expect(runs.map((r) => `${r.seed} ${r.variant}`)).toEqual([
      "0 softmax",
      "0 kernelized-rpe",
      "0 linear",
      "1 softmax",
      "1 kernelized-rpe",
      "1 linear",
    ]);
    for (const r of runs) {
      expect(r.losses).toHaveLength(tiny.steps);
      expect(r.accuracy).toBeGreaterThanOrEqual(0);
      expect(r.accuracy).toBeLessThanOrEqual(1);
      expect(r.msPerStep).toBeGreaterThan(0);
      expect(r.device).toBe("wasm (WebAssembly)");
    }
    // the same seed, the same batches: the first losses of a variant differ between seeds, not between calls
    expect(runs[0].losses[0]).not.toBe(runs[3].losses[0]);
    const report = accuracyReport(tiny, runs, { command: "test", device: "wasm", date: "2026-12-04T00:00:00Z", seconds: 1 });
    expect(report.tables[0].rows.map((r) => r[0])).toEqual(["softmax + RoPE", "kernelized + RPE", "linear (elu + 1)"]);
    expect(report.tables[0].header).toEqual(["attention", "answer accuracy", "all answers right", "final train loss", "ms / step"]);
    // three steps cannot fit recall: the report says the comparison cannot answer, then ranks what it has
    expect(report.findings[0]).toMatch(
      /^The softmax reference did not fit the task \(answer accuracy 0\.\d{3} < 0\.95\), so this run cannot say/,
    );
    const fitted = runs.map((r) => (r.variant === "softmax" ? { ...r, accuracy: 1 } : r));
    const answered = accuracyReport(tiny, fitted, report);
    expect(answered.findings[0]).toMatch(/^Most accurate: softmax \+ RoPE 1\.000, /);
    expect(report.findings[1]).toMatch(/^Time per step against softmax: kernelized \+ RPE \d+\.\d\dx, linear \(elu \+ 1\) \d+\.\d\dx\.$/);
    expect(report.figures).toHaveLength(1);
  });

  it("saves each training and keeps it on --resume", async () => {
    const dir = mkdtempSync(join(tmpdir(), "posenc-accuracy-"));
    const s = { ...tiny, variants: ["linear"], seeds: 1, runs: dir, resume: true };
    const first = await runAccuracy(s, silent);
    expect(readdirSync(dir)).toEqual(["linear-seed0.json"]);
    let trained = 0;
    const again = await runAccuracy(s, { tick: (n = 1) => void (trained += n === 1 ? 1 : 0), done: () => {} });
    expect(again).toEqual(first);
    expect(trained).toBe(0);
  });

  it("refuses unknown variants and fields, heads that do not divide the width, and an impossible task", () => {
    expect(() => accuracyUnits({ ...tiny, variants: ["performer"] })).toThrow(
      /lab accuracy: unknown variant "performer"; known: softmax, kernelized/,
    );
    expect(() => accuracyUnits({ ...tiny, lrs: [1] } as typeof tiny)).toThrow(/lab accuracy: settings has unknown field "lrs"/);
    expect(() => accuracyUnits({ ...tiny, heads: 3 })).toThrow("lab accuracy: heads (3) must divide the width (16)");
    expect(() => accuracyUnits({ ...tiny, queries: 5 })).toThrow(/config.queries \(5\) must be <= config.pairs \(4\)/);
    expect(() => accuracyUnits({ ...tiny, lr: 0 })).toThrow("lab accuracy: lr must be > 0, got 0");
    expect(() => accuracyUnits({ ...tiny, evalSeed: 3 })).toThrow(
      "lab accuracy: evalSeed must be HELD_OUT_SEED (800000000) or VALIDATION_SEED (900000000), got 3",
    );
  });
});
