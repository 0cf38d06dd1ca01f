/** Synthetic Hershey writers: determinism, pixel range, width fitting, argument errors, glyph bitmaps, words, labels, batches, and writers a classifier tells apart. */
import { readFileSync, statSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { GLYPH_SIZE } from "../../src/nn/handwritingGenerator.js";
import { PIXELS_PER_CHAR, WORD_HEIGHT } from "../../src/nn/writeVit.js";
import { rng } from "../../src/pe/random.js";
import {
  decodeLabels,
  encodeText,
  glyphBitmaps,
  HANDWRITING_ALPHABET,
  HELD_OUT_WORD_STRIDE,
  HELD_OUT_WRITERS,
  type HersheyData,
  handwritingBatch,
  handwritingWordSplit,
  handwritingWords,
  loadHershey,
  MAX_WORD_LENGTH,
  renderWord,
  TRAIN_WRITERS,
  writerIds,
  writerStyle,
} from "../../src/train/data/handwriting.js";

const H = WORD_HEIGHT;
const JSON_PATH = new URL("../../data/hershey.json", import.meta.url);
const same = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((v, i) => v === b[i]);
/** Columns holding ink (any pixel > 0) of a (H, width) image. */
const inkColumns = (img: Float32Array, width: number) =>
  Array.from({ length: width }, (_, x) => x).filter((x) => Array.from({ length: H }, (_, y) => img[y * width + x]).some((v) => v > 0));

describe("handwriting", () => {
  it("ships small Hershey data with all 52 letters of each font, script and print", () => {
    expect(statSync(JSON_PATH).size).toBeLessThan(300 * 1024);
    const data = loadHershey();
    expect(loadHershey()).toBe(data);
    expect(data.source).toBe("npm hersheytext 2.0.0 hersheytext.json");
    const families = Object.values(data.fonts).map((f) => f.family);
    expect(families.filter((f) => f === "script").length).toBeGreaterThanOrEqual(2);
    expect(families.filter((f) => f === "print").length).toBeGreaterThanOrEqual(4);
    for (const font of Object.values(data.fonts))
      expect(Object.keys(font.glyphs).sort().join("")).toBe([...HANDWRITING_ALPHABET].sort().join(""));
  });

  it("loads a parsed copy (a browser's form) and refuses what is not one", () => {
    const parsed = JSON.parse(readFileSync(JSON_PATH, "utf8")) as HersheyData;
    expect(loadHershey(parsed)).toEqual(loadHershey());
    expect(() => loadHershey({ source: "", license: "", fonts: { x: { name: "x", family: "print", glyphs: {} } } })).toThrow(
      /loadHershey: fonts\.x\.glyphs\.a\.advance/,
    );
    expect(() => loadHershey(null as unknown as HersheyData)).toThrow(/loadHershey: source must be/);
    // a failed load keeps the good one
    expect(loadHershey()).toBe(loadHershey(parsed));
  });

  it("writer styles are deterministic, plain data, and spread over fonts and both families", () => {
    expect(writerStyle(7)).toEqual(writerStyle(7));
    expect(JSON.parse(JSON.stringify(writerStyle(7)))).toEqual(writerStyle(7));
    expect(writerStyle(7)).not.toEqual(writerStyle(8));
    const styles = writerIds("train").map(writerStyle);
    const fonts = loadHershey().fonts;
    expect(new Set(styles.map((s) => s.font)).size).toBe(Object.keys(fonts).length);
    const scripts = styles.filter((s) => fonts[s.font].family === "script").length;
    expect(scripts).toBeGreaterThan(0.25 * styles.length);
    expect(scripts).toBeLessThan(0.6 * styles.length);
  });

  it("writer ids: disjoint train and held-out ranges", () => {
    const train = writerIds("train");
    const held = writerIds("heldOut");
    expect(train).toEqual(Array.from({ length: TRAIN_WRITERS }, (_, i) => i));
    expect(held.length).toBe(HELD_OUT_WRITERS);
    expect(held[0]).toBe(TRAIN_WRITERS);
    expect(() => writerIds("test" as "train")).toThrow(/writerIds: split/);
  });

  it("the same seed gives the same pixels; another seed, writer or word other pixels", () => {
    const style = writerStyle(3);
    const a = renderWord("summer", style, rng(1), 128);
    expect(same(a, renderWord("summer", style, rng(1), 128))).toBe(true);
    expect(same(a, renderWord("summer", style, rng(2), 128))).toBe(false);
    expect(same(a, renderWord("summer", writerStyle(4), rng(1), 128))).toBe(false);
    expect(same(a, renderWord("summed", style, rng(1), 128))).toBe(false);
    // a style read back from JSON draws the same
    expect(same(a, renderWord("summer", JSON.parse(JSON.stringify(style)), rng(1), 128))).toBe(true);
  });

  it("images are (32, width) in [0, 1]: ink 1 on paper 0, left-aligned after a margin", () => {
    for (const w of [0, 1, 2, 201]) {
      const img = renderWord("Beauty", writerStyle(w), rng(w), 128);
      expect(img.length).toBe(H * 128);
      let [lo, hi, ink] = [Infinity, -Infinity, 0];
      for (const v of img) [lo, hi, ink] = [Math.min(lo, v), Math.max(hi, v), ink + v];
      expect([lo, hi]).toEqual([0, 1]);
      expect(ink).toBeGreaterThan(40);
      // most of the image is paper: the strokes are lines
      expect(img.filter((v) => v === 0).length).toBeGreaterThan(0.6 * img.length);
      const cols = inkColumns(img, 128);
      expect(cols[0]).toBeGreaterThanOrEqual(1);
      expect(cols[0]).toBeLessThanOrEqual(3);
    }
  });

  it("a word wider than the image is compressed to fit, never cropped", () => {
    for (const w of [0, 3, 6]) {
      const style = writerStyle(w);
      const word = "Wondrous";
      const wide = inkColumns(renderWord(word, style, rng(5), 400), 400);
      const narrow = 48;
      expect(wide.at(-1)!).toBeGreaterThan(narrow + 20);
      const img = renderWord(word, style, rng(5), narrow);
      const cols = inkColumns(img, narrow);
      // the whole word spans the image, from the left margin to just before the last column, which stays paper
      expect(cols[0]).toBeLessThanOrEqual(3);
      expect(cols.at(-1)!).toBeGreaterThanOrEqual(narrow - 3);
      expect(cols.at(-1)!).toBeLessThan(narrow - 1);
    }
    // the width PIXELS_PER_CHAR per letter fits a word of MAX_WORD_LENGTH letters
    expect(renderWord("abcdefgh", writerStyle(1), rng(0), PIXELS_PER_CHAR * MAX_WORD_LENGTH).length).toBe(H * 128);
    expect(inkColumns(renderWord("a", writerStyle(1), rng(0), 1), 1)).toEqual([]);
  });

  it("argument errors name the function, the argument and the value", () => {
    const style = writerStyle(0);
    expect(() => renderWord("", style, rng(0), 64)).toThrow(/renderWord: word must be a non-empty string, got ""/);
    expect(() => renderWord("it's", style, rng(0), 64)).toThrow(/renderWord: word must hold letters a-z A-Z only, got "'" at 2/);
    expect(() => renderWord("love", style, rng(0), 0)).toThrow(/renderWord: width must be an integer >= 1, got 0/);
    expect(() => renderWord("love", style, rng(0), 1.5)).toThrow(/renderWord: width .* got 1\.5/);
    expect(() => renderWord("love", { ...style, font: "gothiceng" }, rng(0), 64)).toThrow(
      /renderWord: style\.font must be one of .* got "gothiceng"/,
    );
    expect(() => renderWord("love", { ...style, strokeWidth: -1 }, rng(0), 64)).toThrow(
      /renderWord: style\.strokeWidth must be > 0, got -1/,
    );
    expect(() => renderWord("love", style, undefined as never, 64)).toThrow(/renderWord: r must be an Rng/);
    expect(() => writerStyle(-1)).toThrow(/writerStyle: writer must be an integer >= 0, got -1/);
    expect(() => glyphBitmaps("a b")).toThrow(/glyphBitmaps: text must hold letters .* got " " at 1/);
    expect(() => encodeText("café")).toThrow(/encodeText: text .* got "é" at 3/);
    expect(() => decodeLabels([53])).toThrow(/decodeLabels: labels\[0\] must be <= 52, got 53/);
    expect(() => decodeLabels([1, 0])).toThrow(/decodeLabels: labels\[1\] must be an integer >= 1, got 0/);
    expect(() => handwritingWords(0)).toThrow(/handwritingWords: maxLength must be an integer >= 1, got 0/);
    const ok = { writers: [0, 1], words: ["thou", "art"], batch: 2, width: 64, seed: 0 };
    expect(() => handwritingBatch({ ...ok, writers: [] })).toThrow(/handwritingBatch: options\.writers must be a non-empty list/);
    expect(() => handwritingBatch({ ...ok, writers: [0, -2] })).toThrow(
      /handwritingBatch: options\.writers\[1\] must be an integer >= 0, got -2/,
    );
    expect(() => handwritingBatch({ ...ok, words: ["thou", "o'er"] })).toThrow(/handwritingBatch: options\.words\[1\] must hold letters/);
    expect(() => handwritingBatch({ ...ok, batch: 0 })).toThrow(/handwritingBatch: options\.batch must be an integer >= 1, got 0/);
    expect(() => handwritingBatch({ ...ok, width: 0 })).toThrow(/handwritingBatch: options\.width must be an integer >= 1, got 0/);
    expect(() => handwritingBatch({ ...ok, seed: -1 })).toThrow(/handwritingBatch: options\.seed must be an integer >= 0, got -1/);
  });

  it("glyph bitmaps: (n, 16 * 16) in [0, 1], one fixed bitmap per letter, centred, case visible", () => {
    const n = GLYPH_SIZE;
    const g = glyphBitmaps("thou");
    expect(g.length).toBe(4 * n * n);
    expect(same(g, glyphBitmaps("thou"))).toBe(true);
    expect(same(g.subarray(n * n, 2 * n * n), glyphBitmaps("h"))).toBe(true);
    const rows = (c: string) => {
      const b = glyphBitmaps(c);
      return Array.from({ length: n }, (_, y) => y).filter((y) => b.subarray(y * n, (y + 1) * n).some((v) => v > 0.5));
    };
    // 'x' is shorter than 'X', on the same baseline; 'g' descends below it
    expect(rows("x").length).toBeLessThan(0.75 * rows("X").length);
    expect(rows("x").at(-1)).toBe(rows("X").at(-1));
    expect(rows("g").at(-1)!).toBeGreaterThan(rows("x").at(-1)! + 2);
    for (const c of HANDWRITING_ALPHABET) {
      const b = glyphBitmaps(c);
      let [mass, cx, hi] = [0, 0, 0];
      b.forEach((v, i) => {
        [mass, cx, hi] = [mass + v, cx + v * ((i % n) + 0.5), Math.max(hi, v)];
        expect(v).toBeGreaterThanOrEqual(0);
      });
      expect(hi).toBe(1);
      // centred on the ink's extent: the ink's mean column is near the middle
      expect(Math.abs(cx / mass - n / 2)).toBeLessThan(2.5);
    }
    expect(same(glyphBitmaps("o"), glyphBitmaps("O"))).toBe(false);
  });

  it("words: the distinct letter runs of the sonnets, 1..maxLength letters, sorted; every 10th held out", () => {
    const words = handwritingWords();
    expect(words).toEqual(handwritingWords(MAX_WORD_LENGTH));
    expect(new Set(words).size).toBe(words.length);
    expect(words.every((w) => /^[a-zA-Z]{1,8}$/.test(w))).toBe(true);
    expect([...words].sort()).toEqual(words);
    for (const w of ["thou", "Thou", "beauty", "summer", "O"]) expect(words).toContain(w);
    expect(words).not.toContain("thoughts'");
    expect(handwritingWords(3).every((w) => w.length <= 3)).toBe(true);
    const { train, heldOut } = handwritingWordSplit();
    expect(heldOut).toEqual(words.filter((_, i) => i % HELD_OUT_WORD_STRIDE === HELD_OUT_WORD_STRIDE - 1));
    expect(train.length + heldOut.length).toBe(words.length);
    expect(train.some((w) => heldOut.includes(w))).toBe(false);
  });

  it("CTC labels: 1..52 for the letters, decoded back; a greedy CTC path collapses repeats and drops blanks", () => {
    expect(encodeText("azAZ")).toEqual([1, 26, 27, 52]);
    expect(decodeLabels(encodeText("Thou"))).toBe("Thou");
    expect(decodeLabels([0, 1, 1, 0, 1, 2, 2, 0], true)).toBe("aab");
  });

  it("batches: shapes, labels into options.writers, a different style word by the same writer, seeded", () => {
    const options = { writers: [5, 9, 204], words: ["thou", "art", "more", "lovely"], batch: 6, width: 96, seed: 3 };
    const b = handwritingBatch(options);
    expect([b.batch, b.height, b.width]).toEqual([6, H, 96]);
    expect(b.images.length).toBe(6 * H * 96);
    expect(b.styleImages.length).toBe(6 * H * 96);
    expect(b.texts.length).toBe(6);
    for (let i = 0; i < 6; i++) {
      expect(b.writers[i]).toBeGreaterThanOrEqual(0);
      expect(b.writers[i]).toBeLessThan(3);
      expect(options.words).toContain(b.texts[i]);
      expect(options.words).toContain(b.styleTexts[i]);
      expect(b.styleTexts[i]).not.toBe(b.texts[i]);
    }
    const again = handwritingBatch(options);
    expect(same(b.images, again.images) && same(b.styleImages, again.styleImages)).toBe(true);
    expect(again.texts).toEqual(b.texts);
    expect(Array.from(again.writers)).toEqual(Array.from(b.writers));
    expect(same(b.images, handwritingBatch({ ...options, seed: 4 }).images)).toBe(false);
    // one word only: the style image shows that word again
    const one = handwritingBatch({ ...options, words: ["thee"], batch: 2 });
    expect(one.styleTexts).toEqual(["thee", "thee"]);
  });

  it("writers can be told apart: nearest class mean on ink-profile features, well above chance", () => {
    // 5 writers x 30 words (20 to fit, 10 to test). Features: the ink share of each row (where the body, ascenders and
    // descenders sit), a slant estimate (ink covariance of x on y), ink per inked column and the share of solid pixels (pen).
    // Measured when written: writers 0-4 seed 1: 0.94; over 12 (writer set, seed) pairs (writers 0-24, 200-204, seeds 1, 2)
    // 0.74 to 1.00. Chance is 0.2; identical writers would score about that.
    const W = 128;
    const features = (img: Float32Array) => {
      const rows = new Array<number>(H).fill(0);
      let [mass, sx, sy, solid, cols] = [0, 0, 0, 0, 0];
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++) {
          const v = img[y * W + x];
          [rows[y], mass, sx, sy, solid] = [rows[y] + v, mass + v, sx + v * x, sy + v * y, solid + (v > 0.5 ? 1 : 0)];
        }
      const [mx, my] = [sx / mass, sy / mass];
      let [cxy, cyy] = [0, 0];
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++) [cxy, cyy] = [cxy + img[y * W + x] * (x - mx) * (y - my), cyy + img[y * W + x] * (y - my) ** 2];
      cols = inkColumns(img, W).length;
      return [...rows.map((r) => r / mass), -cxy / cyy, solid / mass, mass / cols / 10];
    };
    const words = handwritingWords();
    const r = rng(1);
    const data = [0, 1, 2, 3, 4].map((w) => {
      const style = writerStyle(w);
      return Array.from({ length: 30 }, () => features(renderWord(words[r.below(words.length)], style, r, W)));
    });
    const fit = data.flatMap((d) => d.slice(0, 20));
    const D = fit[0].length;
    const mean = Array.from({ length: D }, (_, k) => fit.reduce((t, f) => t + f[k], 0) / fit.length);
    const sd = Array.from({ length: D }, (_, k) => Math.sqrt(fit.reduce((t, f) => t + (f[k] - mean[k]) ** 2, 0) / fit.length) || 1);
    const z = (f: number[]) => f.map((v, k) => (v - mean[k]) / sd[k]);
    const centres = data.map((d) => {
      const zs = d.slice(0, 20).map(z);
      return Array.from({ length: D }, (_, k) => zs.reduce((t, f) => t + f[k], 0) / zs.length);
    });
    let right = 0;
    data.forEach((d, c) => {
      for (const f of d.slice(20)) {
        const q = z(f);
        const dist = centres.map((m) => m.reduce((t, v, k) => t + (v - q[k]) ** 2, 0));
        if (dist.indexOf(Math.min(...dist)) === c) right++;
      }
    });
    expect(right / 50).toBeGreaterThan(0.6);
  });
});
