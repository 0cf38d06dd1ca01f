/**
 * A line of text in the handwriting of one word image, with a trained
 * WriteViT generator and writer identifier: the words are cut into pieces
 * of at most n characters (the model writes n at a time, 16 px each), all
 * pieces are written in one batch with the same style reference, each piece
 * is cropped 2 px after its last inked column, and the pieces of a word are
 * joined edge to edge, words 8 px apart.
 *
 * The style reference is a grey image (0 black ink, 1 white paper) 32 px
 * high and at most 16 n px wide, one word as the model saw in training;
 * narrower images are padded with paper on the right.
 */
import { type JsTree, jit, numpy as np, tree } from "@jax-js/jax";
import { checkGrayImage, type GrayImage } from "../core/grayPng.js";
import { describe, fail, integer, knownFields, record } from "../core/validate.js";
import { checkWriteVit, WORD_HEIGHT, type WriteVitConfig, type WriteVitParams, wordWidth, writeWords } from "../nn/writeVit.js";
import { rng } from "../pe/random.js";
import { HANDWRITING_ALPHABET } from "./data/handwriting.js";
import { generatorNoise, textGlyphs } from "./writeVitBatch.js";

/** Paper between two words, px. */
export const WORD_GAP = 8;
/** Paper kept after a piece's last inked column, px. */
const MARGIN = 2;

export interface HandwriteOptions {
  /** Seed of the generator's noise; default 0. */
  seed?: number;
}

/**
 * `text` (letters a-z A-Z and spaces) in the style of `style`. Borrows the
 * parameters; returns a grey image 32 px high.
 */
export async function handwrite(
  p: Pick<WriteVitParams, "generator" | "writer">,
  config: WriteVitConfig,
  style: GrayImage,
  text: string,
  options: HandwriteOptions = {},
): Promise<GrayImage> {
  const fn = "handwrite";
  checkWriteVit(fn, "config", config);
  if (typeof p?.generator !== "object" || typeof p?.writer !== "object")
    fail(fn, `p must hold the generator's and the writer identifier's parameters, got ${describe(p)}`);
  const n = config.maxChars;
  const W = wordWidth(config);
  if (typeof text !== "string" || text.trim() === "") fail(fn, `text must hold at least one letter, got ${describe(text)}`);
  const unknown = [...new Set(Array.from(text).filter((c) => c !== " " && !HANDWRITING_ALPHABET.includes(c)))];
  if (unknown.length > 0)
    fail(
      fn,
      `text holds characters the model cannot write: ${unknown.map((c) => JSON.stringify(c)).join(", ")}; it writes a-z, A-Z and spaces`,
    );
  checkGrayImage(fn, "style", style);
  if (style.height !== WORD_HEIGHT || style.width > W)
    fail(fn, `style must be a grey image ${WORD_HEIGHT} px high and 1 to ${W} px wide (one word), got ${style.height} x ${style.width}`);
  record(fn, "options", options, "{ seed }");
  knownFields(fn, "options", options, ["seed"]);
  const seed = integer(fn, "options.seed", options.seed ?? 0, 0);

  const words = text.trim().split(/ +/);
  const pieces = words.flatMap((w, k) =>
    Array.from({ length: Math.ceil(w.length / n) }, (_, i) => ({ word: k, text: w.slice(i * n, (i + 1) * n) })),
  );
  const B = pieces.length;
  const reference = new Float32Array(B * WORD_HEIGHT * W).fill(1); // model pixels: paper +1, ink -1
  for (let b = 0; b < B; b++)
    for (let y = 0; y < WORD_HEIGHT; y++)
      for (let x = 0; x < style.width; x++) reference[(b * WORD_HEIGHT + y) * W + x] = 2 * style.data[y * style.width + x] - 1;
  const write = jit((pp: typeof p, refs: np.Array, glyphs: np.Array, noise: np.Array) => writeWords(pp, config, refs, glyphs, noise));
  const images = write(
    tree.ref({ generator: p.generator, writer: p.writer } as unknown as JsTree<np.Array>) as never,
    np.array(reference).reshape([B, WORD_HEIGHT, W, 1]),
    textGlyphs(
      config,
      pieces.map((q) => q.text),
    ),
    generatorNoise(config, B, rng(seed)),
  );
  const pixels = await images.data(); // (B, 32, W, 1)
  write.dispose();

  const inked = (b: number, x: number) => {
    for (let y = 0; y < WORD_HEIGHT; y++) if (pixels[(b * WORD_HEIGHT + y) * W + x] < 0) return true;
    return false;
  };
  const widths = pieces.map((_, b) => {
    let last = -1;
    for (let x = 0; x < W; x++) if (inked(b, x)) last = x;
    return last < 0 ? 16 * pieces[b].text.length : Math.min(W, last + 1 + MARGIN);
  });
  const width = widths.reduce((a, w) => a + w, 0) + WORD_GAP * (words.length - 1);
  const data = new Float32Array(WORD_HEIGHT * width).fill(1);
  let x0 = 0;
  pieces.forEach((q, b) => {
    if (b > 0 && q.word !== pieces[b - 1].word) x0 += WORD_GAP;
    for (let y = 0; y < WORD_HEIGHT; y++)
      for (let x = 0; x < widths[b]; x++) data[y * width + x0 + x] = (pixels[(b * WORD_HEIGHT + y) * W + x] + 1) / 2;
    x0 += widths[b];
  });
  return { data, height: WORD_HEIGHT, width };
}
