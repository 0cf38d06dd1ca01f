/** The cswin experiment at its tiny size (wasm): every model trains, is evaluated and reported. */
import { beforeAll, describe, expect, it } from "vitest";
import { CSWIN_PRESETS, cswinReport, cswinWork, runCswin } from "../../src/lab/cswin.js";
import { silent } from "../../src/lab/progress.js";
import { init } from "../../src/runtime/init.js";

beforeAll(async () => {
  await init({ device: "wasm" });
});

describe("lab cswin", () => {
  it("trains the ViTs and the CSWin backbone at the tiny size and reports accuracy, params and FLOPs", async () => {
    const s = CSWIN_PRESETS.tiny;
    let ticks = 0;
    const runs = await runCswin(s, { tick: (n = 1) => void (ticks += n), done: () => {} });
    expect(ticks).toBe(cswinWork(s));
    expect(runs.map((r) => r.variant)).toEqual(["vit", "vit-peg", "cswin"]);
    for (const r of runs) {
      expect(r.curve).toHaveLength(s.evaluations);
      expect(r.curve[0][0]).toBe(s.steps);
      expect(r.curve[0][1]).toBeGreaterThanOrEqual(0);
      expect(r.curve[0][1]).toBeLessThanOrEqual(1);
      expect(r.params).toBeGreaterThan(0);
      expect(r.flops).toBeGreaterThan(0);
      expect(r.losses.every(Number.isFinite)).toBe(true);
    }
    // the PEG ViT has no position table but a (C, 3, 3) conv and its bias: C (9 + 1) - Gh Gw C parameters more
    const [vit, peg] = runs;
    expect(peg.params - vit.params).toBe(8 * 10 - 7 * 7 * 8);
    const report = cswinReport(s, runs, { command: "test", device: "wasm", date: "2026-11-23T00:00:00Z", seconds: 1 });
    expect(report.tables[0].rows).toHaveLength(3);
  });

  it("refuses an unknown model by name", async () => {
    await expect(runCswin({ ...CSWIN_PRESETS.tiny, variants: ["swin"] }, silent)).rejects.toThrow(
      /lab cswin: unknown model "swin"; known: vit, vit-peg, cswin/,
    );
  });
});
