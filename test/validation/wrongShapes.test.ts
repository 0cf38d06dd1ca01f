/**
 * Every array argument of the layer-level exports, replaced by an array of
 * the wrong shape, gives an Error whose message starts with the export's name
 * (never a jax-js failure that names nothing).
 */
import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, it } from "vitest";
import { addAbsolute } from "../../src/attention/absolute.js";
import { attention } from "../../src/attention/attention.js";
import { crossShapedWindowAttention, cswinAttention } from "../../src/attention/crossShapedWindow.js";
import { featureMap } from "../../src/attention/featureMaps.js";
import { kernelizedAttention, kernelizedAttentionDense, kernelizedRpeAttention } from "../../src/attention/kernelized.js";
import { lepe } from "../../src/attention/lepe.js";
import { peg as pegLayer } from "../../src/attention/peg.js";
import { applyRotary } from "../../src/attention/rotary.js";
import { rpe2dTables } from "../../src/attention/rpe2d.js";
import { toeplitzMatmul } from "../../src/attention/toeplitz.js";
import { classificationLoss } from "../../src/nn/classifier.js";
import { conv2d } from "../../src/nn/conv.js";
import { crossEntropy } from "../../src/nn/crossEntropy.js";
import { ditForward, initDit } from "../../src/nn/dit.js";
import { embed, unembed } from "../../src/nn/embedding.js";
import { layerNorm } from "../../src/nn/layerNorm.js";
import { linear } from "../../src/nn/linear.js";
import { initLM, lmForward } from "../../src/nn/lm.js";
import { rmsNorm } from "../../src/nn/rmsNorm.js";
import { initVit, vitForward } from "../../src/nn/vit.js";
import { init } from "../../src/runtime/init.js";
import { TINY_DIT, TINY_LM, tinyVit } from "../configs.js";

beforeAll(async () => {
  await init({ device: "cpu" });
});

const z = (shape: number[]) => np.zeros(shape, { dtype: np.float64 });
const ints = (shape: number[]) => np.zeros(shape, { dtype: np.int32 });
/** An array no argument of these functions takes: rank 5. */
const wrong = () => z([2, 2, 2, 2, 2]);

/** [export, its array arguments (valid shapes), the call] */
const EXPORTS: [string, (() => np.Array)[], (a: np.Array[]) => unknown][] = [
  ["attention", [() => z([1, 2, 4, 8]), () => z([1, 2, 4, 8]), () => z([1, 2, 4, 8])], ([q, k, v]) => attention(q, k, v)],
  ["applyRotary", [() => z([1, 2, 4, 8]), () => z([4, 8]), () => z([4, 8])], ([x, c, s]) => applyRotary(x, c, s, "halves")],
  ["pegLayer", [() => z([1, 6, 2]), () => z([2, 3, 3]), () => z([2])], ([x, w, b]) => pegLayer(x, w, b, { height: 2, width: 3 })],
  ["layerNorm", [() => z([3, 8]), () => z([8]), () => z([8])], ([x, gamma, beta]) => layerNorm({ gamma, beta }, x)],
  ["rmsNorm", [() => z([3, 8]), () => z([8])], ([x, gamma]) => rmsNorm({ gamma }, x)],
  ["linear", [() => z([3, 8]), () => z([8, 4]), () => z([4])], ([x, w, b]) => linear({ w, b }, x)],
  ["embed", [() => ints([1, 4]), () => z([9, 8])], ([tokens, table]) => embed({ table }, tokens)],
  [
    "kernelizedAttention",
    [() => z([1, 2, 5, 4]), () => z([1, 2, 5, 4]), () => z([1, 2, 5, 3]), () => z([2, 9])],
    ([q, k, v, rpe]) => kernelizedAttention(q, k, v, { rpe, causal: true }),
  ],
  [
    "kernelizedRpeAttention",
    [() => z([1, 2, 5, 4]), () => z([1, 2, 5, 4]), () => z([1, 2, 5, 3]), () => z([6, 4]), () => z([2, 9])],
    ([q, k, v, projection, rpe]) =>
      kernelizedRpeAttention(q, k, v, { features: { kind: "relu", projection }, qkNorm: "none", rpe, causal: true }),
  ],
  ["toeplitzMatmul", [() => z([2, 9]), () => z([1, 2, 5, 3])], ([c, x]) => toeplitzMatmul(c, x, { causal: false })],
  [
    "lepe",
    [() => z([1, 6, 2]), () => z([2, 3, 3]), () => z([2])],
    ([v, w, b]) => lepe(v, w, b, { height: 2, width: 3, windowHeight: 2, windowWidth: 1 }),
  ],
  [
    "crossShapedWindowAttention",
    [() => z([1, 8, 4]), () => z([1, 8, 4]), () => z([1, 8, 4]), () => z([4, 3, 3]), () => z([4])],
    ([q, k, v, w, b]) => crossShapedWindowAttention(q, k, v, w, b, { height: 2, width: 4, heads: 2, mode: "cross", stripeWidth: 1 }),
  ],
  ["addAbsolute", [() => z([1, 4, 8]), () => z([6, 8])], ([x, table]) => addAbsolute(x, { type: "absolute", kind: "learned", table })],
  ["rpe2dTables", [() => z([2]), () => z([3])], ([rows, cols]) => rpe2dTables(8, { convention: "lang", height: 2, width: 3, rows, cols })],
  ["classificationLoss", [() => z([2, 3]), () => ints([2])], ([logits, labels]) => classificationLoss(logits, labels)],
  ["vitForward", [() => z([2, 4, 4, 1])], ([images]) => vitForward(vitParams, tinyVit(), images)],
  ["lmForward", [() => ints([1, 4])], ([tokens]) => lmForward(lmParams, TINY_LM, tokens)],
  ["ditForward", [() => z([2, 8, 8, 1]), () => ints([2])], ([noisy, t]) => ditForward(ditParams, TINY_DIT, noisy, t)],
  ["featureMap.prf", [() => z([1, 2, 5, 4]), () => z([6, 4])], ([x, w]) => featureMap.prf(x, w, { role: "query", inputScale: "softmax" })],
  ["featureMap.relu", [() => z([1, 2, 5, 4]), () => z([6, 4])], ([x, w]) => featureMap.relu(x, w)],
  [
    "kernelizedAttentionDense",
    [() => z([1, 2, 5, 4]), () => z([1, 2, 5, 4]), () => z([1, 2, 5, 3])],
    ([q, k, v]) => kernelizedAttentionDense(q, k, v, { causal: true }),
  ],
  [
    "cswinAttention",
    [() => z([1, 8, 4]), () => z([12, 4]), () => z([4, 3, 3]), () => z([4]), () => z([4, 4]), () => z([4])],
    ([x, qkvWeight, lepeWeight, lepeBias, projWeight, projBias]) =>
      cswinAttention(
        x,
        { qkvWeight, lepeWeight, lepeBias, projWeight, projBias },
        { height: 2, width: 4, heads: 2, mode: "cross", stripeWidth: 1 },
      ),
  ],
  [
    "conv2d",
    [() => z([1, 4, 4, 2]), () => z([18, 3]), () => z([3])],
    ([x, w, b]) => conv2d({ w, b }, x, { kernel: 3, stride: 1, padding: 1 }),
  ],
  ["unembed", [() => z([1, 4, 8]), () => z([9, 8])], ([x, table]) => unembed({ table }, x)],
  [
    "crossEntropy",
    [() => z([1, 4, 9]), () => ints([1, 4]), () => z([1, 4])],
    ([logits, targets, mask]) => crossEntropy(logits, targets, mask),
  ],
];

let vitParams: ReturnType<typeof initVit>;
let lmParams: ReturnType<typeof initLM>;
let ditParams: ReturnType<typeof initDit>;
beforeAll(() => {
  vitParams = initVit(tinyVit(), 0, np.float64);
  lmParams = initLM(TINY_LM, 0, np.float64);
  ditParams = initDit(TINY_DIT, 0, np.float64);
});

describe("a wrong-shape array for each array argument is refused by name", () => {
  for (const [name, args, call] of EXPORTS) {
    it(name, () => {
      expect(() => call(args.map((a) => a()))).not.toThrow();
      for (let i = 0; i < args.length; i++) {
        const given = args.map((a, j) => (j === i ? wrong() : a()));
        let message = "";
        try {
          call(given);
        } catch (e) {
          message = (e as Error).message;
        }
        expect(message, `${name}: argument ${i} of shape (2, 2, 2, 2, 2)`).toMatch(new RegExp(`^${name.replace(".", "\\.")}: `));
      }
    });
  }
});
