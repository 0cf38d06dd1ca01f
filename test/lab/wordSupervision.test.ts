/**
 * Supervised training of WriteViT's recognizer and writer identifier on real
 * words (wasm, a tiny model): the losses fall over 60 steps from
 * fixed seeds, every step ticks, and bad settings are refused by name.
 */
import { type JsTree, type numpy as np, tree } from "@jax-js/jax";
import { beforeAll, describe, expect, it } from "vitest";
import { silent } from "../../src/lab/progress.js";
import { trainRecognizer, trainWriterIdentifier } from "../../src/lab/wordSupervision.js";
import { initWriteVit, writerConfig } from "../../src/nn/writeVit.js";
import { init } from "../../src/runtime/init.js";
import { handwritingWordSplit } from "../../src/train/data/handwriting.js";
import { TINY_WRITEVIT } from "../configs.js";

beforeAll(async () => {
  await init({ device: "wasm" });
});

const config = TINY_WRITEVIT;
const source = { writers: [0, 1, 2, 3], words: handwritingWordSplit(3).train.slice(0, 8), seed: 11 };
const settings = { steps: 60, batch: 8, lr: 1e-3 };
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe("word supervision", () => {
  it("lowers the recognizer's CTC and the writer identifier's cross-entropy", { timeout: 120_000 }, async () => {
    const params = initWriteVit(config, 5);
    let ticks = 0;
    const progress = { tick: (n = 1) => void (ticks += n), done: () => {} };
    const r = await trainRecognizer(params.recognizer, config, settings, source, progress, "r");
    const w = await trainWriterIdentifier(params.writer, { ...writerConfig(config), writers: 4 }, config, settings, source, progress, "w");
    expect(ticks).toBe(2 * settings.steps);
    for (const { losses } of [r, w]) {
      expect(losses).toHaveLength(settings.steps);
      expect(losses.every(Number.isFinite)).toBe(true);
      expect(mean(losses.slice(-5))).toBeLessThan(0.8 * mean(losses.slice(0, 5)));
    }
    tree.dispose([r.params, w.params, params.generator, params.discriminator] as unknown as JsTree<np.Array>);
  });

  it("refuses bad settings and sources by name", async () => {
    const params = initWriteVit(config, 5);
    const bad = (s: object, src: object = source) => trainRecognizer(params.recognizer, config, s as never, src as never, silent, "r");
    await expect(bad({ ...settings, steps: 1.5 })).rejects.toThrow(/trainRecognizer: settings.steps must be an integer >= 0, got 1.5/);
    await expect(bad({ ...settings, batch: 0 })).rejects.toThrow(/trainRecognizer: settings.batch must be an integer >= 1, got 0/);
    await expect(bad({ ...settings, lr: 0 })).rejects.toThrow(/trainRecognizer: settings.lr must be .*got 0/);
    await expect(bad({ ...settings, step: 3 })).rejects.toThrow(
      /trainRecognizer: settings has unknown field "step"; known: steps, batch, lr/,
    );
    await expect(bad(settings, { ...source, seed: -1 })).rejects.toThrow(/trainRecognizer: source.seed must be an integer >= 0, got -1/);
    await expect(trainWriterIdentifier(params.writer, writerConfig(config), config, settings, source, silent, "w")).rejects.toThrow(
      "trainWriterIdentifier: source.writers names 4 writers, but the identifier tells 5 apart (wc.writers)",
    );
    tree.dispose(params as unknown as JsTree<np.Array>);
  });
});
