/**
 * A kernelized LM with RPE trains the same whether its attention is evaluated
 * by FFT Toeplitz products or with the dense (L, L) matrix: the losses of 30
 * AdamW steps agree within float32 round-off carried through training.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { LAB_ADAMW, labLM, trainLM } from "../../src/lab/lmRun.js";
import { silent } from "../../src/lab/progress.js";
import { init } from "../../src/runtime/init.js";
import { sonnets, textBatch } from "../../src/train/data/text.js";
import { expectClose, FLOAT32_TRAINING_CURVE } from "../tolerance.js";

beforeAll(async () => {
  await init({ device: "wasm" });
});

describe("kernelized training, dense or FFT", () => {
  it("the loss curves of 30 steps agree (causal, PRF with RPE, float32)", async () => {
    const corpus = sonnets();
    const V = corpus.vocab.length;
    const curve = async (evaluation: "fft" | "dense") => {
      const kernel = { featureMap: "prf", rpe: { maxDistance: 16 }, qkNorm: "none", features: 16, seed: 1, evaluation } as const;
      const model = labLM(V, { width: 32, depth: 2, heads: 2 }, { pe: { type: "none" }, kernel });
      const s = { steps: 30, batch: 4, lr: 0.03, clipNorm: null, adamw: LAB_ADAMW };
      return (await trainLM(model, (i) => textBatch(corpus.train, V, 4, 32, 100 + i), s, 7, silent)).losses;
    };
    const [fft, dense] = [await curve("fft"), await curve("dense")];
    expect(fft).toHaveLength(30);
    expect(fft[29]).toBeLessThan(fft[0] - 1); // it trains
    expectClose(dense, fft, FLOAT32_TRAINING_CURVE, "losses");
  });
});
