/**
 * Metrics of generated handwriting, on plain numbers (the networks that
 * produce their inputs live in src/nn):
 *
 * - `greedyDecode`: CTC best-path decoding, the most likely label of every
 *   column, repeats merged, blanks dropped;
 * - `characterErrorRate`: sum of Levenshtein distances between read and
 *   intended texts over the sum of the intended lengths (the usual CER);
 * - `frechetDistance`: |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)) between
 *   Gaussians fitted to two sets of feature vectors (FID's formula on the
 *   features of a writer classifier trained here, so "FID-like", not FID);
 *   tr((S1 S2)^(1/2)) is the sum of the square roots of the eigenvalues of
 *   S1^(1/2) S2 S1^(1/2), symmetric positive semi-definite, found with
 *   cyclic Jacobi rotations in float64.
 *
 * Reference: Graves et al., "Connectionist Temporal Classification" (ICML
 * 2006); Heusel et al., "GANs Trained by a Two Time-Scale Update Rule
 * Converge to a Local Nash Equilibrium" (NeurIPS 2017), https://arxiv.org/abs/1706.08500
 * (the Fréchet distance of Gaussians); Golub & Van Loan, Matrix
 * Computations, section 8.5 (Jacobi's method).
 */
import { fail, integer } from "../core/validate.js";

/** logits (B, T, V) row-major, blank label -> B label sequences. */
export function greedyDecode(logits: ArrayLike<number>, batch: number, columns: number, vocabulary: number, blank = 0): number[][] {
  const fn = "greedyDecode";
  integer(fn, "batch", batch, 1);
  integer(fn, "columns", columns, 1);
  integer(fn, "vocabulary", vocabulary, 2);
  integer(fn, "blank", blank, 0);
  if (blank >= vocabulary) fail(fn, `blank must be below vocabulary ${vocabulary}, got ${blank}`);
  if (logits.length !== batch * columns * vocabulary)
    fail(fn, `logits must hold batch * columns * vocabulary = ${batch * columns * vocabulary} values, got ${logits.length}`);
  const out: number[][] = [];
  for (let b = 0; b < batch; b++) {
    const labels: number[] = [];
    let previous = -1;
    for (let t = 0; t < columns; t++) {
      const row = (b * columns + t) * vocabulary;
      let best = 0;
      for (let v = 1; v < vocabulary; v++) if (logits[row + v] > logits[row + best]) best = v;
      if (best !== previous && best !== blank) labels.push(best);
      previous = best;
    }
    out.push(labels);
  }
  return out;
}

/** Levenshtein distance between two sequences (insertions, deletions, substitutions cost 1). */
export function editDistance(a: ArrayLike<unknown>, b: ArrayLike<unknown>): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur.push(Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1)));
    prev = cur;
  }
  return prev[b.length];
}

/** sum_i dist(read_i, truth_i) / sum_i |truth_i|. */
export function characterErrorRate(read: readonly string[], truth: readonly string[]): number {
  const fn = "characterErrorRate";
  if (read.length !== truth.length) fail(fn, `read and truth must have the same length, got ${read.length} and ${truth.length}`);
  const total = truth.reduce((s, t) => s + t.length, 0);
  if (total === 0) fail(fn, "truth holds no characters");
  return read.reduce((s, r, i) => s + editDistance(r, truth[i]), 0) / total;
}

/** Mean (d) and covariance (d, d), unbiased, of n row vectors (n, d). */
function moments(x: ArrayLike<number>, n: number, d: number): { mean: Float64Array; cov: Float64Array } {
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += x[i * d + j] / n;
  const cov = new Float64Array(d * d);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < d; j++) {
      const a = x[i * d + j] - mean[j];
      for (let k = j; k < d; k++) cov[j * d + k] += (a * (x[i * d + k] - mean[k])) / (n - 1);
    }
  for (let j = 0; j < d; j++) for (let k = 0; k < j; k++) cov[j * d + k] = cov[k * d + j];
  return { mean, cov };
}

/** Eigenvalues and eigenvectors (columns) of a symmetric (d, d) matrix by cyclic Jacobi rotations. */
export function symmetricEigen(m: Float64Array, d: number): { values: Float64Array; vectors: Float64Array } {
  const a = Float64Array.from(m);
  const v = new Float64Array(d * d);
  for (let i = 0; i < d; i++) v[i * d + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < d; p++) for (let q = p + 1; q < d; q++) off += a[p * d + q] ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < d; p++)
      for (let q = p + 1; q < d; q++) {
        const apq = a[p * d + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * d + q] - a[p * d + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < d; k++) {
          const akp = a[k * d + p];
          const akq = a[k * d + q];
          a[k * d + p] = c * akp - s * akq;
          a[k * d + q] = s * akp + c * akq;
        }
        for (let k = 0; k < d; k++) {
          const apk = a[p * d + k];
          const aqk = a[q * d + k];
          a[p * d + k] = c * apk - s * aqk;
          a[q * d + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < d; k++) {
          const vkp = v[k * d + p];
          const vkq = v[k * d + q];
          v[k * d + p] = c * vkp - s * vkq;
          v[k * d + q] = s * vkp + c * vkq;
        }
      }
  }
  return { values: Float64Array.from({ length: d }, (_, i) => a[i * d + i]), vectors: v };
}

/**
 * Fréchet distance between Gaussians fitted to feature sets x (n, d) and
 * y (m, d), row-major; n, m >= 2.
 */
export function frechetDistance(x: ArrayLike<number>, n: number, y: ArrayLike<number>, m: number, d: number): number {
  const fn = "frechetDistance";
  integer(fn, "n", n, 2);
  integer(fn, "m", m, 2);
  integer(fn, "d", d, 1);
  if (x.length !== n * d) fail(fn, `x must hold n * d = ${n * d} values, got ${x.length}`);
  if (y.length !== m * d) fail(fn, `y must hold m * d = ${m * d} values, got ${y.length}`);
  const a = moments(x, n, d);
  const b = moments(y, m, d);
  // S1^(1/2) = V diag(sqrt(max(l, 0))) V^T
  const e1 = symmetricEigen(a.cov, d);
  const root = new Float64Array(d * d);
  for (let i = 0; i < d; i++)
    for (let j = 0; j < d; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += e1.vectors[i * d + k] * Math.sqrt(Math.max(e1.values[k], 0)) * e1.vectors[j * d + k];
      root[i * d + j] = s;
    }
  const tmp = new Float64Array(d * d); // S1^(1/2) S2
  for (let i = 0; i < d; i++) for (let k = 0; k < d; k++) for (let j = 0; j < d; j++) tmp[i * d + j] += root[i * d + k] * b.cov[k * d + j];
  const inner = new Float64Array(d * d); // S1^(1/2) S2 S1^(1/2)
  for (let i = 0; i < d; i++) for (let k = 0; k < d; k++) for (let j = 0; j < d; j++) inner[i * d + j] += tmp[i * d + k] * root[k * d + j];
  for (let i = 0; i < d; i++) for (let j = 0; j < i; j++) inner[i * d + j] = inner[j * d + i] = (inner[i * d + j] + inner[j * d + i]) / 2;
  const cross = symmetricEigen(inner, d).values.reduce((s, l) => s + Math.sqrt(Math.max(l, 0)), 0);
  let dist = 0;
  for (let j = 0; j < d; j++) dist += (a.mean[j] - b.mean[j]) ** 2 + a.cov[j * d + j] + b.cov[j * d + j];
  return dist - 2 * cross;
}
