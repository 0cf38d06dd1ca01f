/** MNIST digits: split, labels, transforms (downsampling, bilinear resize, padding, crops), seeded batches, arrays. */
import { createRequire } from "node:module";
import { numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, it } from "vitest";
import { bilinearMatrix, resizeBilinear } from "../../src/nn/bilinear.js";
import { init } from "../../src/runtime/init.js";
import {
  DIGIT_SIZE,
  digitBatches,
  digitImages,
  downsample,
  loadDigits,
  sideTransform,
  splitIndices,
  TEST_FRACTION,
  testSample,
  toImageBatch,
  transformedSize,
} from "../../src/train/data/digits.js";
import { expectClose, FLOAT64_FORMULA } from "../tolerance.js";

beforeAll(async () => {
  await init({ device: "cpu" });
});

const PIXELS = DIGIT_SIZE * DIGIT_SIZE;
const mnist = createRequire(import.meta.url)("mnist") as { raw: number[] }[];
/** The float32 value the dataset stores for a package value. */
const stored = (v: number) => Math.fround(v);

describe("digits", () => {
  it("testSample spreads over the test split: every floor(size / n)-th index, all ten digits", () => {
    const all = Array.from(splitIndices("test"));
    const stride = Math.floor(all.length / 20);
    const sample = testSample(20);
    expect(sample).toEqual(Array.from({ length: 20 }, (_, i) => all[i * stride]));
    expect(new Set(sample.map((i) => loadDigits().labels[i])).size).toBe(10);
    expect(() => testSample(0)).toThrow(/testSample: n/);
  });

  it("sideTransform: the nearest block mean, then bilinear to the side", () => {
    expect(sideTransform(28)).toEqual({});
    expect(sideTransform(14)).toEqual({ downsample: 2 });
    expect(sideTransform(7)).toEqual({ downsample: 4 });
    expect(sideTransform(8)).toEqual({ downsample: 4, resize: 8 });
    expect(sideTransform(20)).toEqual({ downsample: 2, resize: 20 });
    expect(sideTransform(21)).toEqual({ resize: 21 }); // tie between 14 and 28: the larger
    expect(sideTransform(32)).toEqual({ resize: 32 });
    for (const side of [4, 8, 10, 14, 28, 32]) expect(transformedSize(sideTransform(side))).toBe(side);
    expect(() => sideTransform(0)).toThrow("digits.sideTransform: side");
  });

  it("loads every digit with its label, values in [0, 1]", () => {
    const d = loadDigits();
    expect(loadDigits()).toBe(d);
    expect(d.count).toBe(mnist.reduce((n, m) => n + m.raw.length / PIXELS, 0));
    let at = 0;
    for (let digit = 0; digit < 10; digit++) {
      const n = mnist[digit].raw.length / PIXELS;
      expect(Array.from(d.labels.subarray(at, at + n)).every((l) => l === digit)).toBe(true);
      // the digit's last image, pixel by pixel
      const last = (at + n - 1) * PIXELS;
      expect(Array.from(d.images.subarray(last, last + PIXELS))).toEqual(mnist[digit].raw.slice((n - 1) * PIXELS, n * PIXELS).map(stored));
      at += n;
    }
    let [lo, hi] = [Infinity, -Infinity];
    for (const v of d.images) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
    expect([lo, hi]).toEqual([0, 1]);
  });

  it("loads from the package's export passed in (a browser's form) and refuses what is not one", () => {
    const d = loadDigits();
    const passed = loadDigits(mnist);
    expect(passed === d).toBe(false); // another source is parsed again (no deep comparison of 7.8M pixels)
    expect(passed.count).toBe(d.count);
    expect(Array.from(passed.images.subarray(0, 2000))).toEqual(Array.from(d.images.subarray(0, 2000)));
    expect(loadDigits() === passed).toBe(true); // later calls without a source use the last one
    expect(() => loadDigits(mnist.slice(0, 9))).toThrow("loadDigits: source must be the mnist package's export, 10 digits, got 9 entries");
    const broken = mnist.map((m, i) => (i === 3 ? { raw: m.raw.slice(1) } : m));
    expect(() => loadDigits(broken)).toThrow(`loadDigits: mnist[3].raw holds ${mnist[3].raw.length - 1} values, not a multiple of 28 x 28`);
  });

  it("train and test are disjoint, cover the dataset, hold the last 15% of each digit for test, and do not change", () => {
    const train = splitIndices("train");
    const test = splitIndices("test");
    const { labels, count } = loadDigits();
    expect(train.length + test.length).toBe(count);
    expect(new Set([...train, ...test]).size).toBe(count);
    for (let digit = 0; digit < 10; digit++) {
      const n = mnist[digit].raw.length / PIXELS;
      const held = test.filter((i) => labels[i] === digit);
      expect(held.length).toBe(Math.round(TEST_FRACTION * n));
      expect(Math.min(...held)).toBeGreaterThan(Math.max(...train.filter((i) => labels[i] === digit)));
    }
    expect(Array.from(splitIndices("test"))).toEqual(Array.from(test));
    expect(() => splitIndices("val" as "train")).toThrow('splitIndices: split must be "train" or "test", got "val"');
  });

  it("downsampling by 2 is the mean of each 2x2 block", () => {
    const i = splitIndices("test")[3];
    const src = loadDigits().images.subarray(i * PIXELS, (i + 1) * PIXELS);
    const b = digitImages([i], { downsample: 2 });
    expect([b.height, b.width]).toEqual([14, 14]);
    for (const [r, c] of [
      [5, 7],
      [10, 4],
      [0, 0],
    ]) {
      const direct =
        (src[2 * r * 28 + 2 * c] + src[2 * r * 28 + 2 * c + 1] + src[(2 * r + 1) * 28 + 2 * c] + src[(2 * r + 1) * 28 + 2 * c + 1]) / 4;
      expect(b.images[r * 14 + c]).toBeCloseTo(direct, 6);
    }
    expect(Array.from(downsample([1, 2, 3, 4, 5, 6, 7, 8, 9], 3, 3))).toEqual([5]);
    expect(() => digitImages([i], { downsample: 3 })).toThrow(
      "digits.transformedSize: transform.downsample (3) must divide the image size 28",
    );
  });

  it("bilinear resize: the identity at the same size, PyTorch's align_corners=False values, the matrix form agrees", () => {
    const i = splitIndices("train")[10];
    const src = loadDigits().images.subarray(i * PIXELS, (i + 1) * PIXELS);
    expect(Array.from(digitImages([i], { resize: 28 }).images)).toEqual(Array.from(src));
    expect(Array.from(resizeBilinear(src, 28, 28, 1, 28, 28))).toEqual(Array.from(src));
    // F.interpolate(torch.tensor([[[[0., 1.], [2., 3.]]]]), size=4, mode="bilinear", align_corners=False)
    const up = [0, 0.25, 0.75, 1, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2, 2.25, 2.75, 3];
    expectClose(resizeBilinear([0, 1, 2, 3], 2, 2, 1, 4, 4), up, FLOAT64_FORMULA, "2x2 -> 4x4");
    const m = bilinearMatrix(2, 2, 4, 4);
    expectClose(
      Array.from({ length: 16 }, (_, o) => [0, 1, 2, 3].reduce((s, v, k) => s + m[o * 4 + k] * v, 0)),
      up,
      FLOAT64_FORMULA,
      "matrix form",
    );
    // 28 -> 20, output (6, 11): source s = (o + 0.5) 28/20 - 0.5: row 8.6 -> rows 8, 9 (lambda 0.6), column 15.6 -> 15, 16
    const b = digitImages([i], { resize: 20 });
    const at = (r: number, c: number) => src[r * 28 + c];
    const hand = 0.4 * (0.4 * at(8, 15) + 0.6 * at(8, 16)) + 0.6 * (0.4 * at(9, 15) + 0.6 * at(9, 16));
    expect(hand).toBeGreaterThan(0.1); // a stroke of the digit passes there
    expect(b.images[6 * 20 + 11]).toBeCloseTo(hand, 6);
    expect(digitImages([i], { resize: 36 }).images.length).toBe(36 * 36);
  });

  it("padding and crops: a centred crop of the padding is the identity, random crops shift, sizes add up", () => {
    const i = splitIndices("train")[0];
    const src = digitImages([i]).images;
    expect(Array.from(digitImages([i], { pad: 2, crop: { size: 28, random: false } }).images)).toEqual(Array.from(src));
    const padded = digitImages([i], { pad: 3 });
    expect([padded.height, padded.images[0], padded.images[3 * 34 + 3]]).toEqual([34, 0, src[0]]);
    expect(transformedSize({ downsample: 2, resize: 20, pad: 2, crop: { size: 18, random: true } })).toBe(18);
    expect(() => transformedSize({ crop: { size: 30, random: false } })).toThrow(
      "digits.transformedSize: transform.crop.size (30) exceeds the 28 x 28 image it crops",
    );
    const batches = digitBatches({ split: "train", batchSize: 8, seed: 3, transform: { pad: 4, crop: { size: 28, random: true } } });
    const centred = digitBatches({ split: "train", batchSize: 8, seed: 3, transform: { pad: 4, crop: { size: 28, random: false } } });
    expect(Array.from(batches.next().value.images)).not.toEqual(Array.from(centred.next().value.images));
  });

  it("seeded batches: same seed same batches, another seed others; an epoch visits each training digit once", () => {
    const take = (seed: number, n: number, batchSize = 64) => {
      const it = digitBatches({ split: "train", batchSize, seed, transform: { downsample: 2 } });
      return Array.from({ length: n }, () => it.next().value);
    };
    const [a, b, c] = [take(1, 2), take(1, 2), take(2, 2)];
    expect(Array.from(b[1].labels)).toEqual(Array.from(a[1].labels));
    expect(Array.from(b[1].images)).toEqual(Array.from(a[1].images));
    expect(Array.from(c[0].labels)).not.toEqual(Array.from(a[0].labels));
    expect([a[0].size, a[0].height, a[0].width, a[0].images.length]).toEqual([64, 14, 14, 64 * 196]);
    // batch 1000: an epoch is floor(n / 1000) full batches of distinct digits, then a new shuffle
    const n = splitIndices("train").length;
    const epoch = take(5, Math.floor(n / 1000) + 1, 1000);
    const seen = new Set<string>();
    for (const batch of epoch.slice(0, -1))
      for (let k = 0; k < batch.size; k++) seen.add(batch.images.subarray(k * 196, (k + 1) * 196).join(","));
    expect(seen.size).toBeGreaterThan(0.99 * Math.floor(n / 1000) * 1000); // distinct images (MNIST has a few exact duplicates)
    expect(() => digitBatches({ split: "test", batchSize: 10 ** 6, seed: 1 })).toThrow(
      "digitBatches: options.batchSize (1000000) exceeds the",
    );
  });

  it("toImageBatch: images (B, H, W, 1) of the dtype, labels (B) int32", async () => {
    const b = digitImages(splitIndices("test").slice(0, 3), { downsample: 4 });
    const { images, labels } = toImageBatch(b, np.float64);
    expect([images.shape, images.dtype, labels.shape, labels.dtype]).toEqual([[3, 7, 7, 1], np.float64, [3], np.int32]);
    expect(Array.from(await labels.data())).toEqual(Array.from(b.labels));
    expect(Array.from(await images.data())).toEqual(Array.from(b.images));
  });
});
