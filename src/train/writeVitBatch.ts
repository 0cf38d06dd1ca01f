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

/**
 * A training batch from host words: the real words, each writer's other word
 * as the generator's style reference, and the real words' texts as the texts
 * to generate (so that each generated word has a real rendering by the same
 * writer, `real`, which a reconstruction term may compare it with); noise from r.
 */
export function writeVitBatch(config: WriteVitConfig, words: HandwritingBatch, r: Rng): WriteVitBatch {
  const B = words.batch;
  if (words.width !== wordWidth(config)) fail("writeVitBatch", `words must be ${wordWidth(config)} px wide, got ${words.width}`);
  return {
    real: wordPixels(words.images, B, words.width),
    style: wordPixels(words.styleImages, B, words.width),
    writers: np.array(words.writers),
    targets: textTargets(config, words.texts),
    glyphs: textGlyphs(config, words.texts),
    noise: generatorNoise(config, B, r),
  };
}
