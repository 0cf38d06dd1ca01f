/**
 * The WGSL of the fused attention backward (FlashAttention-2's backward,
 * flashBackward.ts has the formulas): two kernels that recompute P from the
 * forward's row statistics (m, l) and never store an (L, S) matrix.
 *
 * - `flashDqProgram`: one workgroup per (batch, head, block of BQ queries),
 *   looping over tiles of BK keys staged in workgroup memory; writes dq~ and
 *   each row's delta = dO . O.
 * - `flashDkvProgram`: one workgroup per (batch, kv head, block of BK keys),
 *   looping over the heads of its group (grouped-query attention sums them,
 *   with no atomics) and tiles of BQ queries staged in workgroup memory;
 *   writes dk~ and dv.
 *
 * Invocation (r, c) of the 16 x 16 grid takes query r and key c of a tile
 * for the logit, then column lanes c (dq) or r (dk, dv) for the sums over the
 * tile. Masks and the positional bias are the forward's (flashShader.ts);
 * masked logits get no gradient (the composite's `where` passes none) but
 * their P still counts for dv when a query sees no key at all.
 */
import type { Plan } from "./flashPlan.js";
import { biasBindings, biasSource, MASK_UNIFORMS } from "./flashShader.js";
import { f32Literal } from "./gpuTensor.js";
import { type Program, type ProgramSpec, program, type StorageBinding } from "./program.js";

/** Queries and keys per tile of the backward kernels: the 16 x 16 invocation grid. */
export const BACKWARD_TILE = 16;
/** Invocations per workgroup of the backward kernels. */
export const BACKWARD_THREADS = BACKWARD_TILE * BACKWARD_TILE;
const T = BACKWARD_TILE;
const LOWEST = f32Literal(-3.4028234663852886e38);

/**
 * Row stride of a staged tile in workgroup memory: odd, so that the 16 invocations reading 16 rows at one
 * column hit 16 different banks (an even stride such as 64 puts them all on one bank).
 */
const stride = (n: number) => n | 1;

/** Own rows (q and dO, or k and v) held in registers when their floats together are at most this; read from memory beyond. */
const REGISTER_ROWS = 160;

/** Workgroup bytes of the backward kernels for head dimensions D and Dv: two staged tiles and two T x T tiles. */
export function backwardWorkgroupBytes(D: number, Dv: number): number {
  return 4 * (T * (stride(D) + stride(Dv)) + 2 * T * T + 2 * T);
}

/**
 * The invocation's own row `name` (n floats of `buf` from float `base`): WGSL that loads it into registers
 * `name0 ..` when `cached`, and the expression of its element `d` (a WGSL index, or a number when cached).
 */
function ownRow(name: string, buf: string, base: string, n: number, cached: boolean): { load: string; at: (d: string | number) => string } {
  if (!cached) return { load: "", at: (d) => `${buf}[${base} + ${typeof d === "number" ? `${d}u` : d}]` };
  const load = Array.from({ length: n }, (_, d) => `let ${name}${d} = ${buf}[${base} + ${d}u];`).join(" ");
  return { load, at: (d) => `${name}${d}` };
}

/**
 * WGSL of `acc = sum_d own[d] * staged(d)`: unrolled over registers into four independent partial sums
 * (a single chain of n dependent fma would wait on each one's latency), or a loop over memory.
 */
function dotSource(acc: string, n: number, own: ReturnType<typeof ownRow>, cached: boolean, staged: (d: string) => string): string {
  if (!cached) return `var ${acc} = 0.0;\n    for (var d = 0u; d < ${n}u; d++) { ${acc} = fma(${own.at("d")}, ${staged("d")}, ${acc}); }`;
  const parts = [0, 1, 2, 3].filter((w) => w < n);
  const terms = parts.map((w) => {
    const chain = Array.from({ length: Math.ceil((n - w) / 4) }, (_, i) => w + 4 * i);
    return `var ${acc}${w} = 0.0; ${chain.map((d) => `${acc}${w} = fma(${own.at(d)}, ${staged(`${d}u`)}, ${acc}${w});`).join(" ")}`;
  });
  return `${terms.join("\n    ")}\n    var ${acc} = ${parts.map((w) => `${acc}${w}`).join(" + ")};`;
}

const UNIFORMS: ProgramSpec["uniforms"] = [...MASK_UNIFORMS, ["scale", "f32"], ["gridW", "i32"], ["stripeW", "i32"]];

/** WGSL shared by both kernels: the bias, the stripe of a token and the visibility of key j to query index t. */
function common(plan: Plan, stripes: "rows" | "columns" | null): string {
  const stripe =
    stripes === "rows"
      ? "fn stripe(x: i32) -> i32 { return x / (P.gridW * P.stripeW); }"
      : stripes === "columns"
        ? "fn stripe(x: i32) -> i32 { return (x % P.gridW) / P.stripeW; }"
        : "fn stripe(x: i32) -> i32 { return 0; }";
  return `
const LOWEST = ${LOWEST};
${biasSource(plan)}
${stripe}
fn visible(t: i32, j: i32) -> bool { return t - j <= P.left && j - t <= P.right && stripe(t) == stripe(j); }
`;
}

/** The bindings of a kernel: q, k, v, `own` (read-only f32 unless declared) and the bias's (every one is used: layout "auto" drops unused ones). */
function storage(plan: Plan, own: (string | StorageBinding)[]): StorageBinding[] {
  const io: StorageBinding[] = ["q", "k", "v", ...own].map((b) => (typeof b === "string" ? { name: b, type: "f32" } : b));
  return [...io, ...biasBindings(plan)];
}

/** The logit of query index t (row iq) and key jk from the dot product `dot` (WGSL setting s): scale q~.k~ + bias, or LOWEST when masked. */
function logit(plan: Plan, dot: string): string {
  const hasBias = plan.kind !== "none" && plan.kind !== "rotary";
  return `${dot}
    s = s * P.scale${hasBias ? " + bias(h, qpos[iq], kpos[jk])" : ""};
    let vis = inRange && visible(t, i32(jk));
    s = select(LOWEST, s, vis);`;
}

/** dq~ (B, H, L, D) and delta (B, H, L) = rowsum(dO * O): one workgroup per (query block, head, batch). */
export function flashDqProgram(D: number, Dv: number, plan: Plan, stripes: "rows" | "columns" | null): Program {
  const ND = Math.ceil(D / T);
  const [KS, VS] = [stride(D), stride(Dv)];
  const cached = D + Dv <= REGISTER_ROWS;
  const qr = ownRow("qr", "q", `row * ${D}u`, D, cached);
  const dr = ownRow("dr", "dout", `row * ${Dv}u`, Dv, cached);
  const lanes = (n: number) => [...Array(n).keys()];
  return program({
    uniforms: [...UNIFORMS, ["tiles", "u32"]],
    storage: storage(plan, [
      "o",
      "dout",
      { name: "st", type: "vec2<f32>" },
      { name: "dq", type: "f32", write: true },
      { name: "delta", type: "f32", write: true },
    ]),
    workgroupSize: BACKWARD_THREADS,
    body: /* wgsl */ `
${common(plan, stripes)}
var<workgroup> kt: array<f32, ${T * KS}>;
var<workgroup> vt: array<f32, ${T * VS}>;
var<workgroup> ds: array<f32, ${T * T}>;
var<workgroup> red: array<f32, ${T * T}>;

fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let b = wg.z;
  let h = wg.y;
  let hk = h / (P.H / P.Hkv);
  let i0 = (P.tiles - 1u - wg.x) * ${T}u;
  let r = lid / ${T}u;
  let c = lid % ${T}u;
  let iq = min(i0 + r, P.L - 1u);
  let row = (b * P.H + h) * P.L + iq;
  let kvRow0 = (b * P.Hkv + hk) * P.S;
  let t = P.qOff + i32(iq);
  let stat = st[row];
  ${qr.load}
  ${dr.load}

  // delta = dO . O of this row: lanes c take every ${T}th column
  var part = 0.0;
  for (var e = c; e < ${Dv}u; e += ${T}u) { part = fma(dout[row * ${Dv}u + e], o[row * ${Dv}u + e], part); }
  red[lid] = part;
  workgroupBarrier();
  var dl = 0.0;
  for (var x = 0u; x < ${T}u; x++) { dl += red[r * ${T}u + x]; }
  if (c == 0u && i0 + r < P.L) { delta[row] = dl; }

  // keys any query of this block can see; all of them if one query sees none (the forward's rule)
  let tFirst = P.qOff + i32(i0);
  let tLast = P.qOff + i32(min(i0 + ${T}u, P.L)) - 1;
  var lo = 0;
  var hi = i32(P.S) - 1;
  if (tLast - P.left < i32(P.S)) {
    lo = max(0, tFirst - P.left);
    hi = min(hi, tLast + P.right);
  }
  ${lanes(ND)
    .map((n) => `var dq${n} = 0.0;`)
    .join("\n  ")}
  for (var j0 = u32(lo) / ${T}u * ${T}u; j0 <= u32(hi); j0 += ${T}u) {
    workgroupBarrier();
    for (var e = lid; e < ${T * D}u; e += ${BACKWARD_THREADS}u) { kt[e / ${D}u * ${KS}u + e % ${D}u] = k[(kvRow0 + min(j0 + e / ${D}u, P.S - 1u)) * ${D}u + e % ${D}u]; }
    for (var e = lid; e < ${T * Dv}u; e += ${BACKWARD_THREADS}u) { vt[e / ${Dv}u * ${VS}u + e % ${Dv}u] = v[(kvRow0 + min(j0 + e / ${Dv}u, P.S - 1u)) * ${Dv}u + e % ${Dv}u]; }
    workgroupBarrier();
    let jk = min(j0 + c, P.S - 1u);
    let inRange = j0 + c < P.S;
    ${logit(
      plan,
      dotSource("s", D, qr, cached, (d) => `kt[c * ${KS}u + ${d}]`),
    )}
    let p = select(0.0, exp(s - stat.x) / stat.y, inRange);
    ${dotSource("dp", Dv, dr, cached, (e) => `vt[c * ${VS}u + ${e}]`)}
    ds[lid] = select(0.0, p * (dp - dl), vis);
    workgroupBarrier();
    for (var x = 0u; x < ${T}u; x++) {
      let g = ds[r * ${T}u + x];
      ${lanes(ND)
        .map((n) => `${(n + 1) * T > D ? `if (c + ${n * T}u < ${D}u) ` : ""}{ dq${n} = fma(g, kt[x * ${KS}u + c + ${n * T}u], dq${n}); }`)
        .join("\n      ")}
    }
  }
  if (i0 + r < P.L) {
    ${lanes(ND)
      .map((n) => `${(n + 1) * T > D ? `if (c + ${n * T}u < ${D}u) ` : ""}{ dq[row * ${D}u + c + ${n * T}u] = dq${n} * P.scale; }`)
      .join("\n    ")}
  }
}
`,
  });
}

/** dk~ (B, Hkv, S, D) and dv (B, Hkv, S, Dv): one workgroup per (key block, kv head, batch); needs delta from `flashDqProgram`. */
export function flashDkvProgram(D: number, Dv: number, plan: Plan, stripes: "rows" | "columns" | null): Program {
  const ND = Math.ceil(D / T);
  const [QS, OS] = [stride(D), stride(Dv)];
  const cached = D + Dv <= REGISTER_ROWS;
  const kr = ownRow("kr", "k", `krow * ${D}u`, D, cached);
  const vr = ownRow("vr", "v", `krow * ${Dv}u`, Dv, cached);
  const NV = Math.ceil(Dv / T);
  const lanes = (n: number) => [...Array(n).keys()];
  const guard = (n: number, size: number) => ((n + 1) * T > size ? `if (r + ${n * T}u < ${size}u) ` : "");
  return program({
    uniforms: UNIFORMS,
    storage: storage(plan, [
      "dout",
      { name: "st", type: "vec2<f32>" },
      "deltaIn",
      { name: "dk", type: "f32", write: true },
      { name: "dv", type: "f32", write: true },
    ]),
    workgroupSize: BACKWARD_THREADS,
    body: /* wgsl */ `
${common(plan, stripes)}
var<workgroup> qt: array<f32, ${T * QS}>;
var<workgroup> dot: array<f32, ${T * OS}>;
var<workgroup> pt: array<f32, ${T * T}>;
var<workgroup> dst: array<f32, ${T * T}>;
var<workgroup> sts: array<vec2<f32>, ${T}>;
var<workgroup> dls: array<f32, ${T}>;

fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let b = wg.z;
  let hk = wg.y;
  let j0 = wg.x * ${T}u;
  let c = lid / ${T}u;
  let r = lid % ${T}u;
  let jk = min(j0 + c, P.S - 1u);
  let krow = (b * P.Hkv + hk) * P.S + jk;
  let group = P.H / P.Hkv;
  let jFirst = i32(j0);
  let jLast = i32(min(j0 + ${T}u, P.S)) - 1;
  ${kr.load}
  ${vr.load}
  ${lanes(ND)
    .map((n) => `var dk${n} = 0.0;`)
    .join("\n  ")}
  ${lanes(NV)
    .map((n) => `var dv${n} = 0.0;`)
    .join("\n  ")}
  for (var hh = 0u; hh < group; hh++) {
    let h = hk * group + hh;
    let qRow0 = (b * P.H + h) * P.L;
    for (var i0 = 0u; i0 < P.L; i0 += ${T}u) {
      let tFirst = P.qOff + i32(i0);
      let tLast = P.qOff + i32(min(i0 + ${T}u, P.L)) - 1;
      // tiles with no visible pair are skipped, unless a query of the tile sees no key at all
      if ((tFirst - jLast > P.left || jFirst - tLast > P.right) && tLast - P.left < i32(P.S)) { continue; }
      workgroupBarrier();
      for (var e = lid; e < ${T * D}u; e += ${BACKWARD_THREADS}u) { qt[e / ${D}u * ${QS}u + e % ${D}u] = q[(qRow0 + min(i0 + e / ${D}u, P.L - 1u)) * ${D}u + e % ${D}u]; }
      for (var e = lid; e < ${T * Dv}u; e += ${BACKWARD_THREADS}u) { dot[e / ${Dv}u * ${OS}u + e % ${Dv}u] = dout[(qRow0 + min(i0 + e / ${Dv}u, P.L - 1u)) * ${Dv}u + e % ${Dv}u]; }
      if (lid < ${T}u) {
        let qr = qRow0 + min(i0 + lid, P.L - 1u);
        sts[lid] = st[qr];
        dls[lid] = deltaIn[qr];
      }
      workgroupBarrier();
      let iq = min(i0 + r, P.L - 1u);
      let t = P.qOff + i32(iq);
      let inRange = i0 + r < P.L && j0 + c < P.S;
      ${logit(
        plan,
        dotSource("s", D, kr, cached, (d) => `qt[r * ${QS}u + ${d}]`),
      )}
      let p = select(0.0, exp(s - sts[r].x) / sts[r].y, inRange);
      ${dotSource("dp", Dv, vr, cached, (e) => `dot[r * ${OS}u + ${e}]`)}
      pt[c * ${T}u + r] = p;
      dst[c * ${T}u + r] = select(0.0, p * (dp - dls[r]), vis);
      workgroupBarrier();
      for (var x = 0u; x < ${T}u; x++) {
        let pp = pt[c * ${T}u + x];
        let g = dst[c * ${T}u + x];
        ${lanes(NV)
          .map((n) => `${guard(n, Dv)}{ dv${n} = fma(pp, dot[x * ${OS}u + r + ${n * T}u], dv${n}); }`)
          .join("\n        ")}
        ${lanes(ND)
          .map((n) => `${guard(n, D)}{ dk${n} = fma(g, qt[x * ${QS}u + r + ${n * T}u], dk${n}); }`)
          .join("\n        ")}
      }
    }
  }
  if (j0 + c < P.S) {
    ${lanes(ND)
      .map((n) => `${guard(n, D)}{ dk[krow * ${D}u + r + ${n * T}u] = dk${n} * P.scale; }`)
      .join("\n    ")}
    ${lanes(NV)
      .map((n) => `${guard(n, Dv)}{ dv[krow * ${Dv}u + r + ${n * T}u] = dv${n}; }`)
      .join("\n    ")}
  }
}
`,
  });
}
