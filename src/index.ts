/// <reference types="@webgpu/types" preserve="true" />
/**
 * posenc: positional encodings and position-aware attention for TypeScript,
 * on WebAssembly and WebGPU.
 *
 * Every public type is exported from here, including those of the `pe/`
 * namespaces (`rope.HFConfig` is also `HFConfig`). The declarations name
 * WebGPU's types (referenced above, from the dependency @webgpu/types) and,
 * through jax-js's, ES2025's Float16Array: the build adds a reference to
 * TypeScript's lib "esnext.float16" (TypeScript >= 5.9) to dist/index.d.ts
 * (scripts/declarations.mjs), so that a consumer type-checks with
 * skipLibCheck false whatever its own lib.
 */
import "./runtime/polyfill.js";

export type { AbsolutePE } from "./attention/absolute.js";
export { addAbsolute } from "./attention/absolute.js";
export type { AttentionOptions } from "./attention/attention.js";
export { attention } from "./attention/attention.js";
export type { CrossShapedWindowOptions, CswinAttentionWeights } from "./attention/crossShapedWindow.js";
export { crossShapedWindowAttention, cswinAttention } from "./attention/crossShapedWindow.js";
export type { PrfOptions } from "./attention/featureMaps.js";
export { featureMap } from "./attention/featureMaps.js";
export type { FeatureSpec, KernelizedOptions, KernelizedPlan, KernelizedRpeOptions } from "./attention/kernelized.js";
export {
  kernelizedAttention,
  kernelizedAttentionDense,
  kernelizedAttentionInChunks,
  kernelizedEvaluation,
  kernelizedRpeAttention,
  planKernelized,
} from "./attention/kernelized.js";
export { KVCache } from "./attention/kvCache.js";
export { lepe } from "./attention/lepe.js";
export type { MemoryOptions } from "./attention/memoryBudget.js";
export { DEFAULT_CHUNK_BYTES } from "./attention/memoryBudget.js";
export { peg as pegLayer } from "./attention/peg.js";
export type { Positions } from "./attention/positions.js";
export { applyRotary, rotaryTables } from "./attention/rotary.js";
export type { Rpe2dTableOptions } from "./attention/rpe2d.js";
export { rpe2dTables } from "./attention/rpe2d.js";
export type { AttentionPE, BiasPE, ContextualPE, Mlp, NoPE, RotaryPE } from "./attention/spec.js";
export type { ToeplitzOptions } from "./attention/toeplitz.js";
export { fftLength, toeplitzMatmul, toeplitzMatrix } from "./attention/toeplitz.js";
export type { GrayImage } from "./core/grayPng.js";
export { decodeGrayPng, encodeGrayPng } from "./core/grayPng.js";
export type { KernelConfig, KernelParams } from "./deprecated.js";
export { initKernel, KERNEL_EPS, kernelAttention } from "./deprecated.js";
export type { FlashAttentionOptions } from "./kernels/webgpu/flashAttention.js";
export {
  flashAttention,
  flashAttentionPipelineCount,
  flashAttentionWithStats,
  MAX_HEAD_DIM,
  QUERY_BLOCK,
} from "./kernels/webgpu/flashAttention.js";
export type { FlashGradients } from "./kernels/webgpu/flashBackward.js";
export { flashAttentionBackward } from "./kernels/webgpu/flashBackward.js";
export type { KernelLimits } from "./kernels/webgpu/gpuTensor.js";
export { GpuTensor, toJaxArray } from "./kernels/webgpu/gpuTensor.js";
export type { KernelizedFusedOptions } from "./kernels/webgpu/kernelizedAttention.js";
export { kernelizedAttentionFused, planKernelizedFused, releaseKernelizedWorkspace } from "./kernels/webgpu/kernelizedAttention.js";
export type { RopeKernelOptions } from "./kernels/webgpu/rope.js";
export { rope as ropeKernel, ropePipelineCount } from "./kernels/webgpu/rope.js";
export { resizeBilinear } from "./nn/bilinear.js";
export type { BlockConfig, BlockParams } from "./nn/block.js";
export { block, initBlock } from "./nn/block.js";
export type { ImageBatch } from "./nn/classifier.js";
export { classificationLoss, paramCount } from "./nn/classifier.js";
export type { ConvConfig } from "./nn/conv.js";
export { conv2d, initConv } from "./nn/conv.js";
export { crossEntropy } from "./nn/crossEntropy.js";
export type { CswinNetConfig, CswinNetParams, CswinStage } from "./nn/cswinNet.js";
export { cswinNetFlops, cswinNetForward, cswinNetLoss, initCswinNet } from "./nn/cswinNet.js";
export type { DitBatch, DitConfig, DitParams, DitPE } from "./nn/dit.js";
export { ditFlops, ditForward, initDit } from "./nn/dit.js";
export type { DitSampleOptions } from "./nn/ditDiffusion.js";
export { ddimTimesteps, ddpmSchedule, ditLoss, ditSample, ditTrainingPositions, dropLabels } from "./nn/ditDiffusion.js";
export { embed, initEmbedding, unembed } from "./nn/embedding.js";
export { hingeDiscriminatorLoss, hingeGeneratorLoss } from "./nn/hinge.js";
export { instanceNorm } from "./nn/instanceNorm.js";
export type { KernelizedLayerConfig, KernelizedLayerParams } from "./nn/kernelizedLayer.js";
export { initKernelizedLayer, KERNELIZED_EPS, kernelizedLayer } from "./nn/kernelizedLayer.js";
export { initLayerNorm, layerNorm } from "./nn/layerNorm.js";
export { initLinear, linear } from "./nn/linear.js";
export type { Batch, LMConfig, LMParams } from "./nn/lm.js";
export { initLM, lmForward, lmLoss } from "./nn/lm.js";
export type { LMSegmentParams } from "./nn/lmChain.js";
export { fusedTrainingSupport, lmChain } from "./nn/lmChain.js";
export type { MlpConfig } from "./nn/mlp.js";
export { initMlp, mlp } from "./nn/mlp.js";
export type { NormConfig } from "./nn/norm.js";
export { initNorm, norm } from "./nn/norm.js";
export type { PEConfig, PEParams, RopeScaling } from "./nn/positional.js";
export { initPE, isLearnable, peSpec, rotaryFrequencies } from "./nn/positional.js";
export { initRmsNorm, rmsNorm } from "./nn/rmsNorm.js";
export type { SpectralNormState } from "./nn/spectralNorm.js";
export { initSpectralNormState, SPECTRAL_NORM_EPS, spectralNormalized, spectralNormStep } from "./nn/spectralNorm.js";
export { upsampleNearest } from "./nn/upsample.js";
export type { VitConfig, VitParams, VitPE } from "./nn/vit.js";
export { initVit, vitFlops, vitForward, vitGrid, vitLoss } from "./nn/vit.js";
export type { StagePE, VitStageConfig, VitStageParams } from "./nn/vitStage.js";
export { initVitStage, STAGE_PES, vitStage } from "./nn/vitStage.js";
export type { WriteVitConfig, WriteVitParams } from "./nn/writeVit.js";
export { checkWriteVit, initWriteVit, noiseShape, PIXELS_PER_CHAR, WORD_HEIGHT, wordWidth, writeWords } from "./nn/writeVit.js";
export type { SlopeOptions } from "./pe/alibi.js";
export * as alibi from "./pe/alibi.js";
export type { AxialConvention, AxialOptions, AxialTables } from "./pe/axialRope.js";
export * as axialRope from "./pe/axialRope.js";
export type { FireParams } from "./pe/fire.js";
export * as fire from "./pe/fire.js";
export type { KerpleKind, KerpleParams } from "./pe/kerple.js";
export * as kerple from "./pe/kerple.js";
export type { NormalInit, TruncatedNormalInit } from "./pe/learned.js";
export * as learned from "./pe/learned.js";
export type { ProjectionOptions, ProjectionScaling } from "./pe/orthogonalFeatures.js";
export { gaussianOrthogonalProjection } from "./pe/orthogonalFeatures.js";
export { peg } from "./pe/peg.js";
export type { Rng } from "./pe/random.js";
export { rng } from "./pe/random.js";
export type { Positions2d } from "./pe/randomized.js";
export * as randomized from "./pe/randomized.js";
export type {
  ApplyOptions,
  FromHFConfigOptions,
  HFConfig,
  HFRope,
  MropeOptions,
  MropePositions,
  MropeSegment,
  Pairing,
  RopeFrequencies,
  RopeParameters,
  RopeTables,
  RopeType,
  TableOptions,
  XposOptions,
  XposScales,
} from "./pe/rope/index.js";
export * as rope from "./pe/rope/index.js";
export type { CropCondition, Rpe2dGrid, Rpe2dMode } from "./pe/rpe2d.js";
export * as rpe2d from "./pe/rpe2d.js";
export { sincos2d } from "./pe/sincos2d.js";
export type { SinusoidalLayout, SinusoidalOptions } from "./pe/sinusoidal.js";
export * as sinusoidal from "./pe/sinusoidal.js";
export type { BucketOptions } from "./pe/t5.js";
export * as t5 from "./pe/t5.js";
export type { VisionBands, VisionBandsOptions, VisionScaling } from "./pe/visionScaling.js";
export { VISION_SCALINGS, visionBands } from "./pe/visionScaling.js";
export { checkDevice, deviceFault } from "./runtime/deviceFault.js";
export type { DeviceKind, DeviceLimits, DeviceRequest, InitOptions, Runtime } from "./runtime/init.js";
export { init, runtime, teardown } from "./runtime/init.js";
export type { AdamWConfig, AdamWState } from "./train/adamw.js";
export { adamwUpdate, initAdamW, TORCH_ADAMW } from "./train/adamw.js";
export type { CheckpointFiles } from "./train/checkpoint.js";
export { checkpointFiles, fromSafetensors, loadCheckpoint, readCheckpoint, saveCheckpoint, toSafetensors } from "./train/checkpoint.js";
export { clipByGlobalNorm, globalNorm } from "./train/clip.js";
export type { CtcLabelRows, CtcOptions, CtcReduction, CtcTargetOptions, CtcTargets } from "./train/ctc.js";
export { CTC_LOG_ZERO, ctcLoss, ctcLossEncoded, ctcTargets } from "./train/ctc.js";
export type { DigitBatch, DigitTransform, MnistPackage, Split } from "./train/data/digits.js";
export { digitBatches, digitImages, loadDigits, splitIndices, toImageBatch } from "./train/data/digits.js";
export type { HandwritingBatch, WriterStyle } from "./train/data/handwriting.js";
export {
  decodeLabels,
  encodeText,
  glyphBitmaps,
  HANDWRITING_ALPHABET,
  handwritingBatch,
  handwritingWordSplit,
  handwritingWords,
  loadHershey,
  renderWord,
  writerIds,
  writerStyle,
} from "./train/data/handwriting.js";
export type { TaskConfig, TokenBatch } from "./train/data/synthetic.js";
export { syntheticBatch, vocabSize } from "./train/data/synthetic.js";
export type { Corpus } from "./train/data/text.js";
export { corpus, loadSonnets, sonnets, textBatch } from "./train/data/text.js";
export type { EmaUpdate } from "./train/ema.js";
export { emaDecay, initEma, makeEmaUpdate } from "./train/ema.js";
export type { AsyncTrainStep, Chain, Handoff } from "./train/fusedStep.js";
export { makeChainStep } from "./train/fusedStep.js";
export type { BalancedGradient, GradientBalanceOptions } from "./train/gradientBalance.js";
export {
  balancedImageGradient,
  gradientBalanceWeight,
  HWT_GRADIENT_BALANCE,
  WRITEVIT_GRADIENT_BALANCE,
} from "./train/gradientBalance.js";
export type { HandwriteOptions } from "./train/handwrite.js";
export { handwrite, WORD_GAP } from "./train/handwrite.js";
export type { LMStep, LMStepOptions } from "./train/lmStep.js";
export { FUSED_MIN_LENGTH, makeLMStep } from "./train/lmStep.js";
export type { CosineSchedule } from "./train/schedule.js";
export { learningRate } from "./train/schedule.js";
export type { StepBatch, StepResult, TrainConfig, TrainStep } from "./train/trainStep.js";
export { makeStep, makeTrainStep, toBatch } from "./train/trainStep.js";
export { generatorNoise, textGlyphs, textTargets, wordPixels, writeVitBatch } from "./train/writeVitBatch.js";
export type { WriteVitBatch, WriteVitStepOptions, WriteVitSteps, WriteVitTrainState } from "./train/writeVitStep.js";
export { initWriteVitTraining, makeWriteVitSteps, WRITEVIT_ADAM } from "./train/writeVitStep.js";
