/**
 * Host data to WriteViT's arrays: word images (ink 1 on paper 0, from
 * src/train/data/handwriting.ts) to the model's pixels (paper +1, ink -1:
 * x = 1 - 2 ink), texts to glyph bitmaps padded to n characters with empty
 * glyphs, texts to CTC targets over the recognizer's T = 2 n columns, and the
 * generator's noise from a seeded generator.
 */
import { numpy as np } from "@jax-js/jax";
import { constant } from "../core/constant.js";
import { fail } from "../core/validate.js";
import { GLYPH_SIZE } from "../nn/handwritingGenerator.js";
import { noiseShape, WORD_HEIGHT, type WriteVitConfig, wordWidth } from "../nn/writeVit.js";
import type { Rng } from "../pe/random.js";
import { type CtcTargets, ctcTargets } from "./ctc.js";
import { encodeText, glyphBitmaps, type HandwritingBatch } from "./data/handwriting.js";
import type { WriteVitBatch } from "./writeVitStep.js";

/** B images (B, 32, W) of ink in [0, 1] -> (B, 32, W, 1) pixels 1 - 2 ink. */
export function wordPixels(ink: Float32Array, batch: number, width: number): np.Array {
  if (ink.length !== batch * WORD_HEIGHT * width)
    fail("wordPixels", `ink must hold ${batch * WORD_HEIGHT * width} values, got ${ink.length}`);
  return np.array(Float32Array.from(ink, (v) => 1 - 2 * v)).reshape([batch, WORD_HEIGHT, width, 1]);
}

/** (B, n, 256) glyph bitmaps of texts of at most n characters, empty glyphs after each text. */
export function textGlyphs(config: WriteVitConfig, texts: readonly string[]): np.Array {
  const n = config.maxChars;
  const per = GLYPH_SIZE * GLYPH_SIZE;
  const out = new Float32Array(texts.length * n * per);
  texts.forEach((t, b) => {
    if (t.length > n) fail("textGlyphs", `texts[${b}] ${JSON.stringify(t)} has ${t.length} characters, more than the model's ${n}`);
    out.set(glyphBitmaps(t), b * n * per);
  });
  return np.array(out).reshape([texts.length, n, per]);
}

/** CTC targets of texts read over all T = 2 n columns. */
export function textTargets(config: WriteVitConfig, texts: readonly string[]): CtcTargets {
  const T = 2 * config.maxChars;
  return ctcTargets(
    texts.map(encodeText),
    texts.map(() => T),
    texts.map((t) => t.length),
    { numFrames: T, numClasses: config.characters + 1 },
  );
}

/** The generator's noise for a batch of B, N(0, 1) from r. */
export function generatorNoise(config: WriteVitConfig, batch: number, r: Rng): np.Array {
  const shape = noiseShape(config, batch);
  return constant(
    Float64Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r.normal()),
    np.float32,
  ).reshape(shape);
}

/** A training batch: the real words of `real` (their own style references), `fakeTexts` to generate, noise from r. */
export function writeVitBatch(config: WriteVitConfig, real: HandwritingBatch, fakeTexts: readonly string[], r: Rng): WriteVitBatch {
  const B = real.batch;
  if (real.width !== wordWidth(config)) fail("writeVitBatch", `real words must be ${wordWidth(config)} px wide, got ${real.width}`);
  if (fakeTexts.length !== B) fail("writeVitBatch", `fakeTexts must hold ${B} texts, got ${fakeTexts.length}`);
  return {
    real: wordPixels(real.images, B, real.width),
    writers: np.array(real.writers),
    realTargets: textTargets(config, real.texts),
    glyphs: textGlyphs(config, fakeTexts),
    fakeTargets: textTargets(config, fakeTexts),
    noise: generatorNoise(config, B, r),
  };
}
