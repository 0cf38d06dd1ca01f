/**
 * Metrics for images generated at a larger grid than a diffusion model was
 * trained at, that need no downloaded network:
 *
 * - `denoisingLossByTimestep`: the model's epsilon-prediction loss on
 *   held-out real images at the larger resolution, per timestep (a direct
 *   measure of how well it models that resolution: lower is better);
 * - `radialPowerSpectrum` and `spectrumDistance`: the radially averaged
 *   spatial power spectrum of a set of images, and the mean absolute log
 *   ratio between the spectra of generated and real images (blur, missing or
 *   spurious high frequencies, repeated structure all show up in it);
 * - `tiling`: the correlation of each image with itself shifted by the
 *   training image size, the signature of a model that repeats the content
 *   of its training resolution instead of composing one larger image.
 *
 * Images are single-channel sets (B, Ih, Iw), row-major in a Float32Array
 * or Float64Array; the spectrum and tiling metrics are pure functions on them.
 *
 * Reference: Hou, Liu et al., "Boosting Resolution Generalization of
 * Diffusion Transformers with Randomized Positional Encodings" (2025),
 * https://arxiv.org/abs/2503.18719 (the failure modes at larger resolutions);
 * Durall et al., "Watch your Up-Convolution" (CVPR 2020),
 * https://arxiv.org/abs/2003.01826 (azimuthally averaged power spectra of
 * generated images).
 */
import { type JsTree, jit, numpy as np, tree } from "@jax-js/jax";
import { blocks } from "../attention/memoryBudget.js";
import { constant } from "../core/constant.js";
import { fail, integer } from "../core/validate.js";
import type { DitBatch, DitConfig, DitParams } from "../nn/dit.js";
import { ditLoss } from "../nn/ditDiffusion.js";
import { rng } from "../pe/random.js";
import { type CropCondition, cropConditioning } from "../pe/rpe2d.js";

/** B single-channel images of Ih x Iw pixels, row-major (B, Ih, Iw). */
export interface ImageSet {
  data: Float32Array | Float64Array;
  count: number;
  height: number;
  width: number;
}

function checkImages(fn: string, field: string, s: ImageSet): void {
  integer(fn, `${field}.count`, s?.count, 1);
  integer(fn, `${field}.height`, s.height, 1);
  integer(fn, `${field}.width`, s.width, 1);
  if (!(s.data instanceof Float32Array || s.data instanceof Float64Array) || s.data.length !== s.count * s.height * s.width) {
    fail(
      fn,
      `${field}.data must be a Float32Array or Float64Array of count * height * width = ${s.count * s.height * s.width} values, got ${s.data?.length}`,
    );
  }
}

/** Options of `denoisingLossByTimestep`. */
export interface DenoisingLossOptions {
  /** Timesteps t in [0, T) to evaluate at. */
  timesteps: readonly number[];
  /** Seed of the noise e ~ N(0, I), one draw shared by every timestep. */
  seed: number;
  /** One label per image (class-conditional models). */
  labels?: readonly number[];
  /** Row and column positions; default the PE's grid at the images' size. */
  positions?: { rows: readonly number[] | Float64Array; cols: readonly number[] | Float64Array };
  /** Crop condition of every image; default the whole image, uncropped. */
  crop?: CropCondition;
  /** Images per model call (default all), to bound memory at large grids (see `ditSample`). */
  batchPerCall?: number;
}

/**
 * (a) Held-out denoising loss per timestep, at the images' own resolution:
 *
 *   L(t) = 1 / (B Ih Iw) sum_{b, i, j} (e_theta(sqrt(abar_t) x_b + sqrt(1 - abar_t) e_b, t, c_b)[i, j] - e_b[i, j])^2
 *
 * with e drawn once from `seed` (`rng(seed).normal()`, row-major (B, Ih, Iw)),
 * common to every t so that differences between models or resolutions are
 * not noise-draw differences. Evaluates `ditLoss` under `jit`, per timestep
 * and chunk of images (chunk means weighted by their sizes). Borrows the parameters.
 *
 * Reference: Ho et al. (2020), https://arxiv.org/abs/2006.11239, eq. 14.
 */
export async function denoisingLossByTimestep(
  params: DitParams,
  config: DitConfig,
  images: ImageSet,
  options: DenoisingLossOptions,
): Promise<Float64Array> {
  const fn = "denoisingLossByTimestep";
  checkImages(fn, "images", images);
  const { count: B, height: Ih, width: Iw } = images;
  if (config?.channels !== 1) fail(fn, `the images are single-channel: config.channels must be 1, got ${config?.channels}`);
  const ts = options?.timesteps;
  if (!Array.isArray(ts) || ts.length === 0) fail(fn, "options.timesteps must list at least one timestep");
  ts.forEach((t, i) => {
    if (integer(fn, `options.timesteps[${i}]`, t, 0) >= config.diffusionSteps)
      fail(fn, `options.timesteps[${i}] (${t}) must be < config.diffusionSteps (${config.diffusionSteps})`);
  });
  integer(fn, "options.seed", options.seed, 0);
  if (config.classes && options.labels?.length !== B)
    fail(fn, `options.labels must hold one label per image (${B}), got ${options.labels?.length}`);
  const dtype = params.patchEmbed.w.dtype;
  const r = rng(options.seed);
  const noise = Float64Array.from({ length: B * Ih * Iw }, () => r.normal());
  const crop = config.crop
    ? cropConditioning(
        Array(B).fill(options.crop ?? { originalSize: [Ih, Iw], cropTopLeft: [0, 0], targetSize: [Ih, Iw] }),
        config.crop.dim,
      )
    : null;
  const positions = options.positions
    ? { rows: Float64Array.from(options.positions.rows), cols: Float64Array.from(options.positions.cols) }
    : undefined;
  const loss = jit((p: DitParams, batch: DitBatch) =>
    ditLoss(
      p,
      config,
      positions ? { ...batch, positions: { rows: constant(positions.rows, dtype), cols: constant(positions.cols, dtype) } } : batch,
    ),
  );
  const chunks = blocks(B, integer(fn, "options.batchPerCall", options.batchPerCall ?? B, 1));
  const out = new Float64Array(ts.length);
  const P = Ih * Iw;
  try {
    for (let k = 0; k < ts.length; k++) {
      for (const [b0, b1] of chunks) {
        const n = b1 - b0;
        const batch: DitBatch = {
          images: constant(images.data.subarray(b0 * P, b1 * P), dtype).reshape([n, Ih, Iw, 1]),
          noise: constant(noise.subarray(b0 * P, b1 * P), dtype).reshape([n, Ih, Iw, 1]),
          timesteps: np.array(new Int32Array(n).fill(ts[k])),
        };
        if (config.classes) batch.labels = np.array(Int32Array.from(options.labels!.slice(b0, b1)));
        if (crop) batch.crop = constant(crop.subarray(0, n * 6 * config.crop!.dim), dtype).reshape([n, 6 * config.crop!.dim]);
        const value = (await loss(tree.ref(params as unknown as JsTree<np.Array>) as unknown as DitParams, batch).data())[0];
        out[k] += (value * n) / B;
      }
    }
  } finally {
    loss.dispose();
  }
  return out;
}

/** Signed frequency index of k among n: k for k <= n/2, else k - n. */
const signed = (k: number, n: number) => (k <= n / 2 ? k : k - n);

/**
 * (b) Radially averaged power spectrum of an image set, in bins of width
 * 1 / max(Ih, Iw) cycles per pixel:
 *
 *   F_b(u, v) = sum_{i, j} x_b[i, j] exp(-2 pi i (u i / Ih + v j / Iw))
 *   P_b(u, v) = |F_b(u, v)|^2 / (Ih Iw)                       (Parseval: sum_uv P_b = sum_ij x_b^2)
 *   k(u, v)  = round(max(Ih, Iw) sqrt((u' / Ih)^2 + (v' / Iw)^2)),   u', v' the signed frequencies
 *   S[k]     = mean over b and over the (u, v) with k(u, v) = k of P_b(u, v)
 *
 * k = 0 is the mean (DC) term. Bins no frequency falls in are NaN. The DFT
 * is computed separably, O(B Ih Iw (Ih + Iw)).
 *
 * Reference: Durall et al. (CVPR 2020), https://arxiv.org/abs/2003.01826, section 3.
 */
export function radialPowerSpectrum(images: ImageSet): Float64Array {
  checkImages("radialPowerSpectrum", "images", images);
  const { count: B, height: H, width: W, data } = images;
  const M = Math.max(H, W);
  const bin = (u: number, v: number) => Math.round(M * Math.hypot(signed(u, H) / H, signed(v, W) / W));
  const K = bin(Math.floor(H / 2), Math.floor(W / 2)) + 1;
  const sums = new Float64Array(K);
  const counts = new Float64Array(K);
  const twiddles = (n: number) => ({
    cos: Float64Array.from({ length: n * n }, (_, t) => Math.cos((2 * Math.PI * ((Math.floor(t / n) * (t % n)) % n)) / n)),
    sin: Float64Array.from({ length: n * n }, (_, t) => Math.sin((2 * Math.PI * ((Math.floor(t / n) * (t % n)) % n)) / n)),
  });
  const [tw, th] = [twiddles(W), twiddles(H)];
  const re = new Float64Array(H * W);
  const im = new Float64Array(H * W);
  for (let b = 0; b < B; b++) {
    const x = data.subarray(b * H * W, (b + 1) * H * W);
    // along rows: G[i, v] = sum_j x[i, j] exp(-2 pi i v j / W)
    for (let i = 0; i < H; i++) {
      for (let v = 0; v < W; v++) {
        let [sr, si] = [0, 0];
        for (let j = 0; j < W; j++) {
          sr += x[i * W + j] * tw.cos[v * W + j];
          si -= x[i * W + j] * tw.sin[v * W + j];
        }
        re[i * W + v] = sr;
        im[i * W + v] = si;
      }
    }
    // along columns: F[u, v] = sum_i G[i, v] exp(-2 pi i u i / H)
    for (let u = 0; u < H; u++) {
      for (let v = 0; v < W; v++) {
        let [sr, si] = [0, 0];
        for (let i = 0; i < H; i++) {
          const [c, s] = [th.cos[u * H + i], th.sin[u * H + i]];
          sr += re[i * W + v] * c + im[i * W + v] * s;
          si += im[i * W + v] * c - re[i * W + v] * s;
        }
        const k = bin(u, v);
        sums[k] += (sr * sr + si * si) / (H * W);
        counts[k] += 1;
      }
    }
  }
  return sums.map((s, k) => (counts[k] === 0 ? NaN : s / counts[k]));
}

/**
 * (b) Distance between two radial power spectra of the same bins: the mean
 * absolute log ratio over the bins where both are positive,
 *
 *   d = 1 / |K+| sum_{k in K+} |ln S_a[k] - ln S_b[k]|
 *
 * 0 for equal spectra; a factor f in power everywhere gives |ln f|.
 */
export function spectrumDistance(a: Float64Array, b: Float64Array): number {
  const fn = "spectrumDistance";
  if (a?.length !== b?.length) fail(fn, `the spectra must have the same bins, got ${a?.length} and ${b?.length}`);
  let [sum, n] = [0, 0];
  for (let k = 0; k < a.length; k++) {
    if (!(a[k] > 0 && b[k] > 0)) continue;
    sum += Math.abs(Math.log(a[k]) - Math.log(b[k]));
    n++;
  }
  if (n === 0) fail(fn, "the spectra share no bin with positive power");
  return sum / n;
}

/**
 * (c) Tiling: per image, the Pearson correlation of the image with itself
 * shifted by (sy, 0) and by (0, sx) (the training image size in pixels),
 * over the overlapping pixels, and the larger of the two:
 *
 *   rho_y = corr({x[i, j]}, {x[i + sy, j]}),  i < Ih - sy;   rho_x likewise along columns
 *   score_b = max(rho_y, rho_x),   fraction = |{b : score_b > threshold}| / B
 *
 * A correlation over pixels of zero variance counts as 0 (no structure).
 * A repeated tile of the training size gives a score near 1.
 *
 * Reference: Hou, Liu et al. (2025), https://arxiv.org/abs/2503.18719
 * (duplicated content at larger resolutions).
 */
export function tiling(
  images: ImageSet,
  shift: { height: number; width: number },
  threshold: number,
): { scores: Float64Array; fraction: number } {
  const fn = "tiling";
  checkImages(fn, "images", images);
  const { count: B, height: H, width: W, data } = images;
  const sy = integer(fn, "shift.height", shift?.height, 1);
  const sx = integer(fn, "shift.width", shift.width, 1);
  if (sy >= H || sx >= W) fail(fn, `shift ${sy}x${sx} must be smaller than the images ${H}x${W}`);
  if (!(threshold >= -1 && threshold <= 1)) fail(fn, `threshold must be in [-1, 1], got ${threshold}`);
  const scores = new Float64Array(B);
  for (let b = 0; b < B; b++) {
    const at = (i: number, j: number) => data[(b * H + i) * W + j];
    scores[b] = Math.max(
      correlation(H - sy, W, at, (i, j) => at(i + sy, j)),
      correlation(H, W - sx, at, (i, j) => at(i, j + sx)),
    );
  }
  return { scores, fraction: scores.filter((s) => s > threshold).length / B };
}

/** Pearson correlation of p(i, j) and q(i, j) over i < n, j < m; 0 when either has zero variance. */
function correlation(n: number, m: number, p: (i: number, j: number) => number, q: (i: number, j: number) => number): number {
  let [mp, mq] = [0, 0];
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) [mp, mq] = [mp + p(i, j), mq + q(i, j)];
  [mp, mq] = [mp / (n * m), mq / (n * m)];
  let [spq, spp, sqq] = [0, 0, 0];
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      const [dp, dq] = [p(i, j) - mp, q(i, j) - mq];
      [spq, spp, sqq] = [spq + dp * dq, spp + dp * dp, sqq + dq * dq];
    }
  }
  return spp === 0 || sqq === 0 ? 0 : spq / Math.sqrt(spp * sqq);
}
