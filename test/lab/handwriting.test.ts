/**
 * The handwriting experiment at its tiny size (wasm): the judges and every
 * variant train, are evaluated and reported; with an output directory the
 * trainings are saved and a resumed run keeps them, and a resumed run with
 * other settings is refused. `posenc handwrite` from the checkpoint the
 * run saves.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HANDWRITING_PRESETS, handwritingReport, handwritingWork, legible, runHandwriting } from "../../src/lab/handwriting.js";
import { silent } from "../../src/lab/progress.js";
import type { WriteVitConfig, WriteVitParams } from "../../src/nn/writeVit.js";
import { init } from "../../src/runtime/init.js";
import { loadCheckpoint } from "../../src/train/checkpoint.js";
import { handwrite, WORD_GAP } from "../../src/train/handwrite.js";

const dir = mkdtempSync(join(tmpdir(), "posenc-handwriting-"));

beforeAll(async () => {
  await init({ device: "wasm" });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("lab handwriting", () => {
  const s = { ...HANDWRITING_PRESETS.tiny, checkpoint: join(dir, "model"), runs: join(dir, "runs") };

  it("trains every variant at the tiny size, reports it, saves it and keeps it on --resume", { timeout: 240_000 }, async () => {
    let ticks = 0;
    const res = await runHandwriting(s, { tick: (n = 1) => void (ticks += n), done: () => {} });
    expect(ticks).toBe(handwritingWork(s));
    expect(res.runs.map((r) => r.variant)).toEqual(["peg", "sincos2d", "none"]);
    for (const r of res.runs) {
      for (const sc of [r.untrained, r.trained]) {
        expect(sc.cer).toBeGreaterThanOrEqual(0);
        expect(sc.writerAccuracy).toBeGreaterThanOrEqual(0);
        expect(sc.writerAccuracy).toBeLessThanOrEqual(1);
        expect(Number.isFinite(sc.frechet)).toBe(true);
      }
      expect(r.losses.length).toBeGreaterThan(0);
      expect(r.losses.flatMap(([, c, g]) => [...c, ...(g ?? [])]).every(Number.isFinite)).toBe(true);
    }
    const report = handwritingReport(s, res, { command: "test", device: "wasm", date: "2026-12-04T00:00:00Z", seconds: 1 });
    expect(report.tables[0].rows).toHaveLength(1 + 2 * 3);
    expect(report.figures[0].svg).toContain("data:image/png;base64,");
    // the tiny judges read nothing: no variant counts as legible, none is ranked
    expect(report.findings[0]).toMatch(/^No variant writes legibly .* no variant is ranked\.$/);

    // resumed: the judges and every training are kept, not trained again, and the same numbers come back
    let again = 0;
    const messages: string[] = [];
    const kept = await runHandwriting(
      { ...s, resume: true },
      {
        tick: (n = 1, m?: string) => {
          again += n;
          if (m) messages.push(m);
        },
        done: () => {},
      },
    );
    expect(again).toBe(handwritingWork(s));
    expect(messages.filter((m) => m.endsWith("kept from the earlier run"))).toHaveLength(1 + 3);
    expect(kept.runs).toEqual(res.runs);
    expect(kept.sheet).toBe(res.sheet);

    // other judges: refused at the judges; other generator training: the judges are kept, the first training refused
    const otherJudges = { ...s, resume: true, judges: { ...s.judges, lr: 2e-3 } };
    await expect(runHandwriting(otherJudges, silent)).rejects.toThrow(
      /lab handwriting: --resume: .*judges.json was made with other settings/,
    );
    const other = { ...s, resume: true, lr: 1e-3 };
    const seen: string[] = [];
    const refused = runHandwriting(other, { tick: (_n, m?: string) => void (m && seen.push(m)), done: () => {} });
    await expect(refused).rejects.toThrow(/lab handwriting: --resume: .*peg-seed0.json was made with other settings/);
    expect(seen).toContain("judges: kept from the earlier run");
    writeFileSync(join(s.runs, "peg-seed0.json"), "{ cut off");
    await expect(runHandwriting(other, silent)).rejects.toThrow(/lab handwriting: --resume: .*peg-seed0.json is not valid JSON/);
  });

  it("refuses bad judges or pretraining settings before anything trains, naming the field", async () => {
    const s = HANDWRITING_PRESETS.tiny;
    expect(() => handwritingWork({ ...s, pretrain: { ...s.pretrain, steps: -1 } })).toThrow(
      "lab handwriting: pretrain.steps must be an integer >= 0, got -1",
    );
    await expect(runHandwriting({ ...s, judges: { ...s.judges, lr: 0 } }, silent)).rejects.toThrow(
      "lab handwriting: judges.lr must be > 0, got 0",
    );
    await expect(runHandwriting({ ...s, pretrain: { steps: 2, batch: 2, lr: 1e-3, warmup: 1 } as never }, silent)).rejects.toThrow(
      'lab handwriting: pretrain has unknown field "warmup"; known: steps, batch, lr',
    );
  });

  it("counts a variant legible when its CER is at most halfway from untrained output's to real words'", () => {
    expect(legible(0.55, 0.9, 0.2)).toBe(true);
    expect(legible(0.56, 0.9, 0.2)).toBe(false);
    expect(legible(0.1, 0.9, 0.95)).toBe(false); // the recognizer cannot read real words either
  });

  it("writes text with the saved checkpoint, and refuses what it cannot write", async () => {
    const { params, config } = await loadCheckpoint<Pick<WriteVitParams, "generator" | "writer">, { writeVit: WriteVitConfig }>(
      join(dir, "model"),
    );
    const model = config.writeVit;
    const W = 16 * model.maxChars;
    const style = { data: new Float32Array(32 * 20).fill(1), height: 32, width: 20 };
    const image = await handwrite(params, model, style, "ab abcdefg", { seed: 1 });
    expect(image.height).toBe(32);
    // two words, the second cut into pieces of maxChars letters: at least the gap, at most every piece's full width
    const pieces = 1 + Math.ceil(7 / model.maxChars);
    expect(image.width).toBeGreaterThanOrEqual(WORD_GAP + 3 * pieces); // a piece keeps at least its inked column and 2 px
    expect(image.width).toBeLessThanOrEqual(pieces * W + WORD_GAP);
    expect(image.data.every((v) => v >= 0 && v <= 1)).toBe(true);
    await expect(handwrite(params, model, style, "naïve")).rejects.toThrow(/handwrite: text holds characters the model cannot write: "ï"/);
    await expect(handwrite(params, model, style, "   ")).rejects.toThrow(/handwrite: text must hold at least one letter/);
    await expect(handwrite(params, model, style, "ab", { sed: 1 } as never)).rejects.toThrow(
      'handwrite: options has unknown field "sed"; known: seed',
    );
    await expect(handwrite(params, model, { data: new Float32Array(16 * 20), height: 16, width: 20 }, "ab")).rejects.toThrow(
      new RegExp(`handwrite: style must be a grey image 32 px high and 1 to ${W} px wide \\(one word\\), got 16 x 20`),
    );
  });
});
