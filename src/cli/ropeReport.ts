/**
 * `posenc rope`: what a Hugging Face config's RoPE does to each frequency
 * band. For every rotary pair it shows the wavelength before and after
 * scaling and whether the band is extrapolated (left as trained), interpolated
 * (divided by the scaling factor) or blended between the two.
 */

import { formatNumber, formatTable } from "../core/table.js";
import { inverseFrequencies, wavelengths } from "../pe/rope/frequencies.js";
import { fromHFConfig, type HFConfig, type HFRope } from "../pe/rope/hfConfig.js";
import { type RopeParameters, yarnCorrectionRange } from "../pe/rope/scaling.js";

export interface RopeReportOptions {
  seqLen?: number;
  layerType?: string;
}

export type BandRegime = "extrapolated" | "interpolated" | "blended" | "rescaled" | "not rotated";

export interface Band {
  index: number;
  wavelength: number;
  scaledWavelength: number;
  /** original frequency / scaled frequency */
  ratio: number;
  regime: BandRegime;
}

/** Per-band comparison of the scaled frequencies with unscaled RoPE of the same base and dims. */
export function ropeBands(rope: HFRope): Band[] {
  const p = rope.parameters;
  const original = p.type === "proportional" ? rope.invFreq.map((f) => f * p.factor) : inverseFrequencies(p.rotaryDim, p.base);
  const before = wavelengths(original);
  const after = wavelengths(rope.invFreq);
  const factor = "factor" in p ? p.factor : 1;
  return Array.from(rope.invFreq, (f, i) => {
    const ratio = original[i] / f;
    let regime: BandRegime;
    if (f === 0) regime = "not rotated";
    else if (Math.abs(ratio - 1) < 1e-9) regime = "extrapolated";
    else if (Math.abs(ratio - factor) < 1e-9 * factor) regime = "interpolated";
    else regime = p.type === "yarn" || p.type === "llama3" ? "blended" : "rescaled";
    return { index: i, wavelength: before[i], scaledWavelength: after[i], ratio, regime };
  });
}

/** The full text report. */
export function ropeReport(config: HFConfig, source: string, options: RopeReportOptions = {}): string {
  const rope = fromHFConfig(config, options);
  const p = rope.parameters;
  const bands = ropeBands(rope);
  const lines = [
    `config: ${source}`,
    `rope_type: ${rope.type}   head_dim: ${rope.headDim}   rotary dims: ${rope.rotaryDim}   rope_theta: ${formatNumber(p.base)}   pairing: ${rope.pairing}`,
    ...describeScaling(p),
    `attention factor: ${formatNumber(rope.attentionFactor)} (multiplies cos and sin)`,
    rope.softmaxScale !== 1 ? `softmax scale: x ${formatNumber(rope.softmaxScale)} (mscale(factor, mscale_all_dim)^2, DeepSeek)` : null,
    rope.mropeSection
      ? `M-RoPE: frequencies per axis (temporal, height, width) ${rope.mropeSection.join(", ")}, ${rope.mropeInterleaved ? "interleaved (Qwen3-VL)" : "sectioned (Qwen2-VL)"}`
      : null,
    options.seqLen !== undefined ? `sequence length: ${options.seqLen}` : null,
    "",
    formatTable(
      ["band", "wavelength", "scaled wavelength", "ratio", "regime"],
      bands.map((b) => [b.index, b.wavelength, b.scaledWavelength, b.ratio, b.regime]),
    ),
    "",
    summary(bands),
  ];
  // optional lines (null) left out
  return lines.filter((l): l is string => l !== null).join("\n");
}

function describeScaling(p: RopeParameters): string[] {
  switch (p.type) {
    case "default":
      return ["scaling: none"];
    case "linear":
      return [`scaling: position interpolation, factor ${formatNumber(p.factor)}`];
    case "dynamic":
      return [`scaling: dynamic NTK, factor ${formatNumber(p.factor)}, base rescaled beyond ${p.maxPositions} positions`];
    case "yarn": {
      const [low, high] = yarnCorrectionRange(p);
      return [
        `scaling: YaRN, factor ${formatNumber(p.factor)}, original context ${p.originalMaxPositions}`,
        `  bands <= ${formatNumber(low)} extrapolated (> ${formatNumber(p.betaFast)} rotations in the original context),` +
          ` bands >= ${formatNumber(high)} interpolated (< ${formatNumber(p.betaSlow)} rotation), linear ramp between`,
      ];
    }
    case "longrope":
      return [`scaling: LongRoPE, factor ${formatNumber(p.factor)}, original context ${p.originalMaxPositions} (long factors beyond it)`];
    case "llama3":
      return [
        `scaling: Llama 3, factor ${formatNumber(p.factor)}, original context ${p.originalMaxPositions}`,
        `  wavelengths above ${formatNumber(p.originalMaxPositions / p.lowFreqFactor)} interpolated, below ${formatNumber(p.originalMaxPositions / p.highFreqFactor)} kept, smooth between`,
      ];
    case "proportional":
      return [`scaling: proportional, ${p.rotatedPairs} of ${p.headDim / 2} pairs rotated, factor ${formatNumber(p.factor)}`];
    default:
      return p satisfies never;
  }
}

function summary(bands: Band[]): string {
  const counts = new Map<BandRegime, number>();
  for (const b of bands) counts.set(b.regime, (counts.get(b.regime) ?? 0) + 1);
  return `${bands.length} bands: ${[...counts].map(([r, n]) => `${n} ${r}`).join(", ")}`;
}
