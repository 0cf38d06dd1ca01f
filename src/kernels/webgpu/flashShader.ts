/**
 * The WGSL of the fused attention kernel for one configuration: the
 * positional bias of each kind, the row loaders (float32 or float16
 * storage), and the tiled FlashAttention-2 forward (flashAttention.ts
 * describes the tiling).
 */

import { KEY_TILE, type Plan, THREADS, type Tiling } from "./flashPlan.js";
import { f32Literal } from "./gpuTensor.js";
import { type Program, type ProgramSpec, program, type StorageBinding } from "./program.js";

const LOWEST = f32Literal(-3.4028234663852886e38);

/** The uniforms of the masks, first in the forward's and the backward's blocks: sizes, query offset, window bounds. */
export const MASK_UNIFORMS: ProgramSpec["uniforms"] = [
  ["L", "u32"],
  ["S", "u32"],
  ["H", "u32"],
  ["Hkv", "u32"],
  ["qOff", "i32"],
  ["left", "i32"],
  ["right", "i32"],
];

/** The bias's storage bindings (positions and the encoding's arrays, as `biasArguments` binds them); none for no bias and RoPE. */
export function biasBindings(plan: Plan): StorageBinding[] {
  if (plan.kind === "none" || plan.kind === "rotary") return [];
  return [{ name: "qpos", type: "f32" }, { name: "kpos", type: "f32" }, ...plan.extras.map((_, n) => ({ name: `pe${n}`, type: "f32" }))];
}

/** WGSL of `bias(h, qp, kp)` for a bias kind, "" for none and RoPE. */
export function biasSource(plan: Plan): string {
  switch (plan.kind) {
    case "none":
    case "rotary":
      return "";
    case "alibi":
      return "fn bias(h: u32, qp: f32, kp: f32) -> f32 { return -pe0[h] * abs(kp - qp); }";
    case "table": {
      const R = plan.tableRadius!;
      return `fn bias(h: u32, qp: f32, kp: f32) -> f32 {
  let r = i32(clamp(round(kp - qp), ${-R}.0, ${R}.0)) + ${R};
  return pe0[h * ${2 * R + 1}u + u32(r)];
}`;
    }
    case "t5": {
      const { bidirectional, numBuckets, maxDistance } = plan.t5!;
      const n = bidirectional ? Math.floor(numBuckets / 2) : numBuckets;
      const maxExact = Math.floor(n / 2);
      // float32 steps of transformers' _relative_position_bucket (and pe/t5.ts)
      return `fn bias(h: u32, qp: f32, kp: f32) -> f32 {
  let rel = i32(round(kp - qp));
  ${bidirectional ? `let offset = select(0, ${n}, rel > 0); let d = abs(rel);` : "let offset = 0; let d = -min(rel, 0);"}
  var bucket = d;
  if (d >= ${maxExact}) {
    let ratio = f32(d) / ${maxExact}.0;
    let scaled = (log(ratio) / ${f32Literal(Math.log(maxDistance / maxExact))}) * ${n - maxExact}.0;
    bucket = min(${maxExact} + i32(trunc(scaled)), ${n - 1});
  }
  return pe0[u32(bucket + offset) * P.H + h];
}`;
    }
    case "kerple-log":
      // log1p as jax-js evaluates it in float32: a series for |x| <= 0.2, log(1 + x) beyond
      return `fn log1p(x: f32) -> f32 {
  if (abs(x) > 0.2) { return log(x + 1.0); }
  return ((((((((((x * ${f32Literal(-1 / 10)} + ${f32Literal(1 / 9)}) * x - ${f32Literal(1 / 8)}) * x + ${f32Literal(1 / 7)}) * x - ${f32Literal(1 / 6)}) * x + ${f32Literal(1 / 5)}) * x - ${f32Literal(1 / 4)}) * x + ${f32Literal(1 / 3)}) * x - ${f32Literal(1 / 2)}) * x + 1.0) * x);
}
fn bias(h: u32, qp: f32, kp: f32) -> f32 { return -pe0[h] * log1p(pe1[h] * abs(kp - qp)); }`;
    case "kerple-power":
      return `fn bias(h: u32, qp: f32, kp: f32) -> f32 {
  let d = abs(kp - qp);
  return -pe0[h] * select(0.0, exp(pe1[h] * log(select(1.0, d, d > 0.0))), d > 0.0);
}`;
    default:
      return plan.kind satisfies never;
  }
}

/**
 * WGSL of `ld${name}(base, c4) -> vec4<f32>`: floats 4 c4 .. 4 c4 + 3 of the row
 * starting at float `base` of `buf` (n floats per row), zero past the row when
 * chunks of `chunk4` vec4 overrun it; one vec4 load when n is a multiple of 4.
 * Branch-free: the index is clamped into the row and the value selected.
 */
function rowLoader(name: string, buf: string, n: number, chunk4: number, half: boolean): string {
  const n4 = Math.ceil(n / 4);
  // float16 storage is widened to f32 as it is read (exact)
  const wide = (x: string, scalar: boolean) => (half ? (scalar ? `f32(${x})` : `vec4<f32>(${x})`) : x);
  const body =
    n % 4 === 0
      ? n4 % chunk4 === 0
        ? `return ${wide(`${buf}[base / 4u + c4]`, false)};`
        : `return select(vec4<f32>(0.0), ${wide(`${buf}[base / 4u + min(c4, ${n4 - 1}u)]`, false)}, c4 < ${n4}u);`
      : `let c = 4u * c4;\n  return vec4<f32>(${[0, 1, 2, 3].map((e) => `select(0.0, ${wide(`${buf}[base + min(c + ${e}u, ${n - 1}u)]`, true)}, c + ${e}u < ${n}u)`).join(", ")});`;
  return `fn ld${name}(base: u32, c4: u32) -> vec4<f32> {\n  ${body}\n}`;
}

/**
 * WGSL of the attention kernel for one configuration (module header: the tiling); with `stats`, it also
 * writes each row's softmax statistics st[row] = (m, l), the row maximum of the logits and the sum of
 * exp(logit - m), which the backward pass (flashBackwardShader.ts) recomputes P from.
 */
export function flashProgram(
  D: number,
  Dv: number,
  tiling: Tiling,
  JC: number,
  plan: Plan,
  stripes: "rows" | "columns" | null,
  half: boolean,
  stats = false,
): Program {
  const { BQ, DC4, stage4 } = tiling;
  const BK = KEY_TILE;
  const BK4 = BK / 4;
  const RA = BQ / 16; // query rows per invocation: ty + 16 a
  const KT = 4; // consecutive keys per invocation in S: 4 tx + b
  const D4 = Math.ceil(D / 4);
  const DV4 = Math.ceil(Dv / 4);
  const NV = Math.ceil(DV4 / 16); // vec4 output columns per invocation: tx + 16 n
  const bias = biasSource(plan);
  const hasBias = bias !== "";
  const vecT = (n: number, t = "f32") => (n % 4 === 0 ? `vec4<${t}>` : t);
  const inT = half ? "f16" : "f32";
  const rows = [...Array(RA).keys()];
  const keys = [...Array(KT).keys()];
  const cols = [...Array(NV).keys()];
  const each = <T>(xs: T[], f: (x: T) => string, sep = "\n    ") => xs.map(f).join(sep);
  const pairs = (f: (a: number, b: number) => string, sep = "\n      ") => rows.flatMap((a) => keys.map((b) => f(a, b))).join(sep);
  // an invocation's RA row values in one vec4: one write each, no vec4 written in parts by several invocations
  const pack = (name: string) => `vec4<f32>(${[0, 1, 2, 3].map((a) => (a < RA ? `${name}${a}` : "0.0")).join(", ")})`;
  const outs = (f: (a: number, n: number) => string, sep = "\n      ") => rows.flatMap((a) => cols.map((n) => f(a, n))).join(sep);
  // staging, software-pipelined: each invocation loads the next chunk of q and k
  // (or of v) into registers pf* while it computes on the current one. Rows past
  // L and S are clamped, not zeroed: their queries are never stored, their keys'
  // logits are left out of the maxima and their P entries are exactly 0.
  const nQ = Math.ceil((BQ * DC4) / THREADS);
  const nK = Math.ceil((BK * DC4) / THREADS);
  const nV = Math.ceil((JC * DV4) / THREADS);
  const NPF = Math.max(nQ + nK, nV);
  const slots = (count: number, f: (n: number) => string, first = 0) =>
    [...Array(Math.ceil(count / THREADS)).keys()]
      .map((n) => `{ let e = lid + ${n * THREADS}u; ${count % THREADS === 0 ? "" : `if (e < ${count}u) `}{ ${f(n + first)} } }`)
      .join("\n      ");
  const fetchQK = (j0: string, c0: string) =>
    [
      slots(BQ * DC4, (n) => `pf${n} = ldQ((qRow0 + min(i0 + e / ${DC4}u, P.L - 1u)) * ${D}u, ${c0} + e % ${DC4}u);`),
      slots(BK * DC4, (n) => `pf${n} = ldK((kvRow0 + min(${j0} + e / ${DC4}u, P.S - 1u)) * ${D}u, ${c0} + e % ${DC4}u);`, nQ),
    ].join("\n      ");
  const fetchV = (j0: string, jc: string) =>
    slots(JC * DV4, (n) => `pf${n} = ldV((kvRow0 + min(${j0} + ${jc} + e / ${DV4}u, P.S - 1u)) * ${Dv}u, e % ${DV4}u);`);
  const putQK = [
    slots(BQ * DC4, (n) => `let r = e / ${DC4}u; stage[r * ${DC4}u + ((e % ${DC4}u) ^ sw(r))] = pf${n};`),
    slots(BK * DC4, (n) => `let r = e / ${DC4}u; stage[KOFF + r * ${DC4}u + ((e % ${DC4}u) ^ sw(r))] = pf${n};`, nQ),
  ].join("\n      ");
  const putV = slots(JC * DV4, (n) => `stage[e] = pf${n};`);
  const colGuard = DV4 % 16 === 0 ? "" : `if (tx + 16u * NN < ${DV4}u) `;
  const store =
    Dv % 4 === 0
      ? `o[(row * ${Dv}u) / 4u + g] = acc;`
      : [0, 1, 2, 3].map((e) => `if (4u * g + ${e}u < ${Dv}u) { o[row * ${Dv}u + 4u * g + ${e}u] = acc[${e}]; }`).join(" ");
  const storage: StorageBinding[] = [
    { name: "q", type: vecT(D, inT) },
    { name: "k", type: vecT(D, inT) },
    { name: "v", type: vecT(Dv, inT) },
    { name: "o", type: vecT(Dv), write: true },
  ];
  if (stats) storage.push({ name: "st", type: "vec2<f32>", write: true });
  storage.push(...biasBindings(plan));
  const uniforms: ProgramSpec["uniforms"] = [
    ...MASK_UNIFORMS,
    ["tiles", "u32"],
    ["scale", "f32"],
    ...(stripes
      ? ([
          ["gridW", "i32"],
          ["stripeW", "i32"],
        ] as const)
      : []),
  ];
  return program({
    uniforms,
    storage,
    workgroupSize: THREADS,
    enable: half ? "enable f16;" : undefined,
    body: /* wgsl */ `
const LOWEST = ${LOWEST};
const KOFF = ${BQ * DC4}u;

// q and k chunks (S phase), or v chunks (P V phase), as vec4
var<workgroup> stage: array<vec4<f32>, ${stage4}>;
// P (BQ x BK) as vec4 rows; also the row reductions (16 partials per row)
var<workgroup> pt: array<vec4<f32>, ${BQ * BK4}>;

${bias}
${rowLoader("Q", "q", D, DC4, half)}
${rowLoader("K", "k", D, DC4, half)}
${rowLoader("V", "v", Dv, DV4, half)}

${stripes === "rows" ? "// stripe of token x: its grid row / stripe width\nfn stripe(x: i32) -> i32 { return x / (P.gridW * P.stripeW); }" : stripes === "columns" ? "// stripe of token x: its grid column / stripe width\nfn stripe(x: i32) -> i32 { return (x % P.gridW) / P.stripeW; }" : ""}

// XOR swizzle of a staged row's vec4 columns (bank-conflict-free q and k reads)
fn sw(r: u32) -> u32 { return (r ^ (r >> 2u)) & ${DC4 - 1}u; }

fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let b = wg.z;
  let h = wg.y;
  let hk = h / (P.H / P.Hkv);
  let i0 = (P.tiles - 1u - wg.x) * ${BQ}u;
  let tx = lid % 16u;
  let ty = lid / 16u;
  let qRow0 = (b * P.H + h) * P.L;
  let kvRow0 = (b * P.Hkv + hk) * P.S;

  // this invocation's query rows ty + 16 a: index t and position
  ${each(rows, (a) => `let t${a} = P.qOff + i32(min(i0 + ty + ${16 * a}u, P.L - 1u));`)}
  ${hasBias ? each(rows, (a) => `let qp${a} = qpos[min(i0 + ty + ${16 * a}u, P.L - 1u)];`) : ""}

  // keys any query of this block can see; all of them if one query sees none
  let tFirst = P.qOff + i32(i0);
  let tLast = P.qOff + i32(min(i0 + ${BQ}u, P.L)) - 1;
  var lo = 0;
  var hi = i32(P.S) - 1;
  if (tLast - P.left < i32(P.S)) {
    lo = max(0, tFirst - P.left);
    hi = min(hi, tLast + P.right);
  }${
    stripes === "rows"
      ? `
  // horizontal stripes are contiguous runs of tokens: keys of the block's first to last stripe
  lo = max(lo, stripe(tFirst) * P.gridW * P.stripeW);
  hi = min(hi, (stripe(tLast) + 1) * P.gridW * P.stripeW - 1);`
      : ""
  }

  ${each(rows, (a) => `var m${a} = LOWEST;\n    var l${a} = 0.0;`)}
  ${outs((a, n) => `var o${a}_${n} = vec4<f32>(0.0);`, "\n  ")}
  ${each([...Array(NPF).keys()], (n) => `var pf${n} = vec4<f32>(0.0);`, "\n  ")}
  ${fetchQK("u32(lo)", "0u")}

  for (var j0 = u32(lo); j0 <= u32(hi); j0 += ${BK}u) {
    // 1. S = Q K^T over chunks of ${DC4} vec4 columns
    ${pairs((a, b) => `var s${a}_${b} = 0.0;`, "\n    ")}
    for (var c0 = 0u; c0 < ${D4}u; c0 += ${DC4}u) {
      workgroupBarrier();
      ${putQK}
      workgroupBarrier();
      if (c0 + ${DC4}u < ${D4}u) { ${fetchQK("j0", `c0 + ${DC4}u`)} } else { ${fetchV("j0", "0u")} }
      for (var c = 0u; c < ${DC4}u; c++) {
        ${each(rows, (a) => `let q${a} = stage[(ty + ${16 * a}u) * ${DC4}u + (c ^ sw(ty + ${16 * a}u))];`, "\n        ")}
        ${each(keys, (b) => `let k${b} = stage[KOFF + (${KT}u * tx + ${b}u) * ${DC4}u + (c ^ sw(${KT}u * tx + ${b}u))];`, "\n        ")}
        ${pairs((a, b) => `s${a}_${b} = fma(q${a}.w, k${b}.w, fma(q${a}.z, k${b}.z, fma(q${a}.y, k${b}.y, fma(q${a}.x, k${b}.x, s${a}_${b}))));`, "\n        ")}
      }
    }

    // 2. scale, bias, mask; row maxima through workgroup memory
    ${each(keys, (b) => `let kj${b} = j0 + ${KT}u * tx + ${b}u;`)}
    ${hasBias ? each(keys, (b) => `let kp${b} = kpos[min(kj${b}, P.S - 1u)];`) : ""}
    ${pairs((a, b) => `s${a}_${b} = s${a}_${b} * P.scale${hasBias ? ` + bias(h, qp${a}, kp${b})` : ""};`, "\n    ")}
    ${each(rows, (a) => `var mx${a} = LOWEST;`)}
    // a tile whose keys all exist and are visible to every query of the block needs no mask
    let inside = j0 + ${BK}u <= P.S && tLast - i32(j0) <= P.left && i32(j0 + ${BK - 1}u) - tFirst <= P.right${
      stripes === "rows"
        ? " && stripe(tFirst) == stripe(tLast) && stripe(i32(j0)) == stripe(tFirst) && stripe(i32(j0 + " +
          String(BK - 1) +
          "u)) == stripe(tFirst)"
        : stripes === "columns"
          ? " && false"
          : ""
    };
    if (inside) {
      ${each(rows, (a) => `mx${a} = max(max(s${a}_0, s${a}_1), max(s${a}_2, s${a}_3));`, "\n      ")}
    } else {
      ${pairs((a, b) => `s${a}_${b} = select(LOWEST, s${a}_${b}, t${a} - i32(kj${b}) <= P.left && i32(kj${b}) - t${a} <= P.right${stripes ? ` && stripe(t${a}) == stripe(i32(kj${b}))` : ""});`, "\n      ")}
      ${each(rows, (a) => `${keys.map((b) => `if (kj${b} < P.S) { mx${a} = max(mx${a}, s${a}_${b}); }`).join(" ")}`, "\n      ")}
    }
    pt[lid] = ${pack("mx")};
    workgroupBarrier();
    ${each(rows, (a) => `var mt${a} = m${a};`)}
    for (var x = ty * 16u; x < ty * 16u + 16u; x++) {
      let w = pt[x];
      ${each(rows, (a) => `mt${a} = max(mt${a}, w[${a}]);`, "\n      ")}
    }
    workgroupBarrier();
    ${each(rows, (a) => `let alpha${a} = exp(m${a} - mt${a});\n    m${a} = mt${a};`)}
    ${pairs((a, b) => `var p${a}_${b} = exp(s${a}_${b} - mt${a});`, "\n    ")}
    if (!inside) {
      ${pairs((a, b) => `p${a}_${b} = select(0.0, p${a}_${b}, kj${b} < P.S);`, "\n      ")}
    }
    ${each(rows, (a) => `l${a} = l${a} * alpha${a}${keys.map((b) => ` + p${a}_${b}`).join("")};`)}
    ${outs((a, n) => `o${a}_${n} = o${a}_${n} * alpha${a};`, "\n    ")}
    ${each(rows, (a) => `pt[(ty + ${16 * a}u) * ${BK4}u + tx] = vec4<f32>(p${a}_0, p${a}_1, p${a}_2, p${a}_3);`)}

    // 3. O += P V over chunks of ${JC} keys
    for (var jc = 0u; jc < ${BK}u; jc += ${JC}u) {
      if (jc > 0u) { workgroupBarrier(); }
      ${putV}
      workgroupBarrier();
      if (jc + ${JC}u < ${BK}u) { ${fetchV("j0", `jc + ${JC}u`)} } else if (j0 + ${BK}u <= u32(hi)) { ${fetchQK(`j0 + ${BK}u`, "0u")} }
      for (var j4 = 0u; j4 < ${JC / 4}u; j4++) {
        ${each(rows, (a) => `let pa${a} = pt[(ty + ${16 * a}u) * ${BK4}u + jc / 4u + j4];`, "\n        ")}
        ${cols
          .map((n) => {
            const guard = colGuard.replace("NN", `${n}u`);
            const vs = [0, 1, 2, 3].map((e) => `let v${e} = stage[(4u * j4 + ${e}u) * ${DV4}u + tx + ${16 * n}u];`).join(" ");
            const fmas = rows
              .map(
                (a) =>
                  `o${a}_${n} = fma(vec4<f32>(pa${a}.w), v3, fma(vec4<f32>(pa${a}.z), v2, fma(vec4<f32>(pa${a}.y), v1, fma(vec4<f32>(pa${a}.x), v0, o${a}_${n}))));`,
              )
              .join("\n          ");
            return `${guard}{\n          ${vs}\n          ${fmas}\n        }`;
          })
          .join("\n        ")}
      }
    }
  }

  // row sums: add up the 16 partials of each row
  workgroupBarrier();
  pt[lid] = ${pack("l")};
  workgroupBarrier();
  var lt = vec4<f32>(0.0);
  for (var x = ty * 16u; x < ty * 16u + 16u; x++) { lt = lt + pt[x]; }
  ${each(
    rows,
    (a) => `{
    let i = i0 + ty + ${16 * a}u;
    if (i < P.L) {
      let row = qRow0 + i;${
        stats
          ? `
      if (tx == 0u) { st[row] = vec2<f32>(m${a}, lt[${a}]); }`
          : ""
      }
      ${cols.map((n) => `${colGuard.replace("NN", `${n}u`)}{ let g = tx + ${16 * n}u; let acc = o${a}_${n} / lt[${a}]; ${store} }`).join("\n      ")}
    }
  }`,
    "\n  ",
  )}
}
`,
  });
}
