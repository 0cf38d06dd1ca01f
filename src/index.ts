/**
 * posenc: positional encodings and position-aware attention for TypeScript,
 * on WebAssembly and WebGPU.
 */
import "./runtime/polyfill.js";

export { init, runtime, teardown } from "./runtime/init.js";
export type { DeviceKind, DeviceLimits, DeviceRequest, InitOptions, Runtime } from "./runtime/init.js";

export * as rope from "./pe/rope/index.js";
export * as alibi from "./pe/alibi.js";
export * as t5 from "./pe/t5.js";
export * as kerple from "./pe/kerple.js";
export * as fire from "./pe/fire.js";
export * as sinusoidal from "./pe/sinusoidal.js";
export * as learned from "./pe/learned.js";
export * as randomized from "./pe/randomized.js";
export * as axialRope from "./pe/axialRope.js";
export { sincos2d } from "./pe/sincos2d.js";
export { peg } from "./pe/peg.js";
export * as rpe2d from "./pe/rpe2d.js";
export { rng } from "./pe/random.js";
export type { Rng } from "./pe/random.js";

export { attention } from "./attention/attention.js";
export type { AttentionOptions } from "./attention/attention.js";
export type { AttentionPE, BiasPE, ContextualPE, Mlp, NoPE, RotaryPE } from "./attention/spec.js";
export { KVCache } from "./attention/kvCache.js";
export { addAbsolute } from "./attention/absolute.js";
export type { AbsolutePE } from "./attention/absolute.js";
export { applyRotary, rotaryTables } from "./attention/rotary.js";
export type { Positions } from "./attention/positions.js";
export { crossShapedWindowAttention, cswinAttention } from "./attention/crossShapedWindow.js";
export type { CrossShapedWindowOptions, CswinAttentionWeights } from "./attention/crossShapedWindow.js";
export { lepe } from "./attention/lepe.js";
export { peg as pegLayer } from "./attention/peg.js";
export { rpe2dTables } from "./attention/rpe2d.js";
export type { Rpe2dTableOptions } from "./attention/rpe2d.js";

export { initLinear, linear } from "./nn/linear.js";
export { initEmbedding, embed, unembed } from "./nn/embedding.js";
export { initLayerNorm, layerNorm } from "./nn/layerNorm.js";
export { initRmsNorm, rmsNorm } from "./nn/rmsNorm.js";
export { initNorm, norm } from "./nn/norm.js";
export type { NormConfig } from "./nn/norm.js";
export { initMlp, mlp } from "./nn/mlp.js";
export type { MlpConfig } from "./nn/mlp.js";
export { initPE, peSpec, isLearnable, rotaryFrequencies } from "./nn/positional.js";
export type { PEConfig, PEParams, RopeScaling } from "./nn/positional.js";
export { initKernel, kernelAttention, KERNEL_EPS } from "./nn/kernelAttention.js";
export type { KernelConfig, KernelParams } from "./nn/kernelAttention.js";
export { crossEntropy } from "./nn/crossEntropy.js";
export { initBlock, block } from "./nn/block.js";
export type { BlockConfig, BlockParams } from "./nn/block.js";
export { initLM, lmForward, lmLoss } from "./nn/lm.js";
export type { LMConfig, LMParams, Batch } from "./nn/lm.js";
export { initVit, vitForward, vitLoss, vitFlops, vitGrid } from "./nn/vit.js";
export type { VitConfig, VitParams, VitPE } from "./nn/vit.js";
export { initCswinNet, cswinNetForward, cswinNetLoss, cswinNetFlops } from "./nn/cswinNet.js";
export type { CswinNetConfig, CswinNetParams, CswinStage } from "./nn/cswinNet.js";
export { classificationLoss, paramCount } from "./nn/classifier.js";
export type { ImageBatch } from "./nn/classifier.js";
export { conv2d, initConv } from "./nn/conv.js";
export type { ConvConfig } from "./nn/conv.js";
export { resizeBilinear } from "./nn/bilinear.js";
export { initDit, ditForward, ditLoss, ditSample, ditFlops, ditTrainingPositions, dropLabels, ddpmSchedule } from "./nn/dit.js";
export type { DitConfig, DitParams, DitPE, DitBatch, DitSampleOptions } from "./nn/dit.js";
export { initAdamW, adamwUpdate, TORCH_ADAMW } from "./train/adamw.js";
export type { AdamWConfig, AdamWState } from "./train/adamw.js";
export { learningRate } from "./train/schedule.js";
export type { CosineSchedule } from "./train/schedule.js";
export { globalNorm, clipByGlobalNorm } from "./train/clip.js";
export { makeStep, makeTrainStep, toBatch } from "./train/trainStep.js";
export type { TrainConfig, TrainStep, StepResult, StepBatch } from "./train/trainStep.js";
export { toSafetensors, fromSafetensors, saveCheckpoint, loadCheckpoint } from "./train/checkpoint.js";
export { syntheticBatch, vocabSize } from "./train/data/synthetic.js";
export type { TaskConfig, TokenBatch } from "./train/data/synthetic.js";
export { sonnets, textBatch } from "./train/data/text.js";
export type { Corpus } from "./train/data/text.js";
export { loadDigits, digitBatches, digitImages, toImageBatch, splitIndices } from "./train/data/digits.js";
export type { DigitBatch, DigitTransform, Split } from "./train/data/digits.js";

export { flashAttention, flashAttentionPipelineCount, QUERY_BLOCK, MAX_HEAD_DIM } from "./kernels/webgpu/flashAttention.js";
export type { FlashAttentionOptions } from "./kernels/webgpu/flashAttention.js";
export { rope as ropeKernel, ropePipelineCount } from "./kernels/webgpu/rope.js";
export { kernelizedAttentionFused, planKernelizedFused, releaseKernelizedWorkspace } from "./kernels/webgpu/kernelizedAttention.js";
export type { KernelizedFusedOptions } from "./kernels/webgpu/kernelizedAttention.js";
export type { RopeKernelOptions } from "./kernels/webgpu/rope.js";
export { GpuTensor, toJaxArray } from "./kernels/webgpu/gpuTensor.js";
export type { KernelLimits } from "./kernels/webgpu/gpuTensor.js";

export { featureMap } from "./attention/featureMaps.js";
export type { PrfOptions } from "./attention/featureMaps.js";
export { gaussianOrthogonalProjection } from "./pe/orthogonalFeatures.js";
export type { ProjectionOptions, ProjectionScaling } from "./pe/orthogonalFeatures.js";
export { toeplitzMatmul, toeplitzMatrix, fftLength } from "./attention/toeplitz.js";
export type { ToeplitzOptions } from "./attention/toeplitz.js";
export { kernelizedAttention, kernelizedAttentionInChunks, kernelizedAttentionDense, kernelizedRpeAttention, planKernelized } from "./attention/kernelized.js";
export type { KernelizedOptions, KernelizedRpeOptions, FeatureSpec, KernelizedPlan } from "./attention/kernelized.js";
export { DEFAULT_CHUNK_BYTES } from "./attention/memoryBudget.js";
export type { MemoryOptions } from "./attention/memoryBudget.js";
