/** The decoder-only LM: every attention PE runs and stays causal; positions; seeding; refusals. Float64 on "cpu". */
import { type JsTree, numpy as np, tree } from "@jax-js/jax";
import { beforeAll, describe, expect, it } from "vitest";
import { initLM, type LMConfig, lmForward } from "../../src/nn/lm.js";
import type { PEConfig } from "../../src/nn/positional.js";
import { init } from "../../src/runtime/init.js";
import { initAdamW } from "../../src/train/adamw.js";
import { makeTrainStep } from "../../src/train/trainStep.js";
import { read } from "../gradcheck.js";
import { expectClose, FLOAT64_FORMULA } from "../tolerance.js";

beforeAll(async () => {
  await init({ device: "cpu" });
});

const PES: PEConfig[] = [
  { type: "none" },
  { type: "rotary", pairing: "interleaved", base: 10000 },
  { type: "alibi" },
  { type: "t5", bidirectional: false, numBuckets: 8, maxDistance: 16 },
  { type: "kerple", variant: "power" },
  { type: "fire", hidden: 8 },
  { type: "mlp", hidden: 8, logDistance: true },
  { type: "table", maxDistance: 3 },
  { type: "cope", npos: 4 },
];

const base = (pe: PEConfig): LMConfig => ({
  vocabSize: 9,
  width: 8,
  depth: 2,
  heads: 2,
  mlp: { kind: "swiglu", hidden: 16 },
  norm: { type: "rms", eps: 1e-6 },
  pe,
  tied: true,
  bias: false,
  embedStd: 0.5,
});
const tokens = (values: number[]) => np.array(Int32Array.from(values)).reshape([1, values.length]);
const dispose = (p: unknown) => tree.dispose(p as JsTree<np.Array>);

describe("language model", () => {
  it.each(PES.map((pe) => [pe.type, pe] as const))(
    "%s: logits (B, L, V), causal (later tokens never change earlier logits)",
    async (_, pe) => {
      const config = base(pe);
      const p = initLM(config, 7, np.float64);
      if (pe.type === "cope")
        p.blocks[0].pe = { embeddings: np.array(Float64Array.from({ length: 16 }, (_, i) => Math.sin(i))).reshape([4, 4]) };
      const a = lmForward(p, config, tokens([1, 4, 2, 8, 3, 5]));
      expect(a.shape).toEqual([1, 6, 9]);
      const b = await read(lmForward(p, config, tokens([1, 4, 2, 8, 0, 7])));
      const av = await read(a);
      expect(av.every(Number.isFinite)).toBe(true);
      expectClose(b.subarray(0, 4 * 9), av.subarray(0, 4 * 9), FLOAT64_FORMULA, "first four positions");
      expect(Array.from(b.subarray(5 * 9))).not.toEqual(Array.from(av.subarray(5 * 9)));
      dispose(p);
    },
  );

  it("RoPE without absolute PE: shifting every position by 5 leaves the logits unchanged; positions as an array equal positions as numbers", async () => {
    const config = base({ type: "rotary", pairing: "halves", base: 100 });
    const p = initLM(config, 3, np.float64);
    const x = [2, 7, 1, 1, 8];
    const plain = await read(lmForward(p, config, tokens(x)));
    const shifted = await read(lmForward(p, config, tokens(x), [5, 6, 7, 8, 9]));
    const randomized = [0, 3, 4, 9, 12];
    const asNumbers = await read(lmForward(p, config, tokens(x), randomized));
    const asArray = await read(lmForward(p, config, tokens(x), np.array(Float64Array.from(randomized))));
    dispose(p);
    expectClose(shifted, plain, { rtol: 1e-10, atol: 1e-12 }, "shifted"); // rotations by m theta vs (m + 5) theta: rounding of the angles, ~1e-15 each
    expectClose(asArray, asNumbers, FLOAT64_FORMULA, "array positions");
    expect(Array.from(asNumbers)).not.toEqual(Array.from(plain));
  });

  it("learned and sinusoidal absolute PE: positions move the output; a position past the learned table is refused", async () => {
    for (const absolute of [
      { kind: "learned", maxPositions: 8 },
      { kind: "sinusoidal", layout: "interleaved" },
    ] as const) {
      const config = { ...base({ type: "none" }), absolute };
      const p = initLM(config, 5, np.float64);
      const a = await read(lmForward(p, config, tokens([1, 2, 3])));
      const b = await read(lmForward(p, config, tokens([1, 2, 3]), [1, 4, 6]));
      expect(Array.from(a)).not.toEqual(Array.from(b));
      if (absolute.kind === "learned")
        expect(() => lmForward(p, config, tokens([1, 2, 3]), [0, 1, 8])).toThrow(
          "addAbsolute: position 8 is past the learned table of 8 positions",
        );
      dispose(p);
    }
  });

  it("same seed, same parameters; untied models own a head", async () => {
    const config = { ...base({ type: "fire", hidden: 4 }), tied: false };
    const [a, b, c] = [initLM(config, 11, np.float64), initLM(config, 11, np.float64), initLM(config, 12, np.float64)];
    const flat = async (p: unknown) =>
      Promise.all((tree.leaves(p as JsTree<np.Array>) as np.Array[]).map(async (x) => Array.from(await read(x))));
    expect(a.head?.w.shape).toEqual([8, 9]);
    const [fa, fb, fc] = [await flat(a), await flat(b), await flat(c)];
    expect(fb).toEqual(fa);
    expect(fc).not.toEqual(fa);
    expect(JSON.parse(JSON.stringify(config))).toEqual(config);
  });

  it("the jitted step trains T5 and learned-table biases (their lookups are one-hot products)", async () => {
    const train = { adamw: { beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0, decay: "all" as const }, clipNorm: 1 };
    for (const pe of [
      { type: "t5", bidirectional: false, numBuckets: 4, maxDistance: 8 },
      { type: "table", maxDistance: 3 },
    ] as PEConfig[]) {
      const config = base(pe);
      const step = makeTrainStep(config, train);
      let params = initLM(config, 3);
      const before = Array.from(await read((tree.leaves(params.blocks[0].pe as unknown as JsTree<np.Array>) as np.Array[])[0].ref));
      let state = initAdamW(params);
      const batch = () => ({ tokens: tokens([1, 2, 3, 4, 5, 6]), targets: tokens([2, 3, 4, 5, 6, 7]), mask: np.ones([1, 6]) });
      const losses: number[] = [];
      for (let i = 0; i < 3; i++) {
        const out = step(params, state, batch(), 1e-2);
        ({ params, state } = out);
        losses.push((await out.loss.data())[0]);
        out.gradNorm.dispose();
      }
      const after = Array.from(await read((tree.leaves(params.blocks[0].pe as unknown as JsTree<np.Array>) as np.Array[])[0].ref));
      expect(losses.every(Number.isFinite), `${pe.type} losses ${losses}`).toBe(true);
      expect(after, `${pe.type} table moved`).not.toEqual(before);
      step.dispose();
      dispose(params);
      dispose(state);
    }
  });
});
