/**
 * Resolution metrics against direct float64 evaluations of their formulas on
 * small inputs; the held-out denoising loss against `ditLoss` (wasm, float64).
 */
import { type JsTree, numpy as np, tree } from "@jax-js/jax";
import { beforeAll, describe, expect, it } from "vitest";
import { denoisingLossByTimestep, type ImageSet, radialPowerSpectrum, spectrumDistance, tiling } from "../../src/lab/resolutionMetrics.js";
import { type DitConfig, type DitParams, initDit } from "../../src/nn/dit.js";
import { ditLoss } from "../../src/nn/ditDiffusion.js";
import { rng } from "../../src/pe/random.js";
import { cropConditioning } from "../../src/pe/rpe2d.js";
import { init } from "../../src/runtime/init.js";
import { randn } from "../gradcheck.js";
import { expectClose, FLOAT64_FORMULA, JIT_VS_EAGER } from "../tolerance.js";

const set = (count: number, height: number, width: number, seed: number): ImageSet => ({
  data: randn([count, height, width], seed).data,
  count,
  height,
  width,
});

describe("radial power spectrum", () => {
  it("equals the direct 2-D DFT, binned by rounded radius, on 5x6 and 4x4 images", () => {
    for (const [H, W] of [
      [5, 6],
      [4, 4],
    ]) {
      const s = set(2, H, W, 1);
      const M = Math.max(H, W);
      const sgn = (k: number, n: number) => (k <= n / 2 ? k : k - n);
      const sums: number[] = [];
      const counts: number[] = [];
      for (let b = 0; b < 2; b++) {
        for (let u = 0; u < H; u++) {
          for (let v = 0; v < W; v++) {
            let [re, im] = [0, 0];
            for (let i = 0; i < H; i++) {
              for (let j = 0; j < W; j++) {
                const a = -2 * Math.PI * ((u * i) / H + (v * j) / W);
                re += s.data[(b * H + i) * W + j] * Math.cos(a);
                im += s.data[(b * H + i) * W + j] * Math.sin(a);
              }
            }
            const k = Math.round(M * Math.hypot(sgn(u, H) / H, sgn(v, W) / W));
            sums[k] = (sums[k] ?? 0) + (re * re + im * im) / (H * W);
            counts[k] = (counts[k] ?? 0) + 1;
          }
        }
      }
      const expected = Float64Array.from({ length: sums.length }, (_, k) => (counts[k] ? sums[k] / counts[k] : NaN));
      const got = radialPowerSpectrum(s);
      expect(got.length).toBe(expected.length);
      expect(Array.from(got, Number.isNaN)).toEqual(Array.from(expected, Number.isNaN));
      expectClose(
        got.filter((v) => !Number.isNaN(v)),
        expected.filter((v) => !Number.isNaN(v)),
        FLOAT64_FORMULA,
        `spectrum ${H}x${W}`,
      );
    }
  });

  it("spectrum distance: 0 for equal spectra, ln 4 when every image is doubled; refuses mismatched bins", () => {
    const s = set(3, 8, 8, 2);
    const a = radialPowerSpectrum(s);
    expect(spectrumDistance(a, a)).toBe(0);
    const doubled = radialPowerSpectrum({ ...s, data: s.data.map((v) => 2 * v) });
    expect(Math.abs(spectrumDistance(a, doubled) - Math.log(4))).toBeLessThan(1e-12);
    expect(() => spectrumDistance(a, a.subarray(1))).toThrow("spectrumDistance: the spectra must have the same bins, got 7 and 6");
    expect(() => radialPowerSpectrum({ ...s, count: 4 })).toThrow(
      "radialPowerSpectrum: images.data must be a Float32Array or Float64Array of count * height * width = 256 values, got 192",
    );
  });
});

describe("tiling", () => {
  it("equals the direct Pearson correlation at the shift; a repeated tile scores 1, noise does not", () => {
    const noise = set(2, 6, 7, 3);
    const H = 6,
      W = 7,
      sy = 2,
      sx = 3;
    const pearson = (xs: number[], ys: number[]) => {
      const m = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
      const [mx, my] = [m(xs), m(ys)];
      const cov = xs.reduce((a, x, i) => a + (x - mx) * (ys[i] - my), 0);
      return cov / Math.sqrt(xs.reduce((a, x) => a + (x - mx) ** 2, 0) * ys.reduce((a, y) => a + (y - my) ** 2, 0));
    };
    const { scores } = tiling(noise, { height: sy, width: sx }, 0.5);
    for (let b = 0; b < 2; b++) {
      const x = (i: number, j: number) => noise.data[(b * H + i) * W + j];
      const pairs = (di: number, dj: number) => {
        const [p, q]: number[][] = [[], []];
        for (let i = 0; i + di < H; i++) for (let j = 0; j + dj < W; j++) [p.push(x(i, j)), q.push(x(i + di, j + dj))];
        return pearson(p, q);
      };
      expectClose([scores[b]], [Math.max(pairs(sy, 0), pairs(0, sx))], FLOAT64_FORMULA, `image ${b}`);
    }
    // a 4x4 tile repeated 2x2 times
    const tile = randn([4, 4], 4).data;
    const tiled: ImageSet = {
      data: Float64Array.from({ length: 64 }, (_, n) => tile[(Math.floor(n / 8) % 4) * 4 + ((n % 8) % 4)]),
      count: 1,
      height: 8,
      width: 8,
    };
    const t = tiling(tiled, { height: 4, width: 4 }, 0.5);
    expect(Math.abs(t.scores[0] - 1)).toBeLessThan(1e-12);
    expect(t.fraction).toBe(1);
    expect(tiling({ data: new Float64Array(64), count: 1, height: 8, width: 8 }, { height: 4, width: 4 }, 0.5).scores[0]).toBe(0);
    expect(() => tiling(tiled, { height: 8, width: 4 }, 0.5)).toThrow("tiling: shift 8x4 must be smaller than the images 8x8");
  });
});

describe("held-out denoising loss", () => {
  beforeAll(async () => {
    await init({ device: "wasm" });
  });

  it("equals ditLoss with the seeded noise at each timestep, at a grid larger than trained", async () => {
    const config: DitConfig = {
      channels: 1,
      patch: 2,
      width: 16,
      depth: 1,
      heads: 2,
      mlpRatio: 2,
      frequencyDim: 16,
      classes: { count: 3, nullClass: true },
      crop: { dim: 4 },
      pe: { type: "rpe2d", maxHeight: 8, maxWidth: 8 },
      peg: false,
      diffusionSteps: 100,
      eps: 1e-6,
    };
    const r = rng(5);
    const p = tree.map(
      (a: np.Array) => np.array(Float64Array.from({ length: a.size }, () => 0.3 * r.normal())).reshape(a.shape),
      initDit(config, 1, np.float64) as unknown as JsTree<np.Array>,
    ) as unknown as DitParams;
    const images = set(2, 12, 12, 6); // 6x6 tokens
    const got = await denoisingLossByTimestep(p, config, images, { timesteps: [10, 90], seed: 7, labels: [0, 3] });
    const nr = rng(7);
    const noise = Float64Array.from({ length: 2 * 144 }, () => nr.normal());
    const crop = cropConditioning(Array(2).fill({ originalSize: [12, 12], cropTopLeft: [0, 0], targetSize: [12, 12] }), 4);
    for (const [k, t] of [10, 90].entries()) {
      const loss = ditLoss(p, config, {
        images: np.array(images.data).reshape([2, 12, 12, 1]),
        noise: np.array(noise).reshape([2, 12, 12, 1]),
        timesteps: np.array(Int32Array.of(t, t)),
        labels: np.array(Int32Array.of(0, 3)),
        crop: np.array(crop).reshape([2, 24]),
      });
      expectClose([got[k]], [(await loss.data())[0]], JIT_VS_EAGER, `t = ${t}`);
    }
    const chunked = await denoisingLossByTimestep(p, config, images, { timesteps: [10, 90], seed: 7, labels: [0, 3], batchPerCall: 1 });
    expectClose(chunked, got, JIT_VS_EAGER, "one image per call");
    await expect(denoisingLossByTimestep(p, config, images, { timesteps: [100], seed: 0, labels: [0, 1] })).rejects.toThrow(
      "denoisingLossByTimestep: options.timesteps[0] (100) must be < config.diffusionSteps (100)",
    );
    tree.dispose(p as unknown as JsTree<np.Array>);
  });
});
