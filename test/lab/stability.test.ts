/** The stability experiment at its tiny size (wasm), its divergence rule, and the text corpus it trains on. */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { silent } from "../../src/lab/progress.js";
import { writeReport } from "../../src/lab/reportFiles.js";
import {
  DIVERGENCE_RATIO,
  diverged,
  largestSpike,
  runStability,
  STABILITY_PRESETS,
  stabilityReport,
  stabilityWork,
} from "../../src/lab/stability.js";
import { init } from "../../src/runtime/init.js";
import { corpus, loadSonnets, sonnets, TRAIN_FRACTION, textBatch, unigramLoss } from "../../src/train/data/text.js";

beforeAll(async () => {
  await init({ device: "wasm" });
});

describe("sonnets corpus", () => {
  it("tokenizes the 154 sonnets into a sorted character vocabulary and splits 90/10", () => {
    const c = sonnets();
    expect(c.vocab).toEqual([...c.vocab].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!));
    expect(c.vocab).toContain("\n");
    expect(c.train.length + c.validation.length).toBe(94701); // data/README.md: 94,701 characters
    expect(c.train.length).toBe(Math.floor(TRAIN_FRACTION * 94701));
    const text = Array.from(c.train.subarray(0, 50), (i) => c.vocab[i]).join("");
    expect(text).toBe("1\n\nFrom fairest creatures we desire increase,\nThat");
  });

  it("corpus(text) is the same tokenization for any text; loadSonnets fetches it and names what fails", async () => {
    const c = corpus("abcab\nba");
    expect(c.vocab).toEqual(["\n", "a", "b", "c"]);
    expect([...c.train, ...c.validation]).toEqual([1, 2, 3, 1, 2, 0, 2, 1]);
    expect(c.train.length).toBe(Math.floor(TRAIN_FRACTION * 8));
    expect(() => corpus("aaa")).toThrow("corpus: text must hold at least two distinct characters, got 1");
    expect(() => corpus(7 as unknown as string)).toThrow("corpus: text must be a string, got number");
    await expect(loadSonnets(3 as unknown as string)).rejects.toThrow("loadSonnets: url must be a string or a URL, got number");
    await expect(loadSonnets("http://127.0.0.1:9/sonnets.txt")).rejects.toThrow("loadSonnets: cannot fetch http://127.0.0.1:9/sonnets.txt");
  });

  it("the unigram loss is the entropy of the token frequencies", () => {
    // a: 3/8, b: 3/8, c: 1/8, newline: 1/8
    const h = -(2 * (3 / 8) * Math.log(3 / 8) + 2 * (1 / 8) * Math.log(1 / 8));
    expect(unigramLoss(Int32Array.from([1, 2, 3, 1, 2, 0, 2, 1]))).toBeCloseTo(h, 14);
    expect(unigramLoss(Int32Array.from([4, 4, 4]))).toBe(0);
    expect(unigramLoss(sonnets().train)).toBeCloseTo(3.137, 3);
    expect(() => unigramLoss(new Int32Array(0))).toThrow("unigramLoss: ids must be a non-empty Int32Array");
  });

  it("batches are windows of the text shifted by one, reproducible from the seed", () => {
    const c = sonnets();
    const b = textBatch(c.train, c.vocab.length, 3, 10, 5);
    expect(b).toEqual(textBatch(c.train, c.vocab.length, 3, 10, 5));
    for (let e = 0; e < 3; e++) {
      const t = Array.from(b.tokens.subarray(10 * e, 10 * e + 10));
      const y = Array.from(b.targets.subarray(10 * e, 10 * e + 10));
      expect(y.slice(0, 9)).toEqual(t.slice(1));
      const start = c.train.findIndex((_, i) => t.every((v, k) => c.train[i + k] === v) && c.train[i + 10] === y[9]);
      expect(start).toBeGreaterThanOrEqual(0);
    }
    expect(Array.from(b.mask)).toEqual(new Array(30).fill(1));
    expect(() => textBatch(c.train.subarray(0, 4), 5, 1, 4, 0)).toThrow(/textBatch: the text \(4 tokens\) is shorter than length \+ 1 = 5/);
  });
});

describe("lab stability", () => {
  it("divergence: non-finite or a late loss above DIVERGENCE_RATIO times the best window", () => {
    expect(diverged([3, 2, 1, 1, 1, 1, 1, 1, 1, 1], 10)).toBe(false);
    expect(diverged([3, 2, 1, 1, 1, 1, 1, 1, 1, NaN], 10)).toBe(true);
    expect(diverged([3, 2, 1], 10)).toBe(true); // stopped early
    expect(diverged([3, 2, 1, 1, 1, 1, 1, 1, 1, DIVERGENCE_RATIO + 0.01], 10)).toBe(true);
    expect(diverged([3, 2, 1, 1, 1, 1, 1, 1, 1, DIVERGENCE_RATIO - 0.01], 10)).toBe(false);
  });

  it("largest spike: the worst ratio of a loss to the lowest loss before it", () => {
    expect(largestSpike([3, 2, 1])).toBe(1);
    expect(largestSpike([3, 1, 2.5, 0.5, 1])).toBe(2.5);
    expect(largestSpike([3, 1, NaN])).toBe(Infinity);
    expect(largestSpike([])).toBe(1);
  });

  it("runs each variant for each seed and reports the diverged fraction", async () => {
    const s = STABILITY_PRESETS.tiny;
    let ticks = 0;
    const runs = await runStability(s, { tick: (n = 1) => void (ticks += n), done: () => {} });
    expect(ticks).toBe(stabilityWork(s));
    expect(runs).toHaveLength(s.lrs.length * s.seeds * s.variants.length);
    expect(runs.map((r) => `${r.lr} ${r.seed} ${r.variant}`)).toEqual(
      s.lrs.flatMap((lr) => Array.from({ length: s.seeds }, (_, seed) => s.variants.map((v) => `${lr} ${seed} ${v}`)).flat()),
    );
    for (const r of runs) expect(r.losses.length).toBeLessThanOrEqual(s.steps);
    // the same seed starts from the same model and batches at every lr: the first losses agree
    for (const r of runs.filter((r) => r.lr === s.lrs[1]))
      expect(r.losses[0]).toBe(runs.find((q) => q.lr === s.lrs[0] && q.seed === r.seed && q.variant === r.variant)?.losses[0]);
    const report = stabilityReport(s, runs, { command: "test", device: "wasm", date: "2026-11-23T00:00:00Z", seconds: 1 });
    const labels = ["softmax + RoPE", "kernelized (PRF)", "kernelized + RPE + qk-norm"];
    expect(report.tables[0].rows.map((r) => `${r[0]} ${r[1]}`)).toEqual(labels.flatMap((l) => s.lrs.map((lr) => `${l} ${lr}`)));
    expect(report.tables[0].header).toContain("largest spike");
    expect(report.figures).toHaveLength(2);
    expect(report.findings).toHaveLength(3);
    expect(report.settings["trained on"]).toBe(`wasm (WebAssembly): ${runs.length} runs`);
    const older = stabilityReport(s, [{ ...runs[0], device: undefined }, ...runs.slice(1)], report);
    expect(older.settings["trained on"]).toBe(
      `not recorded (saved before runs recorded their device): 1 run; wasm (WebAssembly): ${runs.length - 1} runs`,
    );
    for (const f of report.findings)
      expect(f).toMatch(/: diverged \d\/2 at 0\.01, \d\/2 at 0\.1; (no run diverged up to lr|runs diverged already)/);
  });

  it("saves every training, keeps them on --resume, trains only what is missing, and refuses other settings", async () => {
    const dir = mkdtempSync(join(tmpdir(), "posenc-stability-"));
    try {
      const s = { ...STABILITY_PRESETS.tiny, variants: ["kernelized"], seeds: 1, runs: dir, resume: true };
      const first = await runStability(s, silent);
      expect(readdirSync(dir).sort()).toEqual(["kernelized-lr0.01-seed0.json", "kernelized-lr0.1-seed0.json"]);
      // one seed more: the first seed's trainings are kept, the second's trained
      const messages: string[] = [];
      let ticks = 0;
      const more = { ...s, seeds: 2 };
      const second = await runStability(more, {
        tick: (n = 1, m?: string) => {
          ticks += n;
          if (m) messages.push(m);
        },
        done: () => {},
      });
      expect(ticks).toBe(stabilityWork(more));
      expect(messages.filter((m) => m.endsWith("kept from the earlier run"))).toEqual([
        "kernelized (PRF) lr 0.01 seed 0: kept from the earlier run",
        "kernelized (PRF) lr 0.1 seed 0: kept from the earlier run",
      ]);
      expect(second.filter((r) => r.seed === 0)).toEqual(first);
      expect(readdirSync(dir)).toHaveLength(4);
      // a rerun without --resume trains again and gets the same numbers
      const again = await runStability({ ...s, resume: false }, silent);
      expect(again.map((r) => r.losses)).toEqual(first.map((r) => r.losses));
      await expect(runStability({ ...s, steps: 4 }, silent)).rejects.toThrow(
        /lab stability: --resume: .*kernelized-lr0.01-seed0.json was made with other settings; use another --out or drop --resume/,
      );
      writeFileSync(join(dir, "kernelized-lr0.01-seed0.json"), "{ cut off");
      await expect(runStability(s, silent)).rejects.toThrow(/lab stability: --resume: .*kernelized-lr0.01-seed0.json is not valid JSON/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("trains kernelized attention with the settings' feature count, softmax regardless of it", async () => {
    const s = { ...STABILITY_PRESETS.tiny, variants: ["softmax", "kernelized"], seeds: 1, lrs: [1e-2] };
    const [soft32, kern32] = await runStability(s, silent);
    const [soft4, kern4] = await runStability({ ...s, features: 4 }, silent);
    expect(soft4.losses).toEqual(soft32.losses);
    expect(kern4.losses[0]).not.toBe(kern32.losses[0]);
  });

  it("writes the report of runs that all diverged, non-finite numbers shown as such, and an index that reads it back", () => {
    const dir = mkdtempSync(join(tmpdir(), "posenc-stability-report-"));
    try {
      const s = { ...STABILITY_PRESETS.tiny, variants: ["kernelized"], seeds: 2, lrs: [0.1] };
      const runs = [0, 1].map((seed) => ({
        variant: "kernelized",
        lr: 0.1,
        seed,
        losses: [4, 3, Number.NaN],
        maxGradNorm: Number.POSITIVE_INFINITY,
        diverged: true,
        validation: Number.NaN,
        seconds: 1,
      }));
      const report = stabilityReport(s, runs, { command: "test", device: "wasm", date: "2026-12-04T00:00:00Z", seconds: 1 });
      expect(report.findings[0]).toMatch(/^kernelized \(PRF\): diverged 2\/2 at 0\.1; runs diverged already at the smallest lr, 0\.1\./);
      const html = readFileSync(writeReport(dir, report), "utf8");
      expect(html).toContain("<td>Infinity</td>"); // the index is built from the saved files
      const saved = JSON.parse(readFileSync(join(dir, "stability.json"), "utf8"));
      expect(saved.tables[0].rows[0]).toEqual(["kernelized (PRF)", 0.1, "2/2", "2/2", "0/2", "Infinity", "-", "-", "Infinity"]);
      // finite runs that end above the unigram loss (3.137 nats) learned nothing; one below it did learn
      const finite = { ...runs[0], diverged: false, validation: 4, maxGradNorm: 1 };
      const [flat, learned] = [
        { ...finite, losses: [4.4, 4.2] },
        { ...finite, seed: 1, losses: [4.4, 2.5] },
      ];
      const nothing = stabilityReport({ ...s, steps: 2 }, [flat, learned], report);
      expect(nothing.tables[0].rows[0][4]).toBe("1/2");
      expect(nothing.findings[0]).toMatch(/runs that learned nothing \(final loss at or above the unigram loss\): 1\.$/);
      expect(saved.data.runs[0].losses).toEqual([4, 3, "NaN"]);
      writeReport(dir, report); // the index again, now from the saved file
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses a learning-rate sweep that is empty, not positive or not increasing, a feature count below 1 and heads that do not divide the width", async () => {
    const s = STABILITY_PRESETS.tiny;
    await expect(runStability({ ...s, lrs: [] }, silent)).rejects.toThrow(
      "lab stability: lrs must be a non-empty list of learning rates, got []",
    );
    await expect(runStability({ ...s, lrs: [1e-2, 0] }, silent)).rejects.toThrow("lab stability: lrs[1] must be > 0, got 0");
    await expect(runStability({ ...s, lrs: [1e-1, 1e-2] }, silent)).rejects.toThrow("lab stability: lrs must increase, got 0.1 then 0.01");
    await expect(runStability({ ...s, features: 0 }, silent)).rejects.toThrow("lab stability: features must be an integer >= 1, got 0");
    await expect(runStability({ ...s, heads: 3 }, silent)).rejects.toThrow("lab stability: heads (3) must divide the width (16)");
    await expect(runStability({ ...s, depth: 0 }, silent)).rejects.toThrow("lab stability: depth must be an integer >= 1, got 0");
    const old = { ...s, lr: 0.3 } as typeof s;
    expect(() => stabilityWork(old)).toThrow(
      /lab stability: settings have unknown field "lr" \(the peak learning rates are lrs, a list\); known: variants, seeds/,
    );
    await expect(runStability(old, silent)).rejects.toThrow(/unknown field "lr"/);
  });
});
