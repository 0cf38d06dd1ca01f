/**
 * Plain-JS float64 references of the nn/ modules, written from their
 * formulas with loops over row-major Float64Arrays.
 */
import { referenceAttention } from "../attention/reference.js";

/** (N, I) x (I, O) + (O) */
export function refLinear(x: Float64Array, N: number, I: number, w: Float64Array, O: number, b?: Float64Array): Float64Array {
  const y = new Float64Array(N * O);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < O; o++) {
      let s = b ? b[o] : 0;
      for (let i = 0; i < I; i++) s += x[n * I + i] * w[i * O + o];
      y[n * O + o] = s;
    }
  }
  return y;
}

/** Row-wise (x - mean) / sqrt(var + eps) * g + b over rows of width C. */
export function refLayerNorm(x: Float64Array, C: number, g: Float64Array, b: Float64Array, eps: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / C; r++) {
    let mean = 0;
    for (let c = 0; c < C; c++) mean += x[r * C + c] / C;
    let v = 0;
    for (let c = 0; c < C; c++) v += (x[r * C + c] - mean) ** 2 / C;
    for (let c = 0; c < C; c++) y[r * C + c] = ((x[r * C + c] - mean) / Math.sqrt(v + eps)) * g[c] + b[c];
  }
  return y;
}

/** Row-wise x / sqrt(mean(x^2) + eps) * g. */
export function refRmsNorm(x: Float64Array, C: number, g: Float64Array, eps: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / C; r++) {
    let ms = 0;
    for (let c = 0; c < C; c++) ms += x[r * C + c] ** 2 / C;
    for (let c = 0; c < C; c++) y[r * C + c] = (x[r * C + c] / Math.sqrt(ms + eps)) * g[c];
  }
  return y;
}

/**
 * GELU, tanh approximation (GPT-2 "gelu_new"), with its two constants
 * sqrt(2/pi) and 0.044715 rounded to float32: jax-js 0.1.25's `nn.gelu`
 * keeps scalar constants of its jitted routines as float32 literals, also in
 * float64 (measured: with the float64 constants the results differ by ~7e-8
 * relative; with these they agree to 1e-12).
 */
export const geluTanh = (x: number) =>
  0.5 * x * (1 + Math.tanh(Math.fround(Math.sqrt(2 / Math.PI)) * (x + Math.fround(0.044715) * x ** 3)));
export const silu = (x: number) => x / (1 + Math.exp(-x));

export interface RefBlockParams {
  g1: Float64Array;
  b1: Float64Array;
  wqkv: Float64Array;
  bqkv: Float64Array;
  wo: Float64Array;
  bo: Float64Array;
  g2: Float64Array;
  b2: Float64Array;
  wfc: Float64Array;
  bfc: Float64Array;
  wproj: Float64Array;
  bproj: Float64Array;
}

/**
 * Pre-norm block with LayerNorm, causal multi-head attention with an additive
 * bias(h, i, j) and a GELU (tanh) MLP, for one sequence x (L, C).
 */
export function refBlock(
  x: Float64Array,
  L: number,
  C: number,
  H: number,
  hidden: number,
  p: RefBlockParams,
  eps: number,
  bias: (h: number, i: number, j: number) => number,
): Float64Array {
  const D = C / H;
  const h1 = refLayerNorm(x, C, p.g1, p.b1, eps);
  const qkv = refLinear(h1, L, C, p.wqkv, 3 * C, p.bqkv); // (L, 3C)
  const split = (part: number) => {
    const t = new Float64Array(H * L * D); // (1, H, L, D)
    for (let h = 0; h < H; h++)
      for (let l = 0; l < L; l++) for (let d = 0; d < D; d++) t[(h * L + l) * D + d] = qkv[l * 3 * C + part * C + h * D + d];
    return { data: t, shape: [1, H, L, D] };
  };
  const att = referenceAttention(split(0), split(1), split(2), { scale: 1 / Math.sqrt(D), causal: true, bias }); // (1, H, L, D)
  const merged = new Float64Array(L * C);
  for (let h = 0; h < H; h++) for (let l = 0; l < L; l++) for (let d = 0; d < D; d++) merged[l * C + h * D + d] = att[(h * L + l) * D + d];
  const proj = refLinear(merged, L, C, p.wo, C, p.bo);
  const x1 = x.map((v, i) => v + proj[i]);
  const h2 = refLayerNorm(x1, C, p.g2, p.b2, eps);
  const a = refLinear(h2, L, C, p.wfc, hidden, p.bfc).map(geluTanh);
  const m = refLinear(a, L, hidden, p.wproj, C, p.bproj);
  return x1.map((v, i) => v + m[i]);
}
