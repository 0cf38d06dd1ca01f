/** The length experiment end to end at its tiny size (wasm), and the pieces it is built from. */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  inputLength,
  LENGTH_PRESETS,
  LENGTH_VARIANTS,
  type LengthRow,
  lengthReport,
  lengthWork,
  runLength,
  runLengthUnit,
  scaleTask,
  trainingSchedule,
} from "../../src/lab/length.js";
import { FIT_ACCURACY } from "../../src/lab/lmRun.js";
import { silent } from "../../src/lab/progress.js";
import { writeReport } from "../../src/lab/reportFiles.js";
import { init } from "../../src/runtime/init.js";
import { syntheticBatch, type TaskConfig } from "../../src/train/data/synthetic.js";

const dir = mkdtempSync(join(tmpdir(), "posenc-lab-"));
beforeAll(async () => {
  await init({ device: "wasm" });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("lab length", () => {
  it("inputLength is the length syntheticBatch produces, for every task and multiple", () => {
    const tasks: TaskConfig[] = [
      { task: "copy", length: 3, symbols: 4 },
      { task: "reverse", length: 2, symbols: 4 },
      { task: "addition", digits: 2, reverseAnswer: false },
      { task: "recall", pairs: 3, symbols: 16 },
      { task: "passkey", filler: 5, digits: 2 },
    ];
    for (const t of tasks) for (const m of [1, 3]) expect(inputLength(scaleTask(t, m))).toBe(syntheticBatch(scaleTask(t, m), 1, 0).length);
  });

  it("runs every positional encoding at the tiny size and reports accuracies in [0, 1] for each seed and length", async () => {
    const s = { ...LENGTH_PRESETS.tiny, variants: Object.keys(LENGTH_VARIANTS), steps: 2 };
    let ticks = 0;
    const rows = await runLength(s, { tick: (n = 1) => void (ticks += n), done: () => {} });
    expect(ticks).toBe(lengthWork(s));
    expect(rows).toHaveLength(s.variants.length * s.multiples.length * s.seeds);
    for (const r of rows) {
      expect(r.accuracy.token).toBeGreaterThanOrEqual(0);
      expect(r.accuracy.token).toBeLessThanOrEqual(1);
      expect(Number.isFinite(r.finalLoss)).toBe(true);
    }
    // scaled RoPE equals RoPE at the training length (factor 1: no scaling applied)
    const at = (v: string, m: number) => rows.find((r) => r.variant === v && r.multiple === m)!.accuracy;
    expect(at("rope-yarn", 1)).toEqual(at("rope", 1));
    const report = lengthReport(s, rows, { command: "test", device: "wasm", date: "2026-11-23T00:00:00Z", seconds: 1 });
    expect(report.tables[0].rows).toHaveLength(s.variants.length);
    expect(report.figures[0].svg).toMatch(/^<svg[\s\S]*<\/svg>$/);
    const index = writeReport(dir, report);
    const html = readFileSync(index, "utf8");
    expect(html).toContain('<section id="length">');
    expect(html).toContain("RoPE + YaRN");
    expect(JSON.parse(readFileSync(join(dir, "length.json"), "utf8")).data.rows).toHaveLength(rows.length);
  });

  it("the live hooks: every step passes the gate, losses arrive per run as they are read, rows as they are measured", async () => {
    const s = { ...LENGTH_PRESETS.tiny, variants: ["rope", "alibi"], steps: 12 };
    let gates = 0;
    const seen = new Map<string, number[]>();
    const live: unknown[] = [];
    const rows = await runLength(s, {
      tick: () => {},
      done: () => {},
      gate: async () => void (gates += 1),
      losses: (run, ls) => void seen.set(run, [...(seen.get(run) ?? []), ls.length]),
      row: (r) => void live.push(r),
    });
    expect(gates).toBe(2 * s.steps);
    expect([...seen.keys()]).toEqual(["rope seed 0", "alibi seed 0"]);
    expect(seen.get("rope seed 0")).toEqual([10, 12]); // read every READ_EVERY = 10 steps and at the end
    expect(live).toEqual(rows);
  });

  it("refuses unknown encodings and bad multiples by name", async () => {
    await expect(runLength({ ...LENGTH_PRESETS.tiny, variants: ["rope", "xpos2"] }, silent)).rejects.toThrow(
      /lab length: unknown positional encoding "xpos2"; known: nope/,
    );
    await expect(runLength({ ...LENGTH_PRESETS.tiny, multiples: [1, 1.5] }, silent)).rejects.toThrow(
      /lab length: multiples must be integers >= 1, got 1, 1.5/,
    );
  });

  it("trains each training on its schedule: its own learning rate and steps, counted in the work", async () => {
    const s = {
      ...LENGTH_PRESETS.tiny,
      variants: ["rope", "rope-yarn", "alibi"],
      steps: 4,
      schedule: { rope: { lr: 1e-2, stepScale: 2.5 } },
    };
    expect(trainingSchedule(s, "rope")).toEqual({ lr: 1e-2, steps: 10 });
    expect(trainingSchedule(s, "alibi")).toEqual({ lr: s.lr, steps: 4 });
    expect(lengthWork(s)).toBe(10 + 4 + 3 * s.multiples.length);
    let ticks = 0;
    const last = new Map<string, number>();
    await runLength(s, { tick: (n = 1) => void (ticks += n), done: () => {}, losses: (run, ls) => void last.set(run, ls.length) });
    expect(ticks).toBe(lengthWork(s));
    expect(Object.fromEntries(last)).toEqual({ "rope seed 0": 10, "alibi seed 0": 4 });
  });

  it("marks a variant that does not fit at the training length and leaves it out of the ranking", () => {
    const s = { ...LENGTH_PRESETS.tiny, variants: ["nope", "rope", "alibi"], seeds: 2 };
    // NoPE is best at 2x but fits at 1x in neither seed's mean; RoPE and ALiBi fit
    const at1: Record<string, number[]> = { nope: [0.9, FIT_ACCURACY], rope: [1, 1], alibi: [FIT_ACCURACY, FIT_ACCURACY] };
    const at2: Record<string, number> = { nope: 0.8, rope: 0.1, alibi: 0.4 };
    const rows: LengthRow[] = s.variants.flatMap((variant) =>
      [0, 1].flatMap((seed) =>
        s.multiples.map((multiple) => {
          const token = multiple === 1 ? at1[variant][seed] : at2[variant];
          return {
            variant,
            label: LENGTH_VARIANTS[variant].label,
            seed,
            multiple,
            length: 0,
            accuracy: { token, sequence: token },
            finalLoss: 0.1,
            trainSeconds: 1,
          };
        }),
      ),
    );
    const report = lengthReport(s, rows, { command: "test", device: "wasm", date: "2026-12-03T00:00:00Z", seconds: 1 });
    expect(report.tables[0].rows.map((r) => r[0])).toEqual(["NoPE (did not fit)", "RoPE", "ALiBi"]);
    expect(report.tables[0].rows[1].at(-1)).toBe(`${s.lr}, ${s.steps}`);
    expect(report.findings[0]).toBe(
      "At 2x the training length, the best of the 2 variants that fit is ALiBi (0.400), the worst RoPE (0.100).",
    );
    expect(report.findings[2]).toBe(
      `Did not fit at the training length (answer accuracy < ${FIT_ACCURACY}), left out of the ranking: NoPE (0.925).`,
    );
    expect(report.figures[0].svg).toContain("NoPE (did not fit)");
  });

  it("refuses a schedule or multiples it cannot run, by name", async () => {
    const tiny = LENGTH_PRESETS.tiny;
    await expect(runLength({ ...tiny, multiples: [2, 4] }, silent)).rejects.toThrow(
      /lab length: multiples must include 1, the training length, where each variant's fit is measured; got 2, 4/,
    );
    await expect(runLength({ ...tiny, schedule: { xpos: { lr: 1e-3, stepScale: 1 } } }, silent)).rejects.toThrow(
      /lab length: schedule names unknown training "xpos"; known: nope, /,
    );
    await expect(runLength({ ...tiny, schedule: { rope: { lr: 0, stepScale: 1 } } }, silent)).rejects.toThrow(
      /lab length: schedule.rope.lr must be a finite number > 0, got 0/,
    );
    await expect(runLength({ ...tiny, schedule: { rope: { lr: 1e-3, stepScale: 0.1 } } }, silent)).rejects.toThrow(
      /lab length: schedule.rope.stepScale must give at least one step, got 0.1 of 4 steps/,
    );
  });

  it("a unit may evaluate fewer lengths; randomized positions still span the run's longest", async () => {
    const s = { ...LENGTH_PRESETS.tiny, variants: ["rope", "randomized"], multiples: [1, 4], steps: 3 };
    const [rope] = await runLengthUnit(s, { seed: 0, key: "rope", evaluate: [1] }, silent);
    const randomized = await runLengthUnit(s, { seed: 0, key: "randomized", evaluate: [1] }, silent);
    expect(randomized.map((r) => r.multiple)).toEqual([1]);
    // over [0, 4T) the positions are not 0..T-1, so the randomized model is not the RoPE model
    expect(randomized[0].finalLoss).not.toBe(rope.finalLoss);
  });
});
