/**
 * The WGSL of the fused kernelized kernel's passes (kernelizedAttention.ts
 * says what each pass computes and how they are planned): the feature maps,
 * the spectrum of exp(b), the strided and last FFT levels, the first pass
 * (outer products formed as they are loaded, the first FFT level) and the
 * contraction (the inverse first level fused with the sum over features),
 * and the final ratio. Over 400 lines: eight generators that share their
 * preambles and constants, each a unit of its own.
 */
import { fftSharedWgsl, paddedSize } from "./fft.js";
import { f32Literal } from "./gpuTensor.js";
import { type Program, type ProgramSpec, program, type StorageBinding } from "./program.js";

/** Invocations per workgroup of the FFT passes. */
export const WG = 256;
const LOWEST = f32Literal(-3.4028234663852886e38);

/** 0, 1, ..., n - 1 */
function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** u32 uniforms `names`, then the grid's width in workgroups `gx` (every pass runs on a 2-D grid). */
function gridUniforms(...names: string[]): ProgramSpec["uniforms"] {
  return [...names, "gx"].map((n) => [n, "u32"] as const);
}

/** The twiddle table and the data an FFT pass transforms in place. */
const TRANSFORM_STORAGE: StorageBinding[] = [
  { name: "tw", type: "vec2<f32>" },
  { name: "data", type: "vec2<f32>", write: true },
];

const ORDER_KEY = `fn orderKey(x: f32) -> u32 { let b = bitcast<u32>(x); return select(~b, b | 0x80000000u, (b & 0x80000000u) == 0u); }
fn fromOrderKey(u: u32) -> f32 { return bitcast<f32>(select(~u, u & 0x7fffffffu, (u & 0x80000000u) != 0u)); }`;

/** Features of one role: a row per invocation, 64 rows of one (batch, head) per workgroup. */
export function featuresProgram(
  role: "query" | "key",
  kind: "prf" | "relu" | "eluPlusOne",
  inputScale: "softmax" | "none",
  qkNorm: "l2" | "none",
  D: number,
  M: number,
): Program {
  const keyMax = kind === "prf" && role === "key";
  const inv = f32Literal(1 / Math.sqrt(M));
  let body: string;
  if (kind === "eluPlusOne") {
    body = `for (var c = 0u; c < D; c++) { let x = xr[c]; out[row * M + c] = select(exp(min(x, 0.0)), x + 1.0, x > 0.0); }`;
  } else if (kind === "relu") {
    body = `for (var m = 0u; m < M; m++) {
      var dot = 0.0;
      for (var c = 0u; c < D; c++) { dot += xr[c] * w[m * D + c]; }
      out[row * M + m] = max(dot, 0.0) * ${inv};
    }`;
  } else {
    body = `${inputScale === "softmax" ? `for (var c = 0u; c < D; c++) { xr[c] = xr[c] * ${f32Literal(D ** -0.25)}; }` : ""}
    var sq = 0.0;
    for (var c = 0u; c < D; c++) { sq += xr[c] * xr[c]; }
    let half = sq * 0.5;
    var e: array<f32, ${M}>;
    var mx = ${LOWEST};
    for (var m = 0u; m < M; m++) {
      var dot = 0.0;
      for (var c = 0u; c < D; c++) { dot += xr[c] * w[m * D + c]; }
      e[m] = dot - half;
      mx = max(mx, e[m]);
    }
    ${
      role === "query"
        ? `for (var m = 0u; m < M; m++) { out[row * M + m] = exp(e[m] - mx) * ${inv}; }`
        : `for (var m = 0u; m < M; m++) { out[row * M + m] = e[m]; }
    rowMax = mx;`
    }`;
  }
  const storage: StorageBinding[] = [{ name: "x", type: "f32" }];
  if (kind !== "eluPlusOne") storage.push({ name: "w", type: "f32" });
  storage.push({ name: "out", type: "f32", write: true });
  if (keyMax) storage.push({ name: "smax", type: "atomic<u32>", write: true });
  return program({
    uniforms: gridUniforms("L", "BH"),
    storage,
    workgroupSize: 64,
    body: /* wgsl */ `
${keyMax ? `var<workgroup> red: array<f32, 64>;\n${ORDER_KEY}` : ""}
const D = ${D}u;
const M = ${M}u;

fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let bh = wg.y;
  let t = wg.x * 64u + lid;
  var rowMax = ${LOWEST};
  if (t < P.L) {
    let row = bh * P.L + t;
    var xr: array<f32, ${D}>;
    for (var c = 0u; c < D; c++) { xr[c] = x[row * D + c]; }
    ${
      qkNorm === "l2"
        ? `var ss = 0.0;
    for (var c = 0u; c < D; c++) { ss += xr[c] * xr[c]; }
    let norm = max(sqrt(ss), ${f32Literal(1e-30)});
    for (var c = 0u; c < D; c++) { xr[c] = xr[c] / norm; }`
        : ""
    }
    ${body}
  }
  ${
    keyMax
      ? `red[lid] = rowMax;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
    workgroupBarrier();
  }
  if (lid == 0u) { atomicMax(&smax[bh], orderKey(red[0])); }`
      : "_ = rowMax;"
  }
}
`,
  });
}

/** phi(k) = exp(e - s) / sqrt(M) with s the maximum over (L, M) of each (batch, head). */
export function keyFinalProgram(M: number): Program {
  return program({
    uniforms: gridUniforms("total", "LM"),
    storage: [
      { name: "e", type: "f32", write: true },
      { name: "smax", type: "u32" },
    ],
    workgroupSize: WG,
    body: /* wgsl */ `
${ORDER_KEY}
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * P.gx + wg.x) * ${WG}u + lid;
  if (i >= P.total) { return; }
  e[i] = exp(e[i] - fromOrderKey(smax[i / P.LM])) * ${f32Literal(1 / Math.sqrt(M))};
}
`,
  });
}

/** g (H, n) complex: g_t = c_{-t} (t < L), g_{n-s} = c_s (0 < s < L, bidirectional), c = exp(b - max b). One workgroup per head. */
export function gProgram(causal: boolean, hasRpe: boolean): Program {
  const c = (idx: string) => (hasRpe ? `exp(b[h * K + ${idx}] - bmax)` : "1.0");
  const storage: StorageBinding[] = hasRpe ? [{ name: "b", type: "f32" }] : [];
  storage.push({ name: "g", type: "vec2<f32>", write: true });
  return program({
    uniforms: gridUniforms("L", "n"),
    storage,
    workgroupSize: WG,
    body: /* wgsl */ `
${hasRpe ? `var<workgroup> red: array<f32, ${WG}>;` : ""}

fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wg.x;
  let L = P.L;
  let K = 2u * L - 1u;
  ${
    hasRpe
      ? `var mx = ${LOWEST};
  for (var o = lid; o < ${causal ? "L" : "K"}; o += ${WG}u) { mx = max(mx, b[h * K + o]); }
  red[lid] = mx;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
    workgroupBarrier();
  }
  let bmax = red[0];`
      : ""
  }
  for (var t = lid; t < P.n; t += ${WG}u) {
    var val = 0.0;
    if (t < L) {
      val = ${c("L - 1u - t")};
    }${
      causal
        ? ""
        : ` else if (t > P.n - L) {
      val = ${c("L - 1u + (P.n - t)")};
    }`
    }
    g[h * P.n + t] = vec2<f32>(val, 0.0);
  }
}
`,
  });
}

/**
 * One strided level of the four-step FFT, in place: per (pair, block of
 * N S points, W columns r), the N-point DFTs along the index of stride S,
 * with the twiddle W_{N S}^{r f} after them (forward) or before them
 * (inverse, on conjugated data).
 */
export function stridedProgram(N: number, W: number, direction: "forward" | "inverse"): Program {
  return program({
    uniforms: gridUniforms("n", "S", "SP", "perPair", "colBlocks", "pairs"),
    storage: TRANSFORM_STORAGE,
    workgroupSize: WG,
    body: /* wgsl */ `
var<workgroup> sh: array<vec2<f32>, ${paddedSize(W * N)}>;
var<private> base: u32;
var<private> col0: u32;
${fftSharedWgsl(N, W, WG)}
fn at(e: u32) -> vec2<f32> {
  let col = e % ${W}u;
  let f = e / ${W}u;
  ${direction === "inverse" ? `return cmul(data[base + f * P.S + col], tw[P.SP + (col0 + col) * f]);` : `return data[base + f * P.S + col];`}
}
fn slot(e: u32) -> u32 { return (e % ${W}u) * ${N}u + e / ${W}u; }

fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let wid = wg.y * P.gx + wg.x;
  if (wid >= P.pairs * P.perPair) { return; }
  let pair = wid / P.perPair;
  let rem = wid % P.perPair;
  let o = rem / P.colBlocks;
  let cb = rem % P.colBlocks;
  base = pair * P.n + o * P.SP + cb * ${W}u;
  col0 = cb * ${W}u;
  ${staged(W * N)}
  workgroupBarrier();
  fftShared(lid);
  for (var e = lid; e < ${W * N}u; e += ${WG}u) {
    let col = e % ${W}u;
    let f = e / ${W}u;
    ${direction === "forward" ? `data[base + f * P.S + col] = cmul(sh[sp(col * ${N}u + f)], tw[P.SP + (col0 + col) * f]);` : `data[base + f * P.S + col] = sh[sp(col * ${N}u + f)];`}
  }
}
`,
  });
}

/**
 * The last level: contiguous rows of N points. "spectrum": forward DFT and
 * 1/n. "convolve": forward DFT, times the spectrum of g of the row's head,
 * conjugate, forward DFT (the inverse transform, left conjugated).
 */
export function lastProgram(N: number, rows: number, mode: "spectrum" | "convolve"): Program {
  const size = rows * N;
  return program({
    uniforms: gridUniforms("n", "rows", "pairsPerBh", "bh0", "H"),
    storage: mode === "convolve" ? [...TRANSFORM_STORAGE, { name: "G", type: "vec2<f32>" }] : TRANSFORM_STORAGE,
    workgroupSize: WG,
    body: /* wgsl */ `
var<workgroup> sh: array<vec2<f32>, ${paddedSize(size)}>;
var<private> first: u32;
var<private> last: u32;
${fftSharedWgsl(N, rows, WG)}
fn at(e: u32) -> vec2<f32> { return select(vec2<f32>(0.0), data[min(first + e, last)], first + e <= last); }
fn slot(e: u32) -> u32 { return e; }

fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row0 = (wg.y * P.gx + wg.x) * ${rows}u;
  if (row0 >= P.rows) { return; }
  let valid = min(P.rows - row0, ${rows}u) * ${N}u;
  first = row0 * ${N}u;
  last = first + valid - 1u;
  ${staged(size)}
  workgroupBarrier();
  fftShared(lid);
  for (var e = lid; e < valid; e += ${WG}u) {
    ${
      mode === "spectrum"
        ? `sh[sp(e)] = sh[sp(e)] * (1.0 / f32(P.n));`
        : `let r = row0 + e / ${N}u;
    let blocks = P.n / ${N}u;
    let h = (P.bh0 + (r / blocks) / P.pairsPerBh) % P.H;
    let y = cmul(sh[sp(e)], G[h * P.n + (r % blocks) * ${N}u + e % ${N}u]);
    sh[sp(e)] = vec2<f32>(y.x, -y.y);`
    }
  }
  ${mode === "convolve" ? `workgroupBarrier();\n  fftShared(lid);` : ""}
  for (var e = lid; e < valid; e += ${WG}u) { data[row0 * ${N}u + e] = sh[sp(e)]; }
}
`,
  });
}

/**
 * WGSL staging `size` elements into `sh` by the workgroup: element e is
 * `at(e)` (a WGSL function), stored at `sp(slot(e))`. Unrolled, with every
 * load issued before the first store, so that an invocation's loads are in
 * flight together.
 */
function staged(size: number): string {
  const per = Math.ceil(size / WG);
  const guard = (i: number, body: string) => (size % WG === 0 ? body : `if (lid + ${i * WG}u < ${size}u) { ${body} }`);
  const loads = range(per).map((i) => `var x${i} = vec2<f32>(0.0); ${guard(i, `x${i} = at(lid + ${i * WG}u);`)}`);
  const stores = range(per).map((i) => guard(i, `sh[sp(slot(lid + ${i * WG}u))] = x${i};`));
  return `{\n    ${loads.join("\n    ")}\n    ${stores.join("\n    ")}\n  }`;
}

/** The uniforms of a chunk's first and contraction passes. */
const CHUNK_UNIFORMS = ["L", "n", "S0", "colBlocks", "dBlocks", "Mpc", "Dc", "d0", "mp0", "bh0", "bhN", "split"] as const;

/**
 * W_n^x for x < n as W_{n / 2^s}^{x >> s} W_n^{x mod 2^s} (s = P.split): two
 * entries of short tables that stay in cache, where the twiddles of level 0
 * (x = r f over the whole table) would each touch a different cache line.
 */
const LEVEL0_TWIDDLE =
  "fn twn(x: u32) -> vec2<f32> { return cmul(tw[(P.n >> P.split) + (x >> P.split)], tw[P.n + (x & ((1u << P.split) - 1u))]); }";

/**
 * Level 0 forward with the outer products formed on load: per (batch x head,
 * feature pair, block of PB value channels, W columns), signal m, m + 1 of
 * channel d is phi(k_t)_m [v_t, 1]_d + i phi(k_t)_{m+1} [v_t, 1]_d at
 * positions t = t_0 S_0 + r (zero for t >= L).
 */
export function firstProgram(N0: number, W: number, PB: number, M: number, Dv: number): Program {
  const size = PB * W * N0;
  return program({
    uniforms: gridUniforms(...CHUNK_UNIFORMS),
    storage: [...TRANSFORM_STORAGE, { name: "phiK", type: "f32" }, { name: "v", type: "f32" }],
    workgroupSize: WG,
    body: /* wgsl */ `
var<workgroup> sh: array<vec2<f32>, ${paddedSize(size)}>;
var<private> m0: u32;
var<private> bhRow: u32;
var<private> dl0: u32;
var<private> col0: u32;
${fftSharedWgsl(N0, PB * W, WG)}
${LEVEL0_TWIDDLE}
fn at(e: u32) -> vec2<f32> {
  let dl = dl0 + e / ${W * N0}u;
  let t = ((e / ${W}u) % ${N0}u) * P.S0 + col0 + e % ${W}u;
  var x = vec2<f32>(0.0);
  if (dl < P.Dc && t < P.L) {
    let d = P.d0 + dl;
    var val = 1.0;
    if (d < ${Dv}u) { val = v[(bhRow + t) * ${Dv}u + d]; }
    let kr = (bhRow + t) * ${M}u + m0;
    x.x = phiK[kr] * val;
    if (m0 + 1u < ${M}u) { x.y = phiK[kr + 1u] * val; }
  }
  return x;
}
fn slot(e: u32) -> u32 { return ((e / ${W * N0}u) * ${W}u + e % ${W}u) * ${N0}u + (e / ${W}u) % ${N0}u; }

fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let wid = wg.y * P.gx + wg.x;
  if (wid >= P.bhN * P.Mpc * P.dBlocks * P.colBlocks) { return; }
  // consecutive workgroups share positions (and their rows of phi(k) and v in cache)
  let db = wid % P.dBlocks;
  let mpl = (wid / P.dBlocks) % P.Mpc;
  let cb = (wid / (P.dBlocks * P.Mpc)) % P.colBlocks;
  let bhl = wid / (P.colBlocks * P.dBlocks * P.Mpc);
  let bh = P.bh0 + bhl;
  m0 = 2u * (P.mp0 + mpl);
  bhRow = bh * P.L;
  dl0 = db * ${PB}u;
  col0 = cb * ${W}u;
  ${staged(size)}
  workgroupBarrier();
  fftShared(lid);
  for (var e = lid; e < ${size}u; e += ${WG}u) {
    let col = e % ${W}u;
    let f = (e / ${W}u) % ${N0}u;
    let j = e / ${W * N0}u;
    let dl = db * ${PB}u + j;
    if (dl < P.Dc) {
      let pair = (bhl * P.Dc + dl) * P.Mpc + mpl;
      let r = cb * ${W}u + col;
      data[pair * P.n + f * P.S0 + r] = cmul(sh[sp((j * ${W}u + col) * ${N0}u + f)], twn(r * f));
    }
  }
}
`,
  });
}

/**
 * Level 0 inverse fused with the contraction: per (batch x head, block of
 * PB value channels, W columns), for every feature pair of the chunk, the
 * last DFTs (on conjugated data: the real part is channel m, minus the
 * imaginary part channel m + 1) give the Toeplitz products at the block's
 * positions, accumulated as sum_m phi(q_t)_m y_m in registers.
 */
export function contractProgram(N0: number, W: number, PB: number, M: number, Dv: number): Program {
  const size = PB * W * N0;
  const V = Dv + 1;
  return program({
    uniforms: gridUniforms(...CHUNK_UNIFORMS, "accumulate"),
    storage: [...TRANSFORM_STORAGE, { name: "phiQ", type: "f32" }, { name: "numDen", type: "f32", write: true }],
    workgroupSize: WG,
    body: /* wgsl */ `
var<workgroup> sh: array<vec2<f32>, ${paddedSize(size)}>;
var<private> pair0: u32;
var<private> dl0: u32;
var<private> col0: u32;
var<private> mp: u32;
${fftSharedWgsl(N0, PB * W, WG)}
${LEVEL0_TWIDDLE}
fn at(e: u32) -> vec2<f32> {
  let dl = dl0 + e / ${W * N0}u;
  let f = (e / ${W}u) % ${N0}u;
  let r = col0 + e % ${W}u;
  if (dl >= P.Dc) { return vec2<f32>(0.0); }
  return cmul(data[((pair0 + dl) * P.Mpc + mp) * P.n + f * P.S0 + r], twn(r * f));
}
fn slot(e: u32) -> u32 { return ((e / ${W * N0}u) * ${W}u + e % ${W}u) * ${N0}u + (e / ${W}u) % ${N0}u; }

fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let wid = wg.y * P.gx + wg.x;
  if (wid >= P.bhN * P.dBlocks * P.colBlocks) { return; }
  // consecutive workgroups share positions (and their rows of phi(q) in cache)
  let db = wid % P.dBlocks;
  let cb = (wid / P.dBlocks) % P.colBlocks;
  let bhl = wid / (P.colBlocks * P.dBlocks);
  let bh = P.bh0 + bhl;
  pair0 = bhl * P.Dc;
  dl0 = db * ${PB}u;
  col0 = cb * ${W}u;
  // this invocation's position
  let mt0 = lid / ${W}u;
  let mcol = lid % ${W}u;
  let mt = mt0 * P.S0 + cb * ${W}u + mcol;
  let mine = mt0 < ${N0 / 2}u && mt < P.L;
  ${range(PB)
    .map((j) => `var acc${j} = 0.0;`)
    .join(" ")}
  for (var mpl = 0u; mpl < P.Mpc; mpl++) {
    mp = mpl;
    ${staged(size)}
    // this position's features m0, m0 + 1, loaded while the transform runs
    let m0 = 2u * (P.mp0 + mpl);
    let qr = (bh * P.L + min(mt, P.L - 1u)) * ${M}u + m0;
    let qa = phiQ[qr];
    var qb = 0.0;
    if (m0 + 1u < ${M}u) { qb = phiQ[qr + 1u]; }
    workgroupBarrier();
    fftShared(lid);
    if (mine) {
      ${range(PB)
        .map((j) => `let y${j} = sh[sp(${j * W}u * ${N0}u + mcol * ${N0}u + mt0)]; acc${j} = acc${j} + (qa * y${j}.x - qb * y${j}.y);`)
        .join("\n      ")}
    }
    workgroupBarrier();
  }
  if (mine) {
    let row = (bh * P.L + mt) * ${V}u + P.d0 + db * ${PB}u;
    ${range(PB)
      .map(
        (j) =>
          `if (db * ${PB}u + ${j}u < P.Dc) { numDen[row + ${j}u] = select(acc${j}, numDen[row + ${j}u] + acc${j}, P.accumulate != 0u); }`,
      )
      .join("\n    ")}
  }
}
`,
  });
}

export function ratioProgram(Dv: number): Program {
  return program({
    overrides: [["Dv", "u32", Dv]],
    uniforms: [
      ["total", "u32"],
      ["eps", "f32"],
      ["gx", "u32"],
    ],
    storage: [
      { name: "numDen", type: "f32" },
      { name: "z", type: "f32", write: true },
    ],
    workgroupSize: WG,
    body: /* wgsl */ `
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wg.y * P.gx + wg.x) * ${WG}u + lid;
  if (i >= P.total) { return; }
  let row = i / Dv;
  z[i] = numDen[row * (Dv + 1u) + i % Dv] / (numDen[row * (Dv + 1u) + Dv] + P.eps);
}
`,
  });
}
