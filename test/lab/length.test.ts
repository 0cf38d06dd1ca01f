/** The length experiment end to end at its tiny size (wasm), and the pieces it is built from. */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inputLength, LENGTH_PRESETS, LENGTH_VARIANTS, lengthReport, lengthWork, runLength, scaleTask } from "../../src/lab/length.js";
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
});
