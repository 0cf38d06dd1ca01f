/**
 * Kernel feature maps phi for kernelized (linear) attention, as differentiable,
 * jit-able jax-js composites: phi(q).phi(k) stands in for the attention
 * kernel, so that attention costs O(L M) instead of O(L^2).
 *
 * - `prf`: positive random features (FAVOR+), an unbiased estimator of the
 *   softmax kernel: E_w[phi(q).phi(k)] = exp(q.k) for rows w ~ N(0, I_D);
 * - `relu`: relu(W x) / sqrt(M) (Performer's generalized ReLU kernel);
 * - `eluPlusOne`: elu(x) + 1, no projection (linear transformers);
 * - `projection`: the (M, D) matrix W of orthogonal Gaussian blocks with
 *   chi-distributed row norms, drawn from a seed (`pe/orthogonalFeatures.ts`).
 *
 * Shapes: x (..., L, D), W (M, D), features (..., L, M). Like jax-js, every
 * function consumes its array arguments (pass `x.ref` to keep x), also when
 * it throws.
 */
import { type DType, nn, numpy as np } from "@jax-js/jax";
import { constant } from "../core/constant.js";
import { fail, integer } from "../core/validate.js";
import { gaussianOrthogonalProjection, type ProjectionScaling } from "../pe/orthogonalFeatures.js";

export interface PrfOptions {
  /**
   * Which side of the kernel x is, which decides the stabiliser subtracted
   * inside the exponential:
   * - `"query"`: the maximum over the M features of each row;
   * - `"key"`: one maximum over all L keys and M features of each leading
   *   index (batch, head).
   * In the attention ratio sum_j phi(q_i).phi(k_j) v_j / sum_j phi(q_i).phi(k_j)
   * a query's stabiliser multiplies numerator and denominator of row i by the
   * same exp(-s_i), and the keys' stabiliser multiplies every term of the head
   * by the same exp(-s): both cancel exactly, so the output is unchanged while
   * no feature exceeds 1/sqrt(M) (no overflow). A per-key stabiliser would not
   * cancel: it would reweight the keys.
   */
  role: "query" | "key";
  /**
   * Data normalisation: `"softmax"` scales x by D^-1/4 (Performer's
   * `normalize_data`), so that phi(q).phi(k) estimates exp(q.k / sqrt(D)), the
   * kernel of scaled dot-product attention; `"none"` estimates exp(q.k).
   */
  inputScale: "softmax" | "none";
}

/**
 * Positive random features (FAVOR+):
 *
 *   phi(x)_m = exp(w_m.x' - |x'|^2 / 2 - s) / sqrt(M),   x' = x D^-1/4 ("softmax") or x ("none")
 *
 * with s the stabiliser of `opts.role` (a constant that cancels in attention;
 * see `PrfOptions.role`). For rows w_m ~ N(0, I_D), E[phi(q).phi(k)] =
 * exp(q'.k') exp(-s_q - s_k). Unlike Performer no epsilon is added to the
 * features: they are exactly the estimator above, and positive.
 *
 * x: (..., L, D); W: (M, D). Returns (..., L, M). Consumes x and W.
 *
 * Reference: Choromanski et al., "Rethinking Attention with Performers"
 * (ICLR 2021), https://arxiv.org/abs/2009.14794, Lemma 1 and section 2.4;
 * google-research `performer/fast_attention` `nonnegative_softmax_kernel_feature_creator`.
 */
export function prf(x: np.Array, W: np.Array, opts: PrfOptions): np.Array {
  const fn = "featureMap.prf";
  const role = opts?.role;
  const inputScale = opts?.inputScale;
  const problem =
    role !== "query" && role !== "key"
      ? `opts.role must be "query" or "key", got ${JSON.stringify(role)}`
      : inputScale !== "softmax" && inputScale !== "none"
        ? `opts.inputScale must be "softmax" or "none", got ${JSON.stringify(inputScale)}`
        : (projectionProblem(x, W) ??
          (role === "key" && x.ndim < 2 ? `keys must be (..., L, D), got shape (${x.shape.join(", ")})` : null));
  if (problem) {
    x.dispose();
    W.dispose();
    fail(fn, problem);
  }
  const D = x.shape[x.ndim - 1];
  const M = W.shape[0];
  const xs = inputScale === "softmax" ? np.multiply(x, D ** -0.25) : x;
  const projected = np.matmul(xs.ref, np.transpose(W)); // (..., L, M)
  const halfNorm = np.multiply(np.sum(np.square(xs), -1, { keepdims: true }), 0.5); // (..., L, 1)
  const exponent = np.subtract(projected, halfNorm); // (..., L, M)
  const axes = role === "query" ? [-1] : [-2, -1];
  const stabiliser = np.max(exponent.ref, axes, { keepdims: true }); // (..., L, 1) or (..., 1, 1)
  return np.multiply(np.exp(np.subtract(exponent, stabiliser)), 1 / Math.sqrt(M));
}

/**
 * ReLU random features: phi(x) = relu(W x) / sqrt(M). No data scaling: use
 * `np.multiply(x, s)` first if a scale is wanted.
 *
 * x: (..., L, D); W: (M, D). Returns (..., L, M). Consumes x and W.
 *
 * Reference: Choromanski et al., "Rethinking Attention with Performers"
 * (ICLR 2021), https://arxiv.org/abs/2009.14794, section 2.2 (generalized
 * attention, f = ReLU).
 */
export function relu(x: np.Array, W: np.Array): np.Array {
  const problem = projectionProblem(x, W);
  if (problem) {
    x.dispose();
    W.dispose();
    fail("featureMap.relu", problem);
  }
  const M = W.shape[0];
  return np.multiply(nn.relu(np.matmul(x, np.transpose(W))), 1 / Math.sqrt(M));
}

/**
 * phi(x) = elu(x) + 1, elementwise: x + 1 for x > 0, exp(x) otherwise
 * (evaluated in that form, so that tiny values keep their relative precision
 * instead of cancelling in (exp(x) - 1) + 1).
 *
 * x: (..., L, D). Returns (..., L, D). Consumes x.
 *
 * Reference: Katharopoulos et al., "Transformers are RNNs: Fast Autoregressive
 * Transformers with Linear Attention" (ICML 2020), https://arxiv.org/abs/2006.16236, eq. 7.
 */
export function eluPlusOne(x: np.Array): np.Array {
  if (!isFloat(x.dtype)) {
    const dtype = x.dtype;
    x.dispose();
    fail("featureMap.eluPlusOne", `x must be a float array, got dtype ${dtype}`);
  }
  return np.where(np.greater(x.ref, 0), np.add(x.ref, 1), np.exp(np.minimum(x, 0)));
}

/**
 * The (numFeatures, dim) projection W of `gaussianOrthogonalProjection` as an
 * array of `dtype` (drawn in float64, then cast). Call again with a new seed
 * to redraw the features; the same seed gives the same W.
 *
 * Reference: Choromanski et al., https://arxiv.org/abs/2009.14794, section 2.4.
 */
export function projection(numFeatures: number, dim: number, opts: { seed: number; scaling: ProjectionScaling; dtype: DType }): np.Array {
  const fn = "featureMap.projection";
  integer(fn, "numFeatures", numFeatures, 1);
  integer(fn, "dim", dim, 1);
  integer(fn, "opts.seed", opts?.seed, 0);
  if (opts.scaling !== "chi" && opts.scaling !== "sqrtD")
    fail(fn, `opts.scaling must be "chi" or "sqrtD", got ${JSON.stringify(opts.scaling)}`);
  if (!isFloat(opts.dtype)) fail(fn, `opts.dtype must be a float dtype, got ${JSON.stringify(opts.dtype)}`);
  const w = gaussianOrthogonalProjection(numFeatures, dim, { seed: opts.seed, scaling: opts.scaling });
  return constant(w, opts.dtype).reshape([numFeatures, dim]); // drawn in float64, rounded once (WebGPU has no float64 arrays)
}

/** The feature maps, for `featureMap.prf(...)` style calls. */
export const featureMap = { prf, relu, eluPlusOne, projection } as const;

function isFloat(dtype: DType): boolean {
  return dtype === "float16" || dtype === "float32" || dtype === "float64";
}

function projectionProblem(x: np.Array, W: np.Array): string | null {
  if (x.ndim < 1) return "x must be (..., L, D), got a scalar";
  if (!isFloat(x.dtype)) return `x must be a float array, got dtype ${x.dtype}`;
  const D = x.shape[x.ndim - 1];
  if (W.ndim !== 2 || W.shape[1] !== D || W.shape[0] < 1) {
    return `W must be (M, D) = (M, ${D}) with M >= 1, got (${W.shape.join(", ")})`;
  }
  if (W.dtype !== x.dtype) return `W and x must have the same dtype, got W ${W.dtype} and x ${x.dtype}`;
  return null;
}
