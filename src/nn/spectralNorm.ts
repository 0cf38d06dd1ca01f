/**
 * Spectral normalisation of a weight matrix, as `torch.nn.utils.spectral_norm`
 * computes it in training mode: one (or n) power iterations per forward pass
 * on a persistent vector u, then the weight divided by the estimated largest
 * singular value sigma, u and v held constant for the gradient:
 *
 *   v = normalize(M u),  u = normalize(M^T v)      (repeated `iterations` times; normalize(x) = x / max(|x|_2, eps))
 *   sigma = v^T M u,     W_sn = M / sigma,          d sigma / d M = v u^T  (u, v constants)
 *
 * on posenc's layouts: M is (In, Out), with In = k k Cin for a convolution
 * (src/nn/conv.ts, rows ordered (i, j, c)) and In for a linear layer
 * (src/nn/linear.ts).
 *
 * Correspondence with torch: torch reshapes its weight to W_t = weight.reshape(Out, -1),
 * i.e. (Cout, Cin k k) with columns ordered (c, i, j) for Conv2d, (Out, In) for
 * Linear, and iterates v_t = normalize(W_t^T u), u = normalize(W_t v_t),
 * sigma = u^T W_t v_t. Since W_t is M transposed with its In axis permuted
 * from (i, j, c) to (c, i, j) order, the iteration is the same: torch's
 * `weight_u` (Out) is posenc's u entry for entry (output channels keep their
 * order), and torch's `weight_v` (Cin k k) is posenc's v with its entries
 * reordered from (c, i, j) to (i, j, c) (for Linear, v is the same). sigma is
 * the same number: the same bilinear form, summed over In first and then Out
 * as torch does (for a convolution the In terms come in another order: a few
 * ulps).
 *
 * Training mode only keeps u between passes (v is recomputed from u first), so
 * `spectralNormStep` with `iterations` n from state u equals n forward passes
 * of torch with n_power_iterations = 1. `iterations = 0` is torch's evaluation
 * mode: sigma from the stored u and v. The state update is explicit and pure:
 * run `spectralNormStep` outside the differentiated function (its u, v are
 * data, as torch's `torch.no_grad()` block), then `spectralNormalized` inside.
 *
 * BigGAN-style code (HWT, WriteViT: models/BigGAN_layers.py `SN`) keeps its
 * own u per singular value with a Gram-Schmidt step; with one singular value
 * (num_svs = 1, their default) it is this same iteration.
 *
 * Reference: Miyato et al. (2018), "Spectral Normalization for Generative
 * Adversarial Networks", https://arxiv.org/abs/1802.05957;
 * https://pytorch.org/docs/stable/generated/torch.nn.utils.spectral_norm.html
 */
import { lax, numpy as np } from "@jax-js/jax";
import { constant } from "../core/constant.js";
import { reject, shapeOf } from "../core/shapes.js";
import { describe, fail } from "../core/validate.js";
import type { Rng } from "../pe/random.js";

/** torch's default eps of spectral_norm's normalize. */
export const SPECTRAL_NORM_EPS = 1e-12;

/** Power-iteration state of one weight matrix M (In, Out). */
export interface SpectralNormState {
  /** (Out) left singular vector estimate: torch's `weight_u`. */
  u: np.Array;
  /** (In) right singular vector estimate: torch's `weight_v`, reordered to (i, j, c) for a convolution. */
  v: np.Array;
}

function checkState(fn: string, w: np.Array, state: SpectralNormState, owned: (np.Array | undefined)[]): void {
  if (w.ndim !== 2) reject(fn, owned, `w must be a (In, Out) matrix (conv (k k Cin, Cout) or linear (In, Out)), got ${shapeOf(w)}`);
  const [n, m] = w.shape;
  const { u, v } = state ?? ({} as SpectralNormState);
  if (!u || !v || u.ndim !== 1 || v.ndim !== 1 || u.shape[0] !== m || v.shape[0] !== n)
    reject(
      fn,
      owned,
      `state must hold u (Out) = (${m}) and v (In) = (${n}) for w ${shapeOf(w)}, got u ${u ? shapeOf(u) : describe(u)}, v ${v ? shapeOf(v) : describe(v)}`,
    );
}

/** x / max(|x|_2, eps), as torch's F.normalize(x, dim=0, eps). Consumes x. */
function normalize(x: np.Array, eps: number): np.Array {
  const norm = np.sqrt(np.sum(np.square(x.ref))); // ()
  return np.divide(x, np.maximum(norm, eps));
}

/**
 * A fresh state for w (In, Out), as torch draws it: u ~ N(0, 1)^Out, then
 * v ~ N(0, 1)^In, each normalised, in w's dtype. Borrows w (reads its shape and dtype).
 */
export function initSpectralNormState(r: Rng, w: np.Array): SpectralNormState {
  if (w.ndim !== 2) fail("initSpectralNormState", `w must be a (In, Out) matrix, got ${shapeOf(w)}`);
  const [n, m] = w.shape;
  const draw = (k: number) => {
    const x = Float64Array.from({ length: k }, () => r.normal());
    const norm = Math.max(Math.hypot(...x), SPECTRAL_NORM_EPS);
    return constant(
      x.map((a) => a / norm),
      w.dtype,
    );
  };
  const u = draw(m);
  return { u, v: draw(n) };
}

/**
 * `iterations` power iterations from state.u (torch's training-mode forward
 * pre-hook with n_power_iterations = iterations), returning the new state and
 * sigma = v^T M u (as data: no gradient flows through it). With 0 iterations
 * the state is returned unchanged with its sigma (torch's evaluation mode).
 * Borrows w, consumes the state.
 */
export function spectralNormStep(
  w: np.Array,
  state: SpectralNormState,
  iterations = 1,
  eps = SPECTRAL_NORM_EPS,
): SpectralNormState & { sigma: np.Array } {
  const fn = "spectralNormStep";
  const owned = [state?.u, state?.v];
  if (typeof iterations !== "number" || !Number.isInteger(iterations) || iterations < 0)
    reject(fn, owned, `iterations must be an integer >= 0, got ${describe(iterations)}`);
  if (typeof eps !== "number" || !Number.isFinite(eps) || eps <= 0)
    reject(fn, owned, `eps must be a finite number > 0, got ${describe(eps)}`);
  checkState(fn, w, state, owned);
  let { u, v } = state;
  for (let i = 0; i < iterations; i++) {
    v.dispose();
    v = normalize(np.matmul(w.ref, u), eps); // (In)
    u = normalize(np.matmul(v.ref, w.ref), eps); // (Out)
  }
  const sigma = lax.stopGradient(np.sum(np.multiply(u.ref, np.matmul(v.ref, w.ref)))); // ()
  return { u: lax.stopGradient(u), v: lax.stopGradient(v), sigma };
}

/**
 * W_sn = M / sigma with sigma = v^T M u, u and v constants (stop_gradient): the
 * gradient w.r.t. M is G / sigma - <G, M> / sigma^2 v u^T, as torch's. Pass the
 * state `spectralNormStep` returned for this forward pass. Consumes w, borrows
 * the state. (In, Out) -> (In, Out).
 */
export function spectralNormalized(w: np.Array, state: SpectralNormState): np.Array {
  checkState("spectralNormalized", w, state, [w]);
  const u = lax.stopGradient(state.u.ref); // (Out)
  const v = lax.stopGradient(state.v.ref); // (In)
  const sigma = np.sum(np.multiply(u, np.matmul(v, w.ref))); // ()
  return np.divide(w, sigma); // (In, Out)
}
