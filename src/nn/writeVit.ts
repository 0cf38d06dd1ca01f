/**
 * WriteViT at small scale: the four networks of one-shot handwriting
 * generation and how they connect.
 *
 *   style  = WriterIdentifier(reference).tokens       one word image of the writer
 *   fake   = Generator(Glyphs(text), style, noise)     (B, 32, 16 n, 1) in [-1, 1]
 *   D(x)   = Discriminator(x)                          real vs generated (hinge)
 *   R(x)   = Recognizer(x)                             per-column characters (CTC)
 *   W(x)   = WriterIdentifier(x).logits                which writer (cross-entropy)
 *
 * Images are (B, H, W, 1) with H = 32 and W = 16 n for texts of at most n
 * characters (the generator writes 16 pixels per character); pixels are in
 * [-1, 1], background +1 and ink -1, as the official code's normalised
 * grey levels. The recognizer reads T = W / 8 = 2 n columns, enough for any
 * text of n characters with CTC's blanks between repeats.
 *
 * `pe` is the position encoding of the ViT stages of the generator and of
 * the writer identifier (the networks that generate): WriteViT's conditional
 * positional encoding "peg", a fixed 2-D "sincos2d" table, or "none"; the
 * recognizer keeps its PEG, so that it reads every variant the same way.
 *
 * Reference: Nam et al., "WriteViT: Handwritten Text Generation with Vision
 * Transformer" (2025), https://github.com/hnam-1765/WriteViT (models/model.py)
 */
import { type DType, numpy as np } from "@jax-js/jax";
import { fail, integer, oneOf, record } from "../core/validate.js";
import { rng } from "../pe/random.js";
import { type DiscriminatorConfig, type DiscriminatorParams, initDiscriminator } from "./discriminator.js";
import { type GeneratorConfig, type GeneratorParams, generate, initGenerator } from "./handwritingGenerator.js";
import { initRecognizer, type RecognizerConfig, type RecognizerParams } from "./recognizer.js";
import { STAGE_PES, type StagePE } from "./vitStage.js";
import { identifyWriter, initWriterIdentifier, type WriterIdentifierConfig, type WriterIdentifierParams } from "./writerIdentifier.js";

/** Image height (WriteViT's IMG_HEIGHT). */
export const WORD_HEIGHT = 32;
/** Pixels the generator writes per character (WriteViT's `resolution`). */
export const PIXELS_PER_CHAR = 16;

export interface WriteVitConfig {
  /** Characters n of the longest text; images are 16 n pixels wide. */
  maxChars: number;
  /** Characters the recognizer tells apart (the CTC blank comes on top). */
  characters: number;
  /** Writers the writer identifier tells apart. */
  writers: number;
  /** Width C of the generator's decoder, of the writer identifier and of the recognizer (WriteViT: 256). */
  width: number;
  heads: number;
  /** Cross-attention blocks of the generator (WriteViT: 5). */
  decoderDepth: number;
  /** Blocks of each ViT stage of the generator, the writer identifier and the recognizer (WriteViT: 3). */
  stageDepth: number;
  /** First width of the discriminator. */
  discriminatorWidth: number;
  /** Position encoding of the generating networks' ViT stages. */
  pe: StagePE;
}

export interface WriteVitParams {
  generator: GeneratorParams;
  writer: WriterIdentifierParams;
  recognizer: RecognizerParams;
  discriminator: DiscriminatorParams;
}

/** Throws `fn: <field>...` naming the first field of `config` out of range. */
export function checkWriteVit(fn: string, field: string, config: unknown): WriteVitConfig {
  const c = record(fn, field, config, "a WriteVitConfig object");
  const known = ["maxChars", "characters", "writers", "width", "heads", "decoderDepth", "stageDepth", "discriminatorWidth", "pe"];
  for (const k of Object.keys(c)) if (!known.includes(k)) fail(fn, `${field} has an unknown field "${k}" (known: ${known.join(", ")})`);
  integer(fn, `${field}.maxChars`, c.maxChars, 1);
  integer(fn, `${field}.characters`, c.characters, 1);
  integer(fn, `${field}.writers`, c.writers, 2);
  const C = integer(fn, `${field}.width`, c.width, 8);
  const H = integer(fn, `${field}.heads`, c.heads, 1);
  if (C % 32 !== 0)
    fail(fn, `${field}.width must be a multiple of 32 (the stages use C/2, C/4 and C/8; sincos2d needs C/4 divisible by 4), got ${C}`);
  if ((C / 4) % H !== 0) fail(fn, `${field}.heads (${H}) must divide the narrowest stage's width ${field}.width / 4 = ${C / 4}`);
  integer(fn, `${field}.decoderDepth`, c.decoderDepth, 1);
  integer(fn, `${field}.stageDepth`, c.stageDepth, 1);
  integer(fn, `${field}.discriminatorWidth`, c.discriminatorWidth, 1);
  oneOf(fn, `${field}.pe`, c.pe, STAGE_PES);
  return config as WriteVitConfig;
}

/** Image width W = 16 n. */
export function wordWidth(config: WriteVitConfig): number {
  return PIXELS_PER_CHAR * config.maxChars;
}

export function generatorConfig(c: WriteVitConfig): GeneratorConfig {
  return { width: c.width, heads: c.heads, decoderDepth: c.decoderDepth, stageDepth: c.stageDepth, pe: c.pe };
}

export function writerConfig(c: WriteVitConfig): WriterIdentifierConfig {
  return { width: c.width, heads: c.heads, depth: c.stageDepth, pe: c.pe, writers: c.writers };
}

export function recognizerConfig(c: WriteVitConfig): RecognizerConfig {
  return { width: c.width, heads: c.heads, depth: c.stageDepth, height: WORD_HEIGHT, vocabulary: c.characters + 1 };
}

export function discriminatorConfig(c: WriteVitConfig): DiscriminatorConfig {
  return { width: c.discriminatorWidth };
}

/** Seeded parameters of the four networks: same config and seed, same model on every device. */
export function initWriteVit(config: WriteVitConfig, seed: number, dtype: DType = np.float32): WriteVitParams {
  checkWriteVit("initWriteVit", "config", config);
  const r = rng(seed);
  return {
    generator: initGenerator(r, generatorConfig(config), dtype),
    writer: initWriterIdentifier(r, writerConfig(config), dtype),
    recognizer: initRecognizer(r, recognizerConfig(config), dtype),
    discriminator: initDiscriminator(r, discriminatorConfig(config), dtype),
  };
}

/** Shape of the generator's noise input for a batch of B: (B, 16, 8 n, C/4). */
export function noiseShape(config: WriteVitConfig, batch: number): [number, number, number, number] {
  return [batch, WORD_HEIGHT / 2, (PIXELS_PER_CHAR / 2) * config.maxChars, config.width / 4];
}

/**
 * Words in the style of `references` (B, 32, W, 1): glyphs (B, n, 256) of the
 * texts, noise of `noiseShape` -> (B, 32, W, 1). Borrows the parameters,
 * consumes the arrays.
 */
export function writeWords(
  p: Pick<WriteVitParams, "generator" | "writer">,
  config: WriteVitConfig,
  references: np.Array,
  glyphs: np.Array,
  noise: np.Array,
): np.Array {
  const { tokens, logits } = identifyWriter(p.writer, writerConfig(config), references); // (B, S, C), (B, K)
  logits.dispose();
  const out = generate(p.generator, generatorConfig(config), glyphs, tokens.ref, noise); // (B, 32, W, 1)
  tokens.dispose();
  return out;
}
