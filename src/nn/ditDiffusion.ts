/**
 * Diffusion with the DiT of dit.ts: the DDPM schedule, the training loss,
 * the training positions (randomized per axis for RPE-2D), label dropout for
 * classifier-free guidance, and the DDIM sampler.
 *
 * Objective: epsilon prediction under DDPM with linear betas (DiT's
 * `get_named_beta_schedule("linear")`), loss mean ||e - e_theta(x_t, t, c)||^2
 * with x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) e; DiT's learned variance is
 * left out. Sampling is deterministic DDIM (eta = 0) at any grid size.
 *
 * Shape legend as in dit.ts.
 *
 * Reference: Ho et al., DDPM, https://arxiv.org/abs/2006.11239; Song et al.,
 * DDIM, https://arxiv.org/abs/2010.02502; Peebles & Xie, DiT,
 * https://arxiv.org/abs/2212.09748; Hou, Liu et al., RPE-2D,
 * https://arxiv.org/abs/2503.18719.
 */
import { type DType, type JsTree, jit, numpy as np, tree } from "@jax-js/jax";
import { blocks } from "../attention/memoryBudget.js";
import { constant } from "../core/constant.js";
import { renamedField } from "../core/renamed.js";
import { rowsAt } from "../core/rowsAt.js";
import { reject, shapeOf } from "../core/shapes.js";
import { fail, integer } from "../core/validate.js";
import { rng } from "../pe/random.js";
import { type CropCondition, cropConditioning, rpe2dPositions } from "../pe/rpe2d.js";
import { checkConfig, type DitBatch, type DitConfig, type DitParams, ditForward } from "./dit.js";

/** Linear betas at T = 1000, scaled by 1000 / T for other T (DiT/ADM `get_named_beta_schedule`). */
const BETA_START = 1e-4;
const BETA_END = 0.02;

/**
 * DDPM linear schedule: beta_t = linspace(s 1e-4, s 0.02, T) with s = 1000 / T,
 * abar_t = prod_{i <= t} (1 - beta_i), t = 0..T-1.
 *
 * Reference: Ho et al. (2020), https://arxiv.org/abs/2006.11239; DiT/ADM
 * `gaussian_diffusion.get_named_beta_schedule("linear")`.
 */
export function ddpmSchedule(steps: number): { betas: Float64Array; alphasCumprod: Float64Array } {
  const T = integer("ddpmSchedule", "steps", steps, 1);
  const s = 1000 / T;
  const betas = Float64Array.from({ length: T }, (_, i) => s * (BETA_START + (T === 1 ? 0 : ((BETA_END - BETA_START) * i) / (T - 1))));
  const alphasCumprod = new Float64Array(T);
  let prod = 1;
  betas.forEach((b, i) => (alphasCumprod[i] = prod *= 1 - b));
  return { betas, alphasCumprod };
}

/**
 * Epsilon-prediction loss, mean over every pixel of the batch:
 *
 *   x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) e,   L = mean (e_theta(x_t, t, c) - e)^2
 *
 * Borrows the parameters, consumes the batch. Returns a () array.
 *
 * Reference: Ho et al. (2020), https://arxiv.org/abs/2006.11239, eq. 14 (L_simple).
 */
export function ditLoss(params: DitParams, config: DitConfig, batch: DitBatch): np.Array {
  const fn = "ditLoss";
  const { images, noise, timesteps } = batch;
  const arrays = [images, noise, timesteps, batch.labels, batch.crop, batch.positions?.rows, batch.positions?.cols];
  if (images?.ndim !== 4 || noise?.ndim !== 4 || images.shape.join() !== noise.shape.join()) {
    reject(
      fn,
      arrays,
      `batch.images and batch.noise must be (B, Ih, Iw, Ci) of one shape, got ${images ? shapeOf(images) : images} and ${noise ? shapeOf(noise) : noise}`,
    );
  }
  const B = images.shape[0];
  if (timesteps?.ndim !== 1 || timesteps.shape[0] !== B || timesteps.dtype !== np.int32) {
    reject(
      fn,
      arrays,
      `batch.timesteps must be (B) = (${B}) int32, got ${timesteps ? `${shapeOf(timesteps)} ${timesteps.dtype}` : timesteps}`,
    );
  }
  const dtype = images.dtype;
  const T = config.diffusionSteps;
  const abar = ddpmSchedule(T).alphasCumprod;
  const coefficients = constant(
    Array.from(abar).flatMap((a) => [Math.sqrt(a), Math.sqrt(1 - a)]),
    dtype,
  ).reshape([T, 2]);
  const at = rowsAt(coefficients, timesteps.ref); // (B, 2): sqrt(abar_t), sqrt(1 - abar_t)
  const xt = np.add(
    np.multiply(images, at.ref.slice([], [0, 1]).reshape([B, 1, 1, 1])),
    np.multiply(noise.ref, at.slice([], [1, 2]).reshape([B, 1, 1, 1])),
  ); // (B, Ih, Iw, Ci)
  const eps = ditForward(params, config, xt, timesteps, batch.labels ?? null, batch.positions ?? null, batch.crop ?? null); // (B, Ih, Iw, Ci)
  return np.mean(np.square(np.subtract(eps, noise))); // ()
}

/**
 * Per-image randomized RPE-2D positions for a training batch (B, Gh), (B, Gw):
 * image b takes `rpe2dPositions(grid, { training: true, seed_b })`, seeds
 * drawn from `seed`. Needs `config.pe.type` "rpe2d".
 *
 * Reference: Hou, Liu et al. (2025), https://arxiv.org/abs/2503.18719
 */
export function ditTrainingPositions(
  config: DitConfig,
  grid: { height: number; width: number },
  batch: number,
  seed: number,
  dtype: DType = np.float32,
): { rows: np.Array; cols: np.Array } {
  const fn = "ditTrainingPositions";
  const pe = renamedField(fn, "config.pe", config?.pe, "kind", "type");
  if (pe?.type !== "rpe2d") fail(fn, `config.pe.type must be "rpe2d", got ${JSON.stringify(pe?.type)}`);
  integer(fn, "batch", batch, 1);
  const r = rng(seed);
  const range = { height: grid?.height, width: grid?.width, maxHeight: pe.maxHeight, maxWidth: pe.maxWidth };
  const each = Array.from({ length: batch }, () => rpe2dPositions(range, { training: true, seed: r.below(2 ** 31) }));
  return {
    rows: constant(
      each.flatMap((e) => Array.from(e.rows)),
      dtype,
    ).reshape([batch, grid.height]), // (B, Gh)
    cols: constant(
      each.flatMap((e) => Array.from(e.cols)),
      dtype,
    ).reshape([batch, grid.width]), // (B, Gw)
  };
}

/**
 * Classifier-free guidance label dropout: each label is replaced by the null
 * class `classes.count` with probability `probability` (DiT: 0.1), seeded.
 *
 * Reference: facebookresearch/DiT `models.py` `LabelEmbedder.token_drop`;
 * Ho & Salimans, https://arxiv.org/abs/2207.12598
 */
export function dropLabels(labels: Int32Array, config: DitConfig, probability: number, seed: number): Int32Array {
  const fn = "dropLabels";
  if (!config?.classes?.nullClass) fail(fn, "config.classes.nullClass must be true to drop labels");
  if (!(probability >= 0 && probability <= 1)) fail(fn, `probability must be in [0, 1], got ${probability}`);
  const r = rng(seed);
  const nullClass = config.classes.count;
  return labels.map((y) => (r.uniform() < probability ? nullClass : y));
}

/** Options of `ditSample`. */
export interface DitSampleOptions {
  /** Token grid to generate (images of Gh p x Gw p pixels). */
  grid: { height: number; width: number };
  /** DDIM steps. */
  steps: number;
  /** Seed of the initial noise. */
  seed: number;
  /** One label per sample (class-conditional models); sets the batch. */
  labels?: readonly number[];
  /** Number of samples of an unconditional model. */
  batch?: number;
  /** Classifier-free guidance scale s: e = e_null + s (e_label - e_null); needs `classes.nullClass`. Default 1 (no guidance). */
  guidance?: number;
  /** Positions; default the PE's grid. */
  positions?: { rows: readonly number[] | Float64Array; cols: readonly number[] | Float64Array };
  /** Crop condition of every sample; default the whole image, uncropped (SDXL's inference default). */
  crop?: CropCondition;
  /** Clip the predicted x_0 to [-1, 1] at every step (default false, as DiT's `sample.py`). */
  clip?: boolean;
  /** Timestep shift alpha > 0 (default 1, none): see `ddimTimesteps`. */
  shift?: number;
  /**
   * Samples per model call (default all). jax-js allocates the buffers of a
   * whole jitted forward before running it, and WebAssembly holds all arrays
   * in 4 GiB: the attention intermediates grow as (samples, H, N, N, D), so
   * large grids need smaller calls.
   */
  batchPerCall?: number;
}

/**
 * The S timesteps of DDIM, tau_i = i floor(T / S), i = 0..S-1 (diffusers'
 * "leading" spacing), each moved by the shift alpha to the timestep of the T
 * whose log-SNR ln(abar / (1 - abar)) is nearest logSNR(tau_i) - 2 ln alpha.
 * Sampling at alpha^2 times the training pixels then meets each noise level
 * with the signal-to-noise ratio per pixel group of the training size: SD3's
 * resolution-dependent shift, alpha = sqrt(m / n) for m pixels against n,
 * which in rectified-flow time is t' = alpha t / (1 + (alpha - 1) t), that
 * is SNR' = SNR / alpha^2, applied here to the DDPM schedule. alpha = 1
 * leaves the timesteps as they are; alpha < 1 moves them to less noise.
 *
 * Reference: Esser et al., "Scaling Rectified Flow Transformers for
 * High-Resolution Image Synthesis" (SD3, 2024), https://arxiv.org/abs/2403.03206,
 * section 5.3.2; diffusers `DDIMScheduler` (timestep_spacing "leading").
 */
export function ddimTimesteps(diffusionSteps: number, steps: number, shift = 1): Int32Array {
  const fn = "ddimTimesteps";
  const T = integer(fn, "diffusionSteps", diffusionSteps, 1);
  const S = integer(fn, "steps", steps, 1);
  if (S > T) fail(fn, `steps (${S}) must be <= diffusionSteps (${T})`);
  if (!(typeof shift === "number" && Number.isFinite(shift) && shift > 0)) fail(fn, `shift must be a finite number > 0, got ${shift}`);
  const stride = Math.floor(T / S);
  const taus = Int32Array.from({ length: S }, (_, i) => i * stride);
  if (shift === 1) return taus;
  const abar = ddpmSchedule(T).alphasCumprod;
  const logSnr = Float64Array.from(abar, (a) => Math.log(a / (1 - a))); // decreasing in t
  return taus.map((tau) => {
    const target = logSnr[tau] - 2 * Math.log(shift);
    let best = 0;
    for (let t = 1; t < T; t++) if (Math.abs(logSnr[t] - target) < Math.abs(logSnr[best] - target)) best = t;
    return best;
  });
}

/**
 * Deterministic DDIM (eta = 0) sampling at any grid size. With the timesteps
 * tau_i of `ddimTimesteps` (shifted by `options.shift`), i = S-1..0, and
 * abar_prev = 1 after tau_0:
 *
 *   x_0' = (x - sqrt(1 - abar_t) e) / sqrt(abar_t),   x <- sqrt(abar_prev) x_0' + sqrt(1 - abar_prev) e
 *
 * from x ~ N(0, I) drawn from `seed` (`rng(seed).normal()`, row-major). Each
 * step is realised before the next is built (jax-js records operations
 * lazily), so memory stays that of one model call. Resolves to
 * (B, Gh p, Gw p, Ci). Borrows the parameters.
 *
 * Reference: Song et al., DDIM, https://arxiv.org/abs/2010.02502, eq. 12;
 * diffusers `DDIMScheduler`; Ho & Salimans, classifier-free guidance,
 * https://arxiv.org/abs/2207.12598; DiT `forward_with_cfg`.
 */
export async function ditSample(params: DitParams, dit: DitConfig, options: DitSampleOptions): Promise<np.Array> {
  const fn = "ditSample";
  const config = checkConfig(fn, dit);
  const Gh = integer(fn, "options.grid.height", options?.grid?.height, 1);
  const Gw = integer(fn, "options.grid.width", options.grid.width, 1);
  const T = config.diffusionSteps;
  const S = integer(fn, "options.steps", options.steps, 1);
  if (S > T) fail(fn, `options.steps (${S}) must be <= config.diffusionSteps (${T})`);
  const shift = options.shift ?? 1;
  if (!(typeof shift === "number" && Number.isFinite(shift) && shift > 0))
    fail(fn, `options.shift must be a finite number > 0, got ${shift}`);
  integer(fn, "options.seed", options.seed, 0);
  const s = options.guidance ?? 1;
  if (!Number.isFinite(s)) fail(fn, `options.guidance must be a finite number, got ${s}`);
  let B: number;
  if (config.classes) {
    const labels = options.labels;
    if (!Array.isArray(labels) || labels.length === 0)
      fail(fn, "options.labels must list one label per sample for a class-conditional model");
    const count = config.classes.count;
    labels.forEach((y, i) => {
      if (integer(fn, `options.labels[${i}]`, y, 0) > count || (y === count && !config.classes!.nullClass))
        fail(fn, `options.labels[${i}] (${y}) must be a class in [0, ${count}) or the null class`);
    });
    if (s !== 1 && !config.classes.nullClass) fail(fn, "options.guidance needs config.classes.nullClass");
    if (options.batch !== undefined && options.batch !== labels.length)
      fail(fn, `options.batch (${options.batch}) differs from the ${labels.length} options.labels`);
    B = labels.length;
  } else {
    if (options.labels !== undefined) fail(fn, "options.labels given to a model without config.classes");
    if (s !== 1) fail(fn, "options.guidance needs a class-conditional model");
    B = integer(fn, "options.batch", options.batch, 1);
  }
  const { patch: p, channels: Ci } = config;
  const [Ih, Iw] = [Gh * p, Gw * p];
  const dtype = params.patchEmbed.w.dtype;
  const guided = config.classes !== null && s !== 1;
  const crop = config.crop
    ? cropConditioning(
        Array(2 * B).fill(options.crop ?? { originalSize: [Ih, Iw], cropTopLeft: [0, 0], targetSize: [Ih, Iw] }),
        config.crop.dim,
      )
    : null;
  const labels = config.classes ? Int32Array.from(options.labels!) : null;
  const positions = options.positions
    ? { rows: Float64Array.from(options.positions.rows), cols: Float64Array.from(options.positions.cols) }
    : null;

  const chunks = blocks(B, integer(fn, "options.batchPerCall", options.batchPerCall ?? B, 1));

  // e_theta of a chunk of n samples, x (n, Ih, Iw, Ci); under guidance the model sees [x | x] with [labels | null].
  const model = jit((ps: DitParams, x: np.Array, t: np.Array, cond: { labels?: np.Array; crop?: np.Array }): np.Array => {
    const n = x.shape[0];
    const xs = guided ? np.concatenate([x.ref, x], 0) : x; // (n or 2n, Ih, Iw, Ci)
    const e = ditForward(ps, config, xs, t, cond.labels ?? null, positions, cond.crop ?? null); // (n or 2n, Ih, Iw, Ci)
    if (!guided) return e;
    const eLabel = e.ref.slice([0, n]); // (n, Ih, Iw, Ci)
    const eNull = e.slice([n, 2 * n]); // (n, Ih, Iw, Ci)
    return np.add(eNull.ref, np.multiply(np.subtract(eLabel, eNull), s)); // (n, Ih, Iw, Ci)
  });
  const abar = ddpmSchedule(T).alphasCumprod;
  const taus = ddimTimesteps(T, S, options.shift ?? 1);
  const r = rng(options.seed);
  const noise = Float64Array.from({ length: B * Ih * Iw * Ci }, () => r.normal());
  const P = Ih * Iw * Ci;
  // one state per chunk of samples, updated and realised chunk by chunk
  const xs = chunks.map(([b0, b1]) => constant(noise.subarray(b0 * P, b1 * P), dtype).reshape([b1 - b0, Ih, Iw, Ci])); // (n, Ih, Iw, Ci)
  try {
    for (let i = S - 1; i >= 0; i--) {
      const tau = taus[i];
      const [a, aPrev] = [abar[tau], i === 0 ? 1 : abar[taus[i - 1]]];
      for (const [c, [b0, b1]] of chunks.entries()) {
        const ys = labels ? Array.from(labels.subarray(b0, b1)) : [];
        const n = guided ? 2 * (b1 - b0) : b1 - b0; // model batch
        const cond: { labels?: np.Array; crop?: np.Array } = {};
        if (labels) cond.labels = np.array(Int32Array.from(guided ? [...ys, ...ys.map(() => config.classes!.count)] : ys));
        if (crop) cond.crop = constant(crop.subarray(0, n * 6 * config.crop!.dim), dtype).reshape([n, 6 * config.crop!.dim]);
        const x = xs[c];
        const e = model(
          tree.ref(params as unknown as JsTree<np.Array>) as unknown as DitParams,
          x.ref,
          np.array(new Int32Array(n).fill(tau)),
          cond,
        ); // (n, Ih, Iw, Ci)
        let x0 = np.multiply(np.subtract(x, np.multiply(e.ref, Math.sqrt(1 - a))), 1 / Math.sqrt(a)); // (n, Ih, Iw, Ci)
        if (options.clip) x0 = np.clip(x0, -1, 1);
        xs[c] = await np.add(np.multiply(x0, Math.sqrt(aPrev)), np.multiply(e, Math.sqrt(1 - aPrev))).blockUntilReady(); // (n, Ih, Iw, Ci)
      }
    }
  } finally {
    model.dispose();
  }
  return xs.length === 1 ? xs[0] : np.concatenate(xs, 0); // (B, Ih, Iw, Ci)
}
