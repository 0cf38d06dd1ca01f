/**
 * The language model's training step as posenc's trainers run it: through
 * the fused attention kernels on WebGPU (fusedStep.ts, the LM's chain
 * nn/lmChain.ts) where the config allows, else the composite jitted step
 * (trainStep.ts). Both compute the same function; on wasm and cpu, and for a
 * config the fused backward does not cover (learnable biases, contextual
 * PE, kernelized attention, positions given per batch), the step is the
 * composite one.
 */
import { defaultDevice, numpy as np } from "@jax-js/jax";
import { fail, oneOf } from "../core/validate.js";
import { checkBatchShapes, checkLMConfig, type LMConfig, type LMParams } from "../nn/lm.js";
import { fusedTrainingSupport, lmChain } from "../nn/lmChain.js";
import { type AsyncTrainStep, makeChainStep } from "./fusedStep.js";
import { makeTrainStep, type StepBatch, type TrainConfig } from "./trainStep.js";

export interface LMStepOptions {
  /**
   * "auto" (default): fused on WebGPU when the config allows and the batch is at least FUSED_MIN_LENGTH long,
   * composite otherwise; "fused": fused at every length or an
   * error saying why not; "composite": the jitted composite step on every device.
   */
  attention?: "auto" | "fused" | "composite";
  /** Batches carry positions (randomized PE): the composite step, since the fused kernels take positions as JS numbers. */
  positions?: boolean;
}

/**
 * Sequence length from which "auto" trains through the fused kernels. Measured on an H200 (bench/run.ts
 * --train, docs/PERFORMANCE.md): at L 16 and 64 the fused step is as fast as the composite or slower (more
 * dispatches, 1.0-1.3x), at L 256 0.5-1.0x of its time, at L 1024 0.3x. One run each of `posenc lab length`
 * at L 16 disagrees (151 s fused, 226 s composite); PERFORMANCE.md says why the threshold stands for now.
 */
export const FUSED_MIN_LENGTH = 256;

/** An LM step that says which path it takes: `fused` when it trains through the fused kernels (at lengths >= FUSED_MIN_LENGTH under "auto"). */
export type LMStep = AsyncTrainStep<LMParams, StepBatch> & { readonly fused: boolean };

/** The LM's step (module header): fused attention on WebGPU where it applies, the composite step otherwise. */
export function makeLMStep(model: LMConfig, train: TrainConfig, options: LMStepOptions = {}): LMStep {
  checkLMConfig("makeLMStep", model);
  const attention = oneOf("makeLMStep", "options.attention", options.attention ?? "auto", ["auto", "fused", "composite"]);
  const why =
    defaultDevice() !== "webgpu"
      ? `the default device is ${defaultDevice()}, and the fused kernels run on webgpu`
      : options.positions
        ? "batches carry positions (randomized PE), which the fused kernels take as JS numbers only"
        : fusedTrainingSupport(model);
  if (attention === "fused" && why !== null) fail("makeLMStep", `options.attention "fused" cannot train this model: ${why}`);
  if (attention !== "composite" && why === null) {
    // "auto" fuses from FUSED_MIN_LENGTH on, where it was measured faster; both steps compile on first use
    const minLength = attention === "fused" ? 1 : FUSED_MIN_LENGTH;
    let fusedStep: ReturnType<typeof makeChainStep<LMParams, StepBatch>> | null = null;
    let compositeStep: ReturnType<typeof makeTrainStep> | null = null;
    return Object.assign(
      async (p: LMParams, s: Parameters<LMStep>[1], b: StepBatch, lr: number) => {
        // refused before anything is consumed: the caller keeps its model, state and batch
        if (b.positions) {
          fail("trainStep", "this fused step was made without positions (options.positions); batch.positions is not used by it");
        }
        checkBatchShapes("trainStep", b);
        if (b.tokens.dtype !== np.int32 || b.targets.dtype !== np.int32)
          fail("trainStep", `batch.tokens and batch.targets must be int32, got ${b.tokens.dtype} and ${b.targets.dtype}`);
        if (b.tokens.shape[1] < minLength) return (compositeStep ??= makeTrainStep(model, train))(p, s, b, lr);
        return (fusedStep ??= makeChainStep(lmChain(model), train))(p, s, b, lr);
      },
      {
        fused: true,
        dispose: () => {
          fusedStep?.dispose();
          compositeStep?.dispose();
        },
      },
    );
  }
  const step = makeTrainStep(model, train);
  return Object.assign(async (...args: Parameters<typeof step>) => step(...args), { fused: false, dispose: () => step.dispose() });
}
