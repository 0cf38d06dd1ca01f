/**
 * WriteViT's training steps at a tiny size (wasm, jitted): the critic step
 * moves the discriminator, recognizer and writer identifier and leaves the
 * generator as it was; the generator step moves the generator only; the
 * losses are finite; the reconstruction term changes the generator's step
 * and nothing else; bad options are refused by name.
 */
import { type JsTree, numpy as np, tree } from "@jax-js/jax";
import { beforeAll, describe, expect, it } from "vitest";
import { HANDWRITING_PRESETS } from "../../src/lab/handwriting.js";
import { initWriteVit, type WriteVitConfig, wordWidth } from "../../src/nn/writeVit.js";
import { rng } from "../../src/pe/random.js";
import { init } from "../../src/runtime/init.js";
import { flattenNamed } from "../../src/train/checkpoint.js";
import { HANDWRITING_ALPHABET, handwritingBatch, handwritingWords, writerIds } from "../../src/train/data/handwriting.js";
import { writeVitBatch } from "../../src/train/writeVitBatch.js";
import { initWriteVitTraining, makeWriteVitSteps, type WriteVitTrainState } from "../../src/train/writeVitStep.js";

/** The lab's tiny model (3 characters, width 32, one block per stage). */
const CONFIG: WriteVitConfig = { ...HANDWRITING_PRESETS.tiny.model, characters: HANDWRITING_ALPHABET.length, writers: 4, pe: "peg" };

beforeAll(async () => {
  await init({ device: "wasm" });
});

const batch = (seed: number) =>
  writeVitBatch(
    CONFIG,
    handwritingBatch({ writers: writerIds("train").slice(0, 4), words: handwritingWords(3), batch: 2, width: wordWidth(CONFIG), seed }),
    rng(seed),
  );

/** Host copies of every parameter, by name. */
async function snapshot(state: WriteVitTrainState): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [name, a] of flattenNamed(state.params)) out.set(name, (await a.ref.data()) as Float32Array);
  return out;
}

/** Names of the networks whose parameters differ between two snapshots. */
function moved(a: Map<string, Float32Array>, b: Map<string, Float32Array>): string[] {
  const nets = new Set<string>();
  for (const [name, x] of a) if (x.some((v, i) => v !== (b.get(name) as Float32Array)[i])) nets.add(name.split(".")[0]);
  return [...nets].sort();
}

describe("WriteViT training steps", () => {
  it("the critic step trains D, R and W; the generator step trains G; the reconstruction term changes only G's step", {
    timeout: 240_000,
  }, async () => {
    const steps = makeWriteVitSteps(CONFIG);
    const withL1 = makeWriteVitSteps(CONFIG, { reconstruction: 4 });
    let state = initWriteVitTraining(initWriteVit(CONFIG, 1), 2);
    const before = await snapshot(state);

    const c = steps.critic(state, batch(10), 1e-3);
    state = c.state;
    for (const l of Object.values(c.losses)) expect(Number.isFinite((await l.data())[0])).toBe(true);
    const afterCritic = await snapshot(state);
    expect(moved(before, afterCritic)).toEqual(["discriminator", "recognizer", "writer"]);

    const plain = steps.generator(tree.ref(state as unknown as JsTree<np.Array>) as never, batch(11), 1e-3);
    const paired = withL1.generator(state, batch(11), 1e-3);
    const losses = async (l: typeof plain.losses) =>
      Promise.all([l.adversarial, l.recognizer, l.writer, l.reconstruction].map(async (a) => (await a.data())[0]));
    const [lp, lq] = [await losses(plain.losses), await losses(paired.losses)];
    for (const v of [...lp, ...lq]) expect(Number.isFinite(v)).toBe(true);
    // same state and batch: the same losses, whether or not L1 is in the gradient
    expect(lq).toEqual(lp);
    expect(lp[3]).toBeGreaterThan(0);
    const [sp, sq] = [await snapshot(plain.state), await snapshot(paired.state)];
    expect(moved(afterCritic, sp)).toEqual(["generator"]);
    expect(moved(sp, sq)).toEqual(["generator"]);
    // the generator writes in the style of `style`: the same batch with a blank style image gives another step
    const restyled = batch(12);
    restyled.style.dispose();
    restyled.style = np.ones(restyled.real.shape);
    const [same, other] = [batch(12), restyled].map((b) =>
      steps.generator(tree.ref(plain.state as unknown as JsTree<np.Array>) as never, b, 1e-3),
    );
    expect(moved(await snapshot(same.state), await snapshot(other.state))).toEqual(["generator"]);
    for (const o of [same, other]) for (const a of Object.values(o.losses)) a.dispose();
    for (const st of [plain.state, paired.state, same.state, other.state]) tree.dispose(st as unknown as JsTree<np.Array>);
    steps.dispose();
    withL1.dispose();
  });

  it("refuses unknown options and a negative reconstruction weight", () => {
    expect(() => makeWriteVitSteps(CONFIG, { reconstuction: 1 } as never)).toThrow(
      /makeWriteVitSteps: options has unknown field "reconstuction"; known: adam, reconstruction/,
    );
    expect(() => makeWriteVitSteps(CONFIG, { reconstruction: -1 })).toThrow(
      /makeWriteVitSteps: options.reconstruction must be a finite number >= 0, got -1/,
    );
  });
});
