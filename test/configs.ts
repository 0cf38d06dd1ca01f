/** Tiny model configs shared by the tests that need a valid one to start from. */
import type { DitConfig } from "../src/nn/dit.js";
import type { LMConfig } from "../src/nn/lm.js";
import type { VitConfig, VitPE } from "../src/nn/vit.js";
import type { WriteVitConfig } from "../src/nn/writeVit.js";

/** A 4 x 4 single-channel ViT of width 8 (2 heads, one block, 3 classes). */
export const tinyVit = (pe: VitPE = { type: "none" }, over: Partial<VitConfig> = {}): VitConfig => ({
  image: [4, 4],
  channels: 1,
  patch: 2,
  width: 8,
  depth: 1,
  heads: 2,
  mlp: { kind: "gelu", hidden: 16, approximate: false },
  norm: { type: "layer", eps: 1e-5 },
  pool: "mean",
  pe,
  peg: false,
  classes: 3,
  bias: true,
  ...over,
});

/** A one-block LM of width 16 over 9 tokens, RoPE halves. */
export const TINY_LM: LMConfig = {
  vocabSize: 9,
  width: 16,
  depth: 1,
  heads: 2,
  mlp: { kind: "gelu", hidden: 32, approximate: false },
  norm: { type: "layer", eps: 1e-5 },
  pe: { type: "rotary", pairing: "halves", base: 10000 },
  tied: true,
  bias: true,
  embedStd: 0.02,
};

/** A one-block DiT of width 16 with RPE-2D positions. */
export const TINY_DIT: DitConfig = {
  channels: 1,
  patch: 2,
  width: 16,
  depth: 1,
  heads: 2,
  mlpRatio: 2,
  frequencyDim: 8,
  classes: null,
  crop: null,
  pe: { type: "rpe2d", maxHeight: 8, maxWidth: 8 },
  peg: false,
  diffusionSteps: 10,
  eps: 1e-6,
};

/** WriteViT's four networks at width 32, words of 3 characters (52 letters), 5 writers. */
export const TINY_WRITEVIT: WriteVitConfig = {
  maxChars: 3,
  characters: 52,
  writers: 5,
  width: 32,
  heads: 2,
  decoderDepth: 1,
  stageDepth: 1,
  discriminatorWidth: 4,
  pe: "peg",
};
