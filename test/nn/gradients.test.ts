/** Gradient checks (random-direction VJP vs central differences, float64, "cpu") of the block and the LM loss, every parameter. */
import { type JsTree, numpy as np, tree } from "@jax-js/jax";
import { beforeAll, describe, it } from "vitest";
import { type BlockConfig, block, initBlock } from "../../src/nn/block.js";
import { initLM, type LMConfig, lmLoss } from "../../src/nn/lm.js";
import { rng } from "../../src/pe/random.js";
import { init } from "../../src/runtime/init.js";
import { checkGradients, type Input, randn, read } from "../gradcheck.js";

beforeAll(async () => {
  await init({ device: "cpu" });
});

/** The parameter leaves as gradcheck inputs, and a rebuild of the tree from arrays. */
async function asInputs(params: unknown): Promise<{ inputs: Input[]; rebuild: (xs: np.Array[]) => unknown }> {
  const [leaves, def] = tree.flatten(params as JsTree<np.Array>);
  const inputs: Input[] = [];
  for (const a of leaves as np.Array[]) inputs.push({ data: await read(a.ref), shape: [...a.shape] });
  tree.dispose(params as JsTree<np.Array>);
  return { inputs, rebuild: (xs) => tree.unflatten(def, xs) };
}

describe("gradient checks", () => {
  it("pre-norm block (RMSNorm, SwiGLU, causal, KERPLE r1 r2): x and every parameter", async () => {
    const config: BlockConfig = {
      width: 8,
      heads: 2,
      mlp: { kind: "swiglu", hidden: 8 },
      norm: { type: "rms", eps: 1e-6 },
      pe: { type: "kerple", variant: "log" },
      causal: true,
      bias: true,
    };
    const p = initBlock(rng(1), config, np.float64);
    // r1, r2 away from the clamp at 1e-2, where the gradient is not smooth
    tree.dispose(p.pe as JsTree<np.Array>);
    p.pe = { r1: np.array(Float64Array.of(0.8, 1.4)), r2: np.array(Float64Array.of(0.5, 0.9)) };
    p.norm1 = { gamma: np.array(randn([8], 2).data) };
    const { inputs, rebuild } = await asInputs(p);
    await checkGradients(
      (x, ...leaves) => {
        const params = rebuild(leaves) as typeof p;
        const y = block(params, x, config);
        tree.dispose(params as unknown as JsTree<np.Array>);
        return y;
      },
      [randn([2, 4, 8], 3), ...inputs],
    );
  });

  it("LM loss (learned absolute, T5 bias, LayerNorm, GELU, untied head): every parameter", async () => {
    const config: LMConfig = {
      vocabSize: 7,
      width: 8,
      depth: 1,
      heads: 2,
      mlp: { kind: "gelu", hidden: 8, approximate: true },
      norm: { type: "layer", eps: 1e-5 },
      pe: { type: "t5", bidirectional: false, numBuckets: 4, maxDistance: 8 },
      absolute: { kind: "learned", maxPositions: 6 },
      tied: false,
      bias: true,
      embedStd: 0.5,
    };
    const { inputs, rebuild } = await asInputs(initLM(config, 4, np.float64));
    // The check steps eps along an unnormalised N(0, 1) direction: over the 192 entries of
    // qkv.w that is a step of ~1.4e-3, and the loss's curvature then puts the central
    // difference's truncation error (~1e-8) above GRAD_CHECK.atol (measured: passes at
    // eps 3e-5, fails at 1e-4). The check runs on z = SCALE * theta instead, so that a step
    // in z is SCALE times shorter in theta; the chain rule through the division is exact.
    const SCALE = 8;
    const scaled = inputs.map((x) => ({ data: x.data.map((v) => v * SCALE), shape: x.shape }));
    const tokens = Int32Array.of(1, 5, 2, 6, 0, 3, 3, 4, 1, 2);
    const targets = Int32Array.of(5, 2, 6, 0, 3, 4, 1, 1, 2, 6);
    const mask = Float64Array.of(0, 1, 1, 1, 1, 1, 1, 0, 1, 1);
    await checkGradients((...zs) => {
      const params = rebuild(zs.map((z) => np.divide(z, SCALE))) as ReturnType<typeof initLM>;
      const batch = {
        tokens: np.array(tokens).reshape([2, 5]),
        targets: np.array(targets).reshape([2, 5]),
        mask: np.array(mask).reshape([2, 5]),
      };
      const loss = lmLoss(params, config, batch);
      tree.dispose(params as unknown as JsTree<np.Array>);
      return loss;
    }, scaled);
  });
});
