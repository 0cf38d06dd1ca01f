/** The speed experiment at its tiny size (wasm, one process per point) and its crossover rule. */
import { describe, expect, it } from "vitest";
import { crossover, runSpeed, SPEED_PRESETS, type SpeedRow, speedReport, speedWork } from "../../src/lab/speed.js";

const row = (method: string, L: number, ms?: number): SpeedRow => ({ method, L, ms });

describe("lab speed", () => {
  it("crossover: the first length from which kernelized stays faster, interpolated in log-log", () => {
    const rows = [row("softmax", 100, 1), row("kernelized", 100, 4), row("softmax", 400, 16), row("kernelized", 400, 4)];
    // ratio k/s: 4 at L=100, 1/4 at L=400: log-ratio crosses zero halfway in log L, at L=200
    expect(crossover(rows)).toBeCloseTo(200, 9);
    expect(crossover([row("softmax", 100, 1), row("kernelized", 100, 2)])).toBeUndefined();
    expect(crossover([row("softmax", 100, 3), row("kernelized", 100, 2)])).toBe(100);
    // faster, then slower again at the longest length: no crossover
    expect(crossover([...rows, row("softmax", 800, 10), row("kernelized", 800, 20)])).toBeUndefined();
    // a length where only one ran is ignored
    expect(crossover([...rows, row("softmax", 800), row("kernelized", 800, 9)])).toBeCloseTo(200, 9);
  });

  it("measures both methods at the tiny size in child processes and reports time and memory", async () => {
    const s = SPEED_PRESETS.tiny;
    let ticks = 0;
    const rows = await runSpeed(s, "wasm", { tick: (n = 1) => void (ticks += n), done: () => {} });
    expect(ticks).toBe(speedWork(s));
    expect(rows).toHaveLength(4);
    for (const r of rows) {
      expect(r.skipped).toBeUndefined();
      expect(r.ms).toBeGreaterThan(0);
      expect(r.peakBytes).toBeGreaterThan(0);
      expect(r.memory).toBe("WebAssembly memory");
    }
    const report = speedReport(s, rows, { command: "test", device: "wasm", date: "2026-11-23T00:00:00Z", seconds: 1 });
    expect(report.tables[0].rows.map((r) => r[0])).toEqual([32, 64]);
    expect(report.figures).toHaveLength(2);
  });
});
