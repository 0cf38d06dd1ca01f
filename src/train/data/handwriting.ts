/**
 * Synthetic handwriting for the WriteViT-style one-shot generator: word
 * images of deterministic writers, drawn from the Hershey stroke fonts
 * (data/hershey.json, see data/README.md: two script and six print faces,
 * letters a-z A-Z, Hershey units, y down, baseline y = 22).
 *
 * A writer w has a style drawn from `rng(STYLE_SEED + w)`: a font (script
 * with probability SCRIPT_PROBABILITY), an x-height (hence a scale s, px per
 * unit), an aspect a, a slant k, a pen width, a letter spacing, a baseline
 * wobble (amplitude A, period P), a smooth elastic field and a jitter
 * magnitude j. A glyph point (u, v) (units, v = y - 22) of the i-th letter,
 * with the letter's origin at cursor c_i, becomes the pixel point
 *
 *   (u', v')  = R(rho_i) (1 + sigma_i) ((u, v) - m) + m       per-glyph jitter about the glyph's middle m
 *   X = s a (c_i + u') + dx_i,   Y = B + s v' + dy_i           B: the writer's baseline row
 *   X += k (B - Y)                                              slant (shear about the baseline)
 *   Y += A sin(2 pi X / P + phi)                                baseline wobble, phase phi per rendering
 *   (X, Y) += sum_waves e sin(kx X + ky Y + theta)              elastic field, shifted per rendering
 *
 * with c_{i+1} = c_i + advance_i + spacing + (jitter), and rho, sigma, dx, dy
 * normal draws of size proportional to j from the rendering's generator. The
 * word is then moved to the left margin, compressed horizontally when wider
 * than the image (never cropped), kept inside the height, and each segment
 * is drawn as a thick line: coverage(p) = clamp(w / 2 + 1/2 - dist(p, seg), 0, 1)
 * at pixel centres, the maximum over segments (ink 1, paper 0).
 *
 * Writers 0..TRAIN_WRITERS-1 are the training writers, the next
 * HELD_OUT_WRITERS the held-out ones. Words: the distinct letter runs of
 * data/sonnets.txt, every HELD_OUT_WORD_STRIDE-th held out.
 *
 * One file of ~500 lines, past the ~400 of DESIGN.md: the glyph data, the
 * writers, the renderer and the batches share the font metrics cache and the
 * fitting; split, each part would export the others' internals.
 *
 * Reference: Dang Hoai Nam et al., "WriteViT: Handwritten Text Generation with Vision
 * Transformer" (2025), https://arxiv.org/abs/2505.13235; Bhunia et al.,
 * "Handwriting Transformers" (ICCV 2021), https://arxiv.org/abs/2104.03964;
 * Simard et al., "Best practices for CNNs applied to visual document
 * analysis" (ICDAR 2003) for the elastic distortion.
 */
import { describe, fail, finite, integer, oneOf, positive, record } from "../../core/validate.js";
import { GLYPH_SIZE } from "../../nn/handwritingGenerator.js";
import { WORD_HEIGHT } from "../../nn/writeVit.js";
import { type Rng, rng } from "../../pe/random.js";
import { shippedText } from "../../runtime/host.js";
import { sonnets } from "./text.js";

/** The letters a word may hold; CTC label of HANDWRITING_ALPHABET[i] is i + 1 (0 is the blank). */
export const HANDWRITING_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
/** Longest word of `handwritingWords()` by default (8 letters fill 128 px). */
export const MAX_WORD_LENGTH = 8;
/** Writers 0..TRAIN_WRITERS-1 train. */
export const TRAIN_WRITERS = 200;
/** Writers TRAIN_WRITERS..TRAIN_WRITERS+HELD_OUT_WRITERS-1 are held out. */
export const HELD_OUT_WRITERS = 40;
/** Every HELD_OUT_WORD_STRIDE-th word (index % stride === stride - 1) is held out. */
export const HELD_OUT_WORD_STRIDE = 10;

/** Our choices, read off rendered samples (see the file's header for their roles). */
const STYLE_SEED = 0x48657273;
const SCRIPT_PROBABILITY = 0.4;
const BASELINE_UNITS = 22;
const LEFT_MARGIN = 2;
const RIGHT_MARGIN = 1;
/** Longest segment (px) after subdivision, so that the smooth maps bend long lines. */
const MAX_SEGMENT = 1.5;
/** Per-glyph jitter at j = 1: offset (px), scale, rotation (rad), spacing (units). */
const JITTER = { offset: 0.8, scale: 0.08, rotation: 0.08, spacing: 1 };
/** The glyph-bitmap face and pen. */
const BITMAP_FONT = "futural";
const BITMAP_PEN = 1.25;

export interface HersheyGlyph {
  /** Units from this glyph's origin to the next one's. */
  advance: number;
  /** Polylines [x0, y0, x1, y1, ...] in units, origin x = 0, y down, baseline 22. */
  strokes: number[][];
}
export interface HersheyFont {
  name: string;
  family: "script" | "print";
  glyphs: Record<string, HersheyGlyph>;
}
/** data/hershey.json, parsed. */
export interface HersheyData {
  source: string;
  license: string;
  fonts: Record<string, HersheyFont>;
}

/** One writer's hand; plain data (JSON round-trips it). */
export interface WriterStyle {
  writer: number;
  /** A key of `loadHershey().fonts`. */
  font: string;
  /** Vertical px per Hershey unit. */
  scale: number;
  /** Horizontal scale / vertical scale. */
  aspect: number;
  /** Shear: X += slant (baseline - Y); > 0 leans right. */
  slant: number;
  /** Pen width, px. */
  strokeWidth: number;
  /** Extra Hershey units between letters (< 0 tighter). */
  spacing: number;
  /** Row (px from the top) of the baseline. */
  baseline: number;
  /** Baseline wobble: amplitude and period in px. */
  wobble: { amplitude: number; period: number };
  /** Smooth displacement: for each axis, waves e sin(kx X + ky Y + theta) (e in px, k in rad / px). */
  elastic: { x: Wave[]; y: Wave[] };
  /** Per-glyph jitter magnitude j (multiplies JITTER). */
  jitter: number;
}
export interface Wave {
  amplitude: number;
  kx: number;
  ky: number;
  phase: number;
}

export interface HandwritingBatch {
  batch: number;
  height: number;
  width: number;
  /** (batch, WORD_HEIGHT, width) row-major, in [0, 1]: the target words. */
  images: Float32Array;
  /** (batch, WORD_HEIGHT, width): another word by the same writer. */
  styleImages: Float32Array;
  texts: string[];
  styleTexts: string[];
  /** (batch) index into options.writers: a class label. */
  writers: Int32Array;
}

interface Metrics {
  /** Smallest and largest y over the font's letters, units. */
  top: number;
  bottom: number;
  /** Top of 'x' (the x-height line), units. */
  xTop: number;
}

let cached: { data: HersheyData; metrics: Map<string, Metrics>; source: HersheyData | undefined } | null = null;

/**
 * The Hershey glyphs: from `source` (data/hershey.json already parsed, as a
 * browser passes it) when given, else in Node from the shipped file; checked
 * and cached per source.
 */
export function loadHershey(source?: HersheyData): HersheyData {
  const fn = "loadHershey";
  if (cached && (source === undefined || source === cached.source)) return cached.data;
  const data = (source === undefined ? JSON.parse(shippedText(fn, "hershey.json")) : source) as HersheyData;
  const fonts = record(fn, "source.fonts", record(fn, "source", data, "data/hershey.json parsed").fonts, "an object of fonts");
  const metrics = new Map<string, Metrics>();
  for (const [key, font] of Object.entries(fonts) as [string, HersheyFont][]) {
    oneOf(fn, `fonts.${key}.family`, font?.family, ["script", "print"]);
    const m: Metrics = { top: Infinity, bottom: -Infinity, xTop: Infinity };
    for (const c of HANDWRITING_ALPHABET) {
      const g = font.glyphs?.[c];
      positive(fn, `fonts.${key}.glyphs.${c}.advance`, g?.advance);
      if (!Array.isArray(g.strokes) || g.strokes.some((s) => !Array.isArray(s) || s.length < 4 || s.length % 2 !== 0))
        fail(fn, `fonts.${key}.glyphs.${c}.strokes must be polylines [x0, y0, x1, y1, ...], got ${describe(g.strokes).slice(0, 80)}`);
      for (const s of g.strokes)
        for (let i = 1; i < s.length; i += 2) {
          const y = finite(fn, `fonts.${key}.glyphs.${c}.strokes`, s[i]);
          [m.top, m.bottom] = [Math.min(m.top, y), Math.max(m.bottom, y)];
          if (c === "x") m.xTop = Math.min(m.xTop, y);
        }
    }
    metrics.set(key, m);
  }
  if (!metrics.has(BITMAP_FONT)) fail(fn, `source.fonts must hold ${BITMAP_FONT} (the glyph bitmaps' face)`);
  cached = { data, metrics, source };
  return data;
}

function metricsOf(fn: string, font: unknown): Metrics {
  loadHershey();
  const m = typeof font === "string" ? cached!.metrics.get(font) : undefined;
  if (!m) fail(fn, `style.font must be one of ${[...cached!.metrics.keys()].join(", ")}, got ${describe(font)}`);
  return m;
}

/** Writer ids of a split: train 0..TRAIN_WRITERS-1, heldOut the next HELD_OUT_WRITERS. */
export function writerIds(split: "train" | "heldOut"): number[] {
  oneOf("writerIds", "split", split, ["train", "heldOut"]);
  return split === "train"
    ? Array.from({ length: TRAIN_WRITERS }, (_, i) => i)
    : Array.from({ length: HELD_OUT_WRITERS }, (_, i) => TRAIN_WRITERS + i);
}

/** The style of writer `writer` (any integer >= 0), the same on every call and engine. */
export function writerStyle(writer: number): WriterStyle {
  const fn = "writerStyle";
  integer(fn, "writer", writer, 0);
  const { fonts } = loadHershey();
  const r = rng(STYLE_SEED + writer);
  const between = (lo: number, hi: number) => lo + (hi - lo) * r.uniform();
  const family = r.uniform() < SCRIPT_PROBABILITY ? "script" : "print";
  const keys = Object.keys(fonts).filter((k) => fonts[k].family === family);
  const font = keys[r.below(keys.length)];
  const m = metricsOf(fn, font);
  const bold = /bold|medium/i.test(fonts[font].name);
  const strokeWidth = bold ? between(1, 1.8) : between(1.1, 2.6);
  const wobble = { amplitude: between(0, 1.6), period: between(30, 110) };
  const waves = () =>
    Array.from({ length: 2 }, () => ({
      amplitude: between(0.1, 0.8),
      kx: (2 * Math.PI) / between(14, 50),
      ky: (2 * Math.PI) / between(14, 50),
      phase: between(0, 2 * Math.PI),
    }));
  const elastic = { x: waves(), y: waves() };
  const jitter = between(0.2, 1);
  // the x-height wanted, capped so that ascenders, descenders, pen and typical displacements (half the largest) fit
  const bend = (wobble.amplitude + elastic.y.reduce((t, w) => t + w.amplitude, 0) + 2 * JITTER.offset * jitter) / 2;
  const room = WORD_HEIGHT - 2 - strokeWidth - 2 * bend;
  const scale = Math.min(between(7, 12) / (BASELINE_UNITS - m.xTop), room / (m.bottom - m.top));
  const centre = WORD_HEIGHT / 2 - scale * ((m.top + m.bottom) / 2 - BASELINE_UNITS);
  const slack = Math.max(0, (room - scale * (m.bottom - m.top)) / 2);
  return {
    writer,
    font,
    scale,
    aspect: between(0.8, 1.2),
    slant: between(-0.2, 0.4),
    strokeWidth,
    spacing: family === "script" ? between(-0.6, 0.8) : between(-1, 4),
    baseline: centre + between(-slack, slack),
    wobble,
    elastic,
    jitter,
  };
}

/** Word characters checked against the alphabet. */
function checkWord(fn: string, field: string, word: unknown): string {
  if (typeof word !== "string" || word.length === 0) fail(fn, `${field} must be a non-empty string, got ${describe(word)}`);
  for (let i = 0; i < word.length; i++)
    if (!HANDWRITING_ALPHABET.includes(word[i]))
      fail(fn, `${field} must hold letters a-z A-Z only, got ${JSON.stringify(word[i])} at ${i} in ${JSON.stringify(word)}`);
  return word;
}

/** Polylines (px) of a word in a style, before fitting; `r` draws the per-rendering jitter. */
function wordStrokes(word: string, style: WriterStyle, r: Rng): Float64Array[] {
  const { glyphs } = loadHershey().fonts[style.font];
  const m = cached!.metrics.get(style.font)!;
  const { scale: s, aspect, slant, baseline: B, wobble, elastic, jitter: j } = style;
  const phase = 2 * Math.PI * r.uniform();
  const shift = [100 * r.uniform(), 100 * r.uniform()];
  const field = (waves: Wave[], x: number, y: number) =>
    waves.reduce((t, w) => t + w.amplitude * Math.sin(w.kx * (x + shift[0]) + w.ky * (y + shift[1]) + w.phase), 0);
  const out: Float64Array[] = [];
  let cursor = 0;
  for (const c of word) {
    const g = glyphs[c];
    const [mu, mv] = [g.advance / 2, (m.xTop - BASELINE_UNITS) / 2];
    const grow = 1 + JITTER.scale * j * r.normal();
    const rho = JITTER.rotation * j * r.normal();
    const [cos, sin] = [grow * Math.cos(rho), grow * Math.sin(rho)];
    const [dx, dy] = [JITTER.offset * j * r.normal(), JITTER.offset * j * r.normal()];
    for (const stroke of g.strokes) {
      const points: number[] = [];
      const place = (x: number, y: number) => {
        const [u, v] = [x - mu, y - BASELINE_UNITS - mv];
        let X = s * aspect * (cursor + mu + cos * u - sin * v) + dx;
        let Y = B + s * (mv + sin * u + cos * v) + dy;
        X += slant * (B - Y);
        Y += wobble.amplitude * Math.sin((2 * Math.PI * X) / wobble.period + phase);
        points.push(X + field(elastic.x, X, Y), Y + field(elastic.y, X, Y));
      };
      place(stroke[0], stroke[1]);
      for (let i = 2; i < stroke.length; i += 2) {
        // subdivided so that no piece is longer than MAX_SEGMENT px
        const [ax, ay, bx, by] = [stroke[i - 2], stroke[i - 1], stroke[i], stroke[i + 1]];
        const pieces = Math.max(1, Math.ceil((Math.hypot(bx - ax, by - ay) * s) / MAX_SEGMENT));
        for (let p = 1; p <= pieces; p++) place(ax + (p / pieces) * (bx - ax), ay + (p / pieces) * (by - ay));
      }
      out.push(Float64Array.from(points));
    }
    cursor += g.advance + style.spacing + JITTER.spacing * j * r.normal();
  }
  return out;
}

/** Draws segment (x0, y0)-(x1, y1) with pen radius `radius` into a (height, width) image, keeping the maximum coverage. */
function drawSegment(img: Float32Array, height: number, width: number, x0: number, y0: number, x1: number, y1: number, radius: number) {
  const reach = radius + 0.5;
  const [dx, dy] = [x1 - x0, y1 - y0];
  const len2 = dx * dx + dy * dy;
  const cMin = Math.max(0, Math.floor(Math.min(x0, x1) - reach));
  const cMax = Math.min(width - 1, Math.ceil(Math.max(x0, x1) + reach));
  const rMin = Math.max(0, Math.floor(Math.min(y0, y1) - reach));
  const rMax = Math.min(height - 1, Math.ceil(Math.max(y0, y1) + reach));
  for (let row = rMin; row <= rMax; row++) {
    const py = row + 0.5 - y0;
    for (let col = cMin; col <= cMax; col++) {
      const px = col + 0.5 - x0;
      const t = len2 > 0 ? Math.min(1, Math.max(0, (px * dx + py * dy) / len2)) : 0;
      const cover = reach - Math.hypot(px - t * dx, py - t * dy);
      if (cover > 0) {
        const at = row * width + col;
        const v = Math.min(cover, 1);
        if (v > img[at]) img[at] = v;
      }
    }
  }
}

/** Rasterizes polylines into a (height, width) image after fitting them: moved to `left`, compressed into [left, width - right], kept within the rows. */
function rasterize(
  strokes: Float64Array[],
  height: number,
  width: number,
  pen: number,
  left: number,
  right: number,
  centre: boolean,
): Float32Array {
  const radius = pen / 2;
  let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
  for (const p of strokes)
    for (let i = 0; i < p.length; i += 2)
      [x0, x1, y0, y1] = [Math.min(x0, p[i]), Math.max(x1, p[i]), Math.min(y0, p[i + 1]), Math.max(y1, p[i + 1])];
  const room = Math.max(0, width - left - right - pen);
  const fx = x1 - x0 > room ? room / (x1 - x0) : 1;
  // centred: the leftmost point on a pixel centre, so that a vertical stroke there is solid
  const startX = centre ? Math.floor((width - (x1 - x0) * fx) / 2) + 0.5 : left + radius;
  const [top, bottom] = [radius + 0.5, height - radius - 0.5];
  const fy = y1 - y0 > bottom - top ? (bottom - top) / (y1 - y0) : 1;
  // shift rows only as far as needed to bring the ink inside
  const oy = fy < 1 ? top - y0 * fy : Math.max(top - y0, Math.min(0, bottom - y1));
  const img = new Float32Array(height * width);
  for (const p of strokes)
    for (let i = 2; i < p.length; i += 2)
      drawSegment(
        img,
        height,
        width,
        startX + (p[i - 2] - x0) * fx,
        oy + p[i - 1] * fy,
        startX + (p[i] - x0) * fx,
        oy + p[i + 1] * fy,
        radius,
      );
  return img;
}

function checkStyle(fn: string, style: WriterStyle): void {
  record(fn, "style", style, "a WriterStyle (writerStyle(writer))");
  metricsOf(fn, style.font);
  for (const k of ["scale", "aspect", "strokeWidth"] as const) positive(fn, `style.${k}`, style[k]);
  for (const k of ["slant", "spacing", "baseline", "jitter"] as const) finite(fn, `style.${k}`, style[k]);
  finite(fn, "style.wobble.amplitude", style.wobble?.amplitude);
  positive(fn, "style.wobble.period", style.wobble?.period);
  for (const axis of ["x", "y"] as const)
    if (!Array.isArray(style.elastic?.[axis]))
      fail(fn, `style.elastic.${axis} must be a list of waves, got ${describe(style.elastic?.[axis])}`);
}

/**
 * `word` in `style` as a (WORD_HEIGHT, width) row-major image in
 * [0, 1] (ink 1), left-aligned, compressed horizontally when wider than
 * `width`; `r` draws this rendering's jitter (see the file's header).
 */
export function renderWord(word: string, style: WriterStyle, r: Rng, width: number): Float32Array {
  const fn = "renderWord";
  checkWord(fn, "word", word);
  checkStyle(fn, style);
  integer(fn, "width", width, 1);
  if (typeof r?.normal !== "function") fail(fn, `r must be an Rng (rng(seed)), got ${describe(r)}`);
  return rasterize(wordStrokes(word, style, r), WORD_HEIGHT, width, style.strokeWidth, LEFT_MARGIN, RIGHT_MARGIN, false);
}

const bitmaps = new Map<string, Float32Array>();

/**
 * One GLYPH_SIZE^2 bitmap per character of `text`, (text.length, 256)
 * row-major in [0, 1]: the character in the plain Sans 1-stroke face
 * (futural), one scale for all letters (the face's full height in 14 px, so
 * that case and x-height show), baseline fixed, centred horizontally.
 */
export function glyphBitmaps(text: string): Float32Array {
  const fn = "glyphBitmaps";
  checkWord(fn, "text", text);
  const n = GLYPH_SIZE;
  const out = new Float32Array(text.length * n * n);
  for (let i = 0; i < text.length; i++) {
    let bitmap = bitmaps.get(text[i]);
    if (!bitmap) {
      const m = metricsOf(fn, BITMAP_FONT);
      const scale = (n - 2) / (m.bottom - m.top);
      const strokes = loadHershey().fonts[BITMAP_FONT].glyphs[text[i]].strokes.map((s) =>
        Float64Array.from(s, (v, k) => (k % 2 ? 1 + (v - m.top) * scale : v * scale)),
      );
      bitmaps.set(text[i], (bitmap = rasterize(strokes, n, n, BITMAP_PEN, 0, 0, true)));
    }
    out.set(bitmap, i * n * n);
  }
  return out;
}

const wordLists = new Map<number, string[]>();

/**
 * The distinct words of data/sonnets.txt, split on every character outside
 * the alphabet (case kept: "Thou" and "thou" are two words), of 1..maxLength
 * letters, sorted by code point.
 */
export function handwritingWords(maxLength: number = MAX_WORD_LENGTH): string[] {
  integer("handwritingWords", "maxLength", maxLength, 1);
  let words = wordLists.get(maxLength);
  if (!words) {
    const { vocab, train, validation } = sonnets();
    const text = Array.from(train, (t) => vocab[t]).join("") + Array.from(validation, (t) => vocab[t]).join("");
    const distinct = new Set(text.split(/[^a-zA-Z]+/).filter((w) => w.length >= 1 && w.length <= maxLength));
    wordLists.set(maxLength, (words = [...distinct].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))));
  }
  return words.slice();
}

/** `handwritingWords(maxLength)` split: every HELD_OUT_WORD_STRIDE-th word held out, the rest train. */
export function handwritingWordSplit(maxLength: number = MAX_WORD_LENGTH): { train: string[]; heldOut: string[] } {
  const words = handwritingWords(maxLength);
  const held = (i: number) => i % HELD_OUT_WORD_STRIDE === HELD_OUT_WORD_STRIDE - 1;
  return { train: words.filter((_, i) => !held(i)), heldOut: words.filter((_, i) => held(i)) };
}

/** CTC labels of `text`: HANDWRITING_ALPHABET[i] -> i + 1 (0 is the blank). */
export function encodeText(text: string): number[] {
  return Array.from(checkWord("encodeText", "text", text), (c) => HANDWRITING_ALPHABET.indexOf(c) + 1);
}

/**
 * Labels 1..52 back to text; with `ctc`, a greedy CTC path (labels 0..52 per
 * frame): repeats collapsed, then blanks (0) dropped.
 */
export function decodeLabels(labels: ArrayLike<number>, ctc = false): string {
  let out = "";
  for (let i = 0; i < labels.length; i++) {
    const l = integer("decodeLabels", `labels[${i}]`, labels[i], ctc ? 0 : 1);
    if (l > HANDWRITING_ALPHABET.length) fail("decodeLabels", `labels[${i}] must be <= ${HANDWRITING_ALPHABET.length}, got ${l}`);
    if (l > 0 && !(ctc && i > 0 && labels[i - 1] === l)) out += HANDWRITING_ALPHABET[l - 1];
  }
  return out;
}

/**
 * `batch` examples from `seed`: each a writer drawn from `writers`, a target
 * word and a different style word (when `words` has two or more) drawn from
 * `words`, both rendered by that writer at `width` pixels.
 */
export function handwritingBatch(options: {
  writers: readonly number[];
  words: readonly string[];
  batch: number;
  width: number;
  seed: number;
}): HandwritingBatch {
  const fn = "handwritingBatch";
  record(fn, "options", options, "{ writers, words, batch, width, seed }");
  const { writers, words } = options;
  if (!Array.isArray(writers) || writers.length === 0)
    fail(fn, `options.writers must be a non-empty list of writer ids, got ${describe(writers)}`);
  if (!Array.isArray(words) || words.length === 0) fail(fn, `options.words must be a non-empty list of words, got ${describe(words)}`);
  writers.forEach((w, i) => integer(fn, `options.writers[${i}]`, w, 0));
  words.forEach((w, i) => checkWord(fn, `options.words[${i}]`, w));
  const batch = integer(fn, "options.batch", options.batch, 1);
  const width = integer(fn, "options.width", options.width, 1);
  const r = rng(integer(fn, "options.seed", options.seed, 0));
  const styles = new Map<number, WriterStyle>();
  const pixels = WORD_HEIGHT * width;
  const out: HandwritingBatch = {
    batch,
    height: WORD_HEIGHT,
    width,
    images: new Float32Array(batch * pixels),
    styleImages: new Float32Array(batch * pixels),
    texts: [],
    styleTexts: [],
    writers: new Int32Array(batch),
  };
  for (let b = 0; b < batch; b++) {
    const w = r.below(writers.length);
    const target = r.below(words.length);
    let other = words.length > 1 ? r.below(words.length - 1) : 0;
    if (words.length > 1 && other >= target) other++;
    let style = styles.get(writers[w]);
    if (!style) styles.set(writers[w], (style = writerStyle(writers[w])));
    out.writers[b] = w;
    out.texts.push(words[target]);
    out.styleTexts.push(words[other]);
    out.images.set(renderWord(words[target], style, r, width), b * pixels);
    out.styleImages.set(renderWord(words[other], style, r, width), b * pixels);
  }
  return out;
}
