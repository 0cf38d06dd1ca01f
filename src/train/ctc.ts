/**
 * Connectionist temporal classification (CTC) loss, value for value as
 * PyTorch's `F.ctc_loss(log_probs, targets, input_lengths, target_lengths,
 * blank, reduction, zero_infinity)`:
 *
 *   loss_b = -log sum over alignments pi of the label sequence y_b, of length T_b = inputLengths[b],
 *            of prod_{t < T_b} p[t, b, pi_t]
 *
 * computed by the forward recursion on the extended label sequence
 * y' = (blank, y_1, blank, y_2, ..., y_L, blank) of length 2L + 1, in log space:
 *
 *   alpha_0(s)  = logp[0, y'_s]                                  for s in {0, 1}, log 0 otherwise
 *   alpha_t(s)  = logsumexp(alpha_{t-1}(s), alpha_{t-1}(s-1), [s odd, y'_s != y'_{s-2}] alpha_{t-1}(s-2))
 *                 + logp[t, y'_s]                                 for t < T_b (alpha stops afterwards)
 *   loss_b      = -logsumexp(alpha_{T_b-1}(2L), alpha_{T_b-1}(2L-1))
 *
 * Engine notes (see DESIGN.md "Engine"): the loop over T is unrolled in JS,
 * so the whole loss is one jit-able, differentiable expression. The label
 * lookups logp[t, y'_s] are one product with a one-hot (B, 2S+1, C) tensor
 * (jit cannot differentiate a gather). log 0 is the finite constant
 * `CTC_LOG_ZERO` = -1e30, not -Infinity: logsumexp of -Infinity entries has
 * NaN gradients (exp(-inf - -inf)), a finite constant has exact zero ones, and
 * -1e30 + any feasible log-probability sum is still -1e30 in float32 and
 * float64. Which samples have no alignment at all is decided exactly on the
 * host (a target of L labels with r adjacent repeats needs L + r frames), and
 * only those losses are replaced by +Infinity at the end (or 0, and no
 * gradient, with `zeroInfinity`, as torch's `zero_infinity=True`). So there is
 * no threshold on the value: a feasible loss is never mistaken for an
 * impossible one.
 *
 * Why the targets are host integers, not a jax-js int32 (B, S) array as in
 * torch: labels must be validated (in [0, C), never the blank within their
 * length) and the extended sequence, its skip rule (y'_s != y'_{s-2}) and the
 * feasibility are functions of the label values; a jax-js array cannot be read
 * synchronously (a jit tracer has no values, WebGPU reads are async), so it
 * could neither be checked nor encoded. The lengths are host numbers for the
 * same reason. `ctcLoss` takes them all and encodes them; to reuse one jitted
 * loss across batches, encode each batch with `ctcTargets` (host, validated)
 * and pass the resulting arrays to a jitted `ctcLossEncoded` as arguments:
 * only their shapes (T, B, 2S + 1, C) are traced.
 *
 * Gradients: jax-js gives the true partial derivative d loss / d logProbs
 * = -occupation(t, c) (the posterior probability that frame t emits c).
 * PyTorch's ctc_loss backward returns, as its "gradient w.r.t. log_probs",
 * exp(log_probs) - occupation: the gradient w.r.t. the logits when
 * log_probs = log_softmax(logits), not the partial derivative w.r.t. log_probs.
 * Both agree, exactly, on the gradient w.r.t. the logits through a
 * log_softmax, which is what a model trains. For samples whose loss is
 * +Infinity the gradient is 0 here (torch's is undefined without
 * zero_infinity). logProbs must be finite (log_softmax of finite logits is):
 * -Infinity entries would make the one-hot products NaN.
 *
 * Reference: Graves et al. (2006), "Connectionist Temporal Classification",
 * https://www.cs.toronto.edu/~graves/icml_2006.pdf;
 * https://pytorch.org/docs/stable/generated/torch.nn.functional.ctc_loss.html
 */
import { type DType, lax, numpy as np } from "@jax-js/jax";
import { reject, shapeOf } from "../core/shapes.js";
import { describe, fail, integer, oneOf } from "../core/validate.js";

/** log 0 in the recursion: finite so that gradients through logsumexp stay exact zeros (see the file's doc). */
export const CTC_LOG_ZERO = -1e30;

export type CtcReduction = "none" | "mean" | "sum";

export interface CtcOptions {
  /** Index of the blank class, in [0, C) (torch's default 0). */
  blank?: number;
  /** "none": (B) losses; "mean": mean over b of loss_b / max(L_b, 1) (torch's default); "sum": sum over b. */
  reduction?: CtcReduction;
  /** Replace +Infinity losses (no alignment exists) by 0 with a zero gradient, as torch's `zero_infinity=True`. Default false. */
  zeroInfinity?: boolean;
}

/**
 * A batch of targets encoded for `ctcLossEncoded`: host-validated, as jax-js
 * arrays of the loss's float dtype, X = 2S + 1 extended positions.
 */
export interface CtcTargets {
  /** (B, X, C) one-hot of the extended label sequence y' (zero rows past 2 L_b). */
  labels: np.Array;
  /** (B, X) 0 where the skip s-2 -> s is allowed (s odd, y'_s != y'_{s-2}), CTC_LOG_ZERO elsewhere. */
  skip: np.Array;
  /** (B, X) 0 at s = 0 and, for a non-empty target, s = 1; CTC_LOG_ZERO elsewhere. */
  start: np.Array;
  /** (B, X) 0 at s = 2 L_b and s = 2 L_b - 1; CTC_LOG_ZERO elsewhere. */
  end: np.Array;
  /** (T, B, 1) 1 while t < inputLengths[b], 0 afterwards (alpha stops). */
  active: np.Array;
  /** (B) 1 where an alignment exists (L_b + adjacent repeats <= inputLengths[b]), 0 elsewhere. */
  feasible: np.Array;
  /** (B) 1 / max(L_b, 1), torch's per-sample weight of the "mean" reduction. */
  scale: np.Array;
}

export interface CtcTargetOptions {
  /** T, the frames of logProbs. */
  numFrames: number;
  /** C, the classes of logProbs (blank included). */
  numClasses: number;
  /** Index of the blank class, in [0, C); default 0. */
  blank?: number;
  /** Float dtype of the loss (float32 or float64); default float32. */
  dtype?: DType;
}

/** Host label rows: number[][] or Int32Array[]. */
export type CtcLabelRows = ArrayLike<ArrayLike<number>>;

/** A jax-js array or tracer (tracers are not `np.Array` instances): anything with a shape, ndim and dtype. */
const isJaxArray = (x: unknown): x is np.Array =>
  typeof x === "object" && x !== null && "dtype" in x && "ndim" in x && Array.isArray((x as { shape?: unknown }).shape);

function lengthsOf(fn: string, field: string, value: unknown, B: number): ArrayLike<number> {
  if (isJaxArray(value)) fail(fn, `${field} must be plain numbers (number[] or Int32Array), not a jax-js array`);
  const v = value as ArrayLike<number> | null | undefined;
  if (v === null || v === undefined || typeof v === "string" || typeof v.length !== "number")
    fail(fn, `${field} must be an array of B = ${B} integers, got ${describe(value)}`);
  if (v.length !== B) fail(fn, `${field} must have B = ${B} entries (the batch of logProbs), got ${v.length}`);
  return v;
}

/** Validates a batch of targets on the host and encodes it for `ctcLossEncoded`. Errors name `fn`. */
function encode(
  fn: string,
  targets: CtcLabelRows,
  inputLengths: ArrayLike<number>,
  targetLengths: ArrayLike<number>,
  options: CtcTargetOptions,
): CtcTargets {
  const T = integer(fn, "numFrames (T)", options.numFrames, 1);
  const C = integer(fn, "numClasses (C)", options.numClasses, 1);
  const blank = options.blank ?? 0;
  if (typeof blank !== "number" || !Number.isInteger(blank) || blank < 0 || blank >= C)
    fail(fn, `options.blank must be an integer in [0, ${C - 1}] (C = ${C} classes), got ${describe(blank)}`);
  const dtype = options.dtype ?? np.float32;
  if (dtype !== np.float32 && dtype !== np.float64) fail(fn, `the float dtype must be float32 or float64, got ${describe(dtype)}`);
  if (isJaxArray(targets))
    fail(
      fn,
      "targets must be host integers (number[][] or Int32Array[] rows, padded as torch's (B, S)), not a jax-js array: labels are validated and one-hot encoded on the host (read a device array with `await targets.data()` first)",
    );
  if (targets === null || typeof targets !== "object" || typeof (targets as CtcLabelRows).length !== "number")
    fail(fn, `targets must be B rows of integer labels (number[][] or Int32Array[]), got ${describe(targets)}`);
  const B = targets.length;
  if (B < 1) fail(fn, "targets must have at least one row (B >= 1)");
  const lengths = lengthsOf(fn, "targetLengths", targetLengths, B);
  const frames = lengthsOf(fn, "inputLengths", inputLengths, B);
  let S = 0;
  for (let b = 0; b < B; b++) {
    const row = targets[b];
    if (row === null || typeof row !== "object" || typeof row.length !== "number")
      fail(fn, `targets[${b}] must be a row of integer labels, got ${describe(row)}`);
    S = Math.max(S, row.length);
  }
  const rows: number[][] = [];
  for (let b = 0; b < B; b++) {
    const row = targets[b];
    const L = lengths[b];
    if (typeof L !== "number" || !Number.isInteger(L) || L < 0 || L > row.length)
      fail(fn, `targetLengths[${b}] must be an integer in [0, ${row.length}] (the length of targets[${b}]), got ${describe(L)}`);
    const n = frames[b];
    if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > T)
      fail(fn, `inputLengths[${b}] must be an integer in [1, ${T}] (T = ${T} frames of logProbs), got ${describe(n)}`);
    const labels: number[] = [];
    for (let k = 0; k < L; k++) {
      const y = row[k];
      if (typeof y !== "number" || !Number.isInteger(y) || y < 0 || y >= C)
        fail(fn, `targets[${b}][${k}] must be an integer class in [0, ${C - 1}], got ${describe(y)}`);
      if (y === blank)
        fail(fn, `targets[${b}][${k}] is the blank ${blank}; labels within targetLengths[${b}] = ${L} must not be the blank`);
      labels.push(y);
    }
    rows.push(labels);
  }

  const X = 2 * S + 1;
  const labels = new Float64Array(B * X * C);
  const skip = new Float64Array(B * X).fill(CTC_LOG_ZERO);
  const start = new Float64Array(B * X).fill(CTC_LOG_ZERO);
  const end = new Float64Array(B * X).fill(CTC_LOG_ZERO);
  const active = new Float64Array(T * B);
  const feasible = new Float64Array(B);
  const scale = new Float64Array(B);
  for (let b = 0; b < B; b++) {
    const y = rows[b];
    const L = y.length;
    for (let s = 0; s <= 2 * L; s++) {
      const label = s % 2 === 0 ? blank : y[(s - 1) / 2];
      labels[(b * X + s) * C + label] = 1;
      if (s % 2 === 1 && s >= 3 && y[(s - 1) / 2] !== y[(s - 3) / 2]) skip[b * X + s] = 0;
    }
    start[b * X] = 0;
    if (L > 0) start[b * X + 1] = 0;
    end[b * X + 2 * L] = 0;
    if (L > 0) end[b * X + 2 * L - 1] = 0;
    for (let t = 0; t < frames[b]; t++) active[t * B + b] = 1;
    let repeats = 0;
    for (let k = 1; k < L; k++) if (y[k] === y[k - 1]) repeats++;
    feasible[b] = L + repeats <= frames[b] ? 1 : 0;
    scale[b] = 1 / Math.max(L, 1);
  }
  const arr = (data: Float64Array, shape: number[]) =>
    (dtype === np.float64 ? np.array(data) : np.array(Float32Array.from(data))).reshape(shape);
  return {
    labels: arr(labels, [B, X, C]),
    skip: arr(skip, [B, X]),
    start: arr(start, [B, X]),
    end: arr(end, [B, X]),
    active: arr(active, [T, B, 1]),
    feasible: arr(feasible, [B]),
    scale: arr(scale, [B]),
  };
}

/**
 * Validates a batch of CTC targets on the host and encodes it as arrays for
 * `ctcLossEncoded` (see `CtcTargets`). targets: B rows whose first
 * targetLengths[b] entries are the labels (the rest is padding, ignored; S is
 * the longest row); inputLengths[b] in [1, T]. Throws `ctcTargets: ...` naming
 * the argument and the value.
 */
export function ctcTargets(
  targets: CtcLabelRows,
  inputLengths: ArrayLike<number>,
  targetLengths: ArrayLike<number>,
  options: CtcTargetOptions,
): CtcTargets {
  return encode("ctcTargets", targets, inputLengths, targetLengths, options);
}

/** logsumexp of same-shaped arrays, the max held constant (logsumexp does not depend on it). Consumes them. */
function logAddExp3(a: np.Array, b: np.Array, c: np.Array): np.Array {
  const m = lax.stopGradient(np.maximum(np.maximum(a.ref, b.ref), c.ref));
  const sum = np.add(np.add(np.exp(np.subtract(a, m.ref)), np.exp(np.subtract(b, m.ref))), np.exp(np.subtract(c, m.ref)));
  return np.add(m, np.log(sum));
}

/** a (B, X) shifted right by k positions along X, log 0 shifted in. Consumes a. */
function shiftRight(a: np.Array, k: number): np.Array {
  const [B, X] = a.shape;
  const fill = np.full([B, Math.min(k, X)], CTC_LOG_ZERO, { dtype: a.dtype });
  if (k >= X) {
    a.dispose();
    return fill;
  }
  return np.concatenate([fill, a.slice([], [0, X - k])], 1);
}

function reductionOf(fn: string, options: CtcOptions): { reduction: CtcReduction; zeroInfinity: boolean } {
  const reduction = oneOf(fn, "options.reduction", options.reduction ?? "mean", ["none", "mean", "sum"] as const);
  const zeroInfinity = options.zeroInfinity ?? false;
  if (typeof zeroInfinity !== "boolean") fail(fn, `options.zeroInfinity must be true or false, got ${describe(zeroInfinity)}`);
  return { reduction, zeroInfinity };
}

function disposeTargets(t: CtcTargets | undefined): void {
  if (!t || typeof t !== "object") return;
  for (const a of [t.labels, t.skip, t.start, t.end, t.active, t.feasible, t.scale]) if (isJaxArray(a)) a.dispose();
}

/**
 * The CTC loss of logProbs (T, B, C) against targets encoded by `ctcTargets`:
 * (B) with reduction "none", () otherwise. Consumes logProbs and the encoded
 * targets; jit it with both as arguments to reuse it across batches.
 * options.blank is ignored here (it is part of the encoding).
 */
export function ctcLossEncoded(logProbs: np.Array, targets: CtcTargets, options: CtcOptions = {}): np.Array {
  return lossOf("ctcLossEncoded", logProbs, targets, options);
}

function lossOf(fn: string, logProbs: np.Array, targets: CtcTargets, options: CtcOptions): np.Array {
  const all: unknown[] = [
    logProbs,
    targets?.labels,
    targets?.skip,
    targets?.start,
    targets?.end,
    targets?.active,
    targets?.feasible,
    targets?.scale,
  ];
  const abort = (message: string): never => {
    logProbs.dispose();
    disposeTargets(targets);
    return fail(fn, message);
  };
  if (!all.every(isJaxArray)) abort("targets must be the arrays returned by ctcTargets");
  let reduction: CtcReduction;
  let zeroInfinity: boolean;
  try {
    ({ reduction, zeroInfinity } = reductionOf(fn, options));
  } catch (err) {
    logProbs.dispose();
    disposeTargets(targets);
    throw err;
  }
  if (logProbs.ndim !== 3) abort(`logProbs must be (T, B, C), got ${shapeOf(logProbs)}`);
  const [T, B, C] = logProbs.shape;
  const X = targets.labels.shape[1];
  const ok =
    targets.labels.ndim === 3 &&
    targets.labels.shape[0] === B &&
    targets.labels.shape[2] === C &&
    [targets.skip, targets.start, targets.end].every((a) => a.ndim === 2 && a.shape[0] === B && a.shape[1] === X) &&
    targets.active.ndim === 3 &&
    targets.active.shape[0] === T &&
    targets.active.shape[1] === B &&
    targets.feasible.ndim === 1 &&
    targets.feasible.shape[0] === B &&
    targets.scale.ndim === 1 &&
    targets.scale.shape[0] === B;
  if (!ok)
    abort(
      `targets were encoded for another batch: logProbs ${shapeOf(logProbs)} needs labels (B, X, C) = (${B}, X, ${C}) and active (T, B, 1) = (${T}, ${B}, 1), got labels ${shapeOf(targets.labels)}, active ${shapeOf(targets.active)}`,
    );
  if (all.some((a) => (a as np.Array).dtype !== logProbs.dtype))
    abort(`targets must be encoded in the dtype of logProbs (${logProbs.dtype}); pass options.dtype to ctcTargets`);

  const { labels, skip, start, end, active, feasible, scale } = targets;
  const emit = np.einsum("tbc,bxc->tbx", logProbs, labels); // (T, B, X) logp[t, b, y'_s]
  let alpha = np.add(emit.ref.slice(0), start); // (B, X)
  for (let t = 1; t < T; t++) {
    const stay = alpha.ref; // (B, X)
    const step = shiftRight(alpha.ref, 1); // (B, X)
    const jump = np.add(shiftRight(alpha.ref, 2), skip.ref); // (B, X)
    const next = np.add(logAddExp3(stay, step, jump), emit.ref.slice(t)); // (B, X)
    const on = active.ref.slice(t); // (B, 1)
    alpha = np.add(np.multiply(next, on.ref), np.multiply(alpha, np.subtract(1, on))); // (B, X)
  }
  emit.dispose();
  skip.dispose();
  active.dispose();
  const final = np.add(alpha, end); // (B, X)
  const m = lax.stopGradient(np.max(final.ref, -1, { keepdims: true })); // (B, 1)
  const logLikelihood = np.add(np.log(np.sum(np.exp(np.subtract(final, m.ref)), -1)), m.reshape([B])); // (B)
  const losses = np.where(np.greater(feasible, 0.5), np.negative(logLikelihood), zeroInfinity ? 0 : Infinity); // (B)
  if (reduction === "none") {
    scale.dispose();
    return losses;
  }
  if (reduction === "sum") {
    scale.dispose();
    return np.sum(losses);
  }
  return np.mean(np.multiply(losses, scale));
}

/**
 * CTC loss as torch's `F.ctc_loss(logProbs, targets, inputLengths,
 * targetLengths, blank, reduction, zero_infinity)`, float64 or float32.
 *
 * - logProbs (T, B, C): log-probabilities (log_softmax over C), finite. Consumed.
 * - targets: B host rows of integer labels (number[][] or Int32Array[]); the
 *   first targetLengths[b] entries of row b are its labels, in [0, C) and not
 *   the blank; the rest is padding. Not a jax-js array (see the file's doc).
 * - inputLengths: B integers in [1, T]; frames t >= inputLengths[b] are ignored.
 * - targetLengths: B integers in [0, targets[b].length].
 *
 * Returns (B) for reduction "none" (+Infinity where no alignment exists, 0
 * with zeroInfinity), () for "mean" (torch's default: mean of loss_b /
 * max(L_b, 1)) and "sum". Differentiable and jit-able; the loop over T is
 * unrolled. Throws `ctcLoss: ...` naming the argument and its value, after
 * disposing logProbs.
 */
export function ctcLoss(
  logProbs: np.Array,
  targets: CtcLabelRows,
  inputLengths: ArrayLike<number>,
  targetLengths: ArrayLike<number>,
  options: CtcOptions = {},
): np.Array {
  const fn = "ctcLoss";
  if (!isJaxArray(logProbs)) fail(fn, `logProbs must be a jax-js (T, B, C) array, got ${describe(logProbs)}`);
  if (logProbs.ndim !== 3) reject(fn, [logProbs], `logProbs must be (T, B, C), got ${shapeOf(logProbs)}`);
  if (logProbs.dtype !== np.float32 && logProbs.dtype !== np.float64)
    reject(fn, [logProbs], `logProbs must be float32 or float64, got ${logProbs.dtype}`);
  const [T, B, C] = logProbs.shape;
  let encoded: CtcTargets;
  try {
    reductionOf(fn, options);
    if (!isJaxArray(targets) && targets !== null && typeof targets === "object" && targets.length !== B)
      fail(fn, `targets must have B = ${B} rows (the batch of logProbs ${shapeOf(logProbs)}), got ${targets.length}`);
    encoded = encode(fn, targets, inputLengths, targetLengths, {
      numFrames: T,
      numClasses: C,
      blank: options.blank,
      dtype: logProbs.dtype,
    });
  } catch (err) {
    logProbs.dispose();
    throw err;
  }
  return lossOf(fn, logProbs, encoded, options);
}
