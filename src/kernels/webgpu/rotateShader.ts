/**
 * The one WGSL rotation of posenc's kernels: RoPE applied to rows of x, used
 * by the `rope` kernel and by the RoPE pre-pass of `flashAttention`, with the
 * composite's float32 steps (attention/rotary.ts):
 *
 *   y[c] = x[c] (cos(p f_c) a) + rot(x)[c] (sin(p f_c) a)     c < R, head >= first
 *   y[c] = x[c]                                                otherwise
 *
 * x is (..., heads, rows, D) flattened; row r of a head takes position
 * pos[r]; "halves": f_c = invFreq[c mod R/2], rot(x) = [-x2, x1];
 * "interleaved": f_c = invFreq[floor(c / 2)], rot(x)[2i] = -x[2i+1],
 * rot(x)[2i+1] = x[2i]. One invocation per element, on a 2-D grid of
 * workgroups (`stride` invocations a grid row). `rotateTablesProgram` is the
 * same rotation with cos and sin read from tables computed beforehand (M-RoPE).
 */
import type { Pairing } from "../../pe/rope/pairing.js";
import { type Program, type ProgramSpec, program } from "./program.js";

/** Invocations per workgroup of the rotation. */
export const ROTATE_THREADS = 256;

/**
 * Uniforms: `total` elements, `rows` per head, `heads` per batch, heads >= `first` rotated, grid-row `stride`
 * (invocations), `factor` a. Storage: x (read), y (written), pos (rows), invFreq (R/2).
 */
export function rotateProgram(D: number, R: number, pairing: Pairing): Program {
  return program({
    overrides: sizes(D, R, pairing),
    uniforms: [...UNIFORMS, ["factor", "f32"]],
    storage: [...IO, { name: "pos", type: "f32" }, { name: "invFreq", type: "f32" }],
    workgroupSize: ROTATE_THREADS,
    body: `${PARTNER}${rotateMain("let angle = pos[row % P.rows] * invFreq[fp.x];\n  let cs = cos(angle) * P.factor;\n  let sn = sin(angle) * P.factor;")}`,
  });
}

/**
 * The same rotation by cos/sin tables (rows, R) computed beforehand (M-RoPE's, `rope.mropeTables`),
 * row r of a head taking table row r: y[c] = x[c] cosT[r, c] + rot(x)[c] sinT[r, c].
 * Storage: x, y, cosT, sinT.
 */
export function rotateTablesProgram(D: number, R: number, pairing: Pairing): Program {
  return program({
    overrides: sizes(D, R, pairing),
    uniforms: UNIFORMS,
    storage: [...IO, { name: "cosT", type: "f32" }, { name: "sinT", type: "f32" }],
    workgroupSize: ROTATE_THREADS,
    body: `${PARTNER}${rotateMain("let t = (row % P.rows) * R + c;\n  let cs = cosT[t];\n  let sn = sinT[t];")}`,
  });
}

const sizes = (D: number, R: number, pairing: Pairing): ProgramSpec["overrides"] => [
  ["D", "u32", D],
  ["R", "u32", R],
  ["HALVES", "bool", pairing === "halves"],
];
const UNIFORMS: ProgramSpec["uniforms"] = [
  ["total", "u32"],
  ["rows", "u32"],
  ["heads", "u32"],
  ["first", "u32"],
  ["stride", "u32"],
];
const IO: ProgramSpec["storage"] = [
  { name: "x", type: "f32" },
  { name: "y", type: "f32", write: true },
];

/** Static: the sizes D, R and the pairing are pipeline constants. */
const PARTNER = /* wgsl */ `
override half: u32 = R / 2u;

// c's frequency index f, its partner coordinate pc, and whether c is the first of its pair
fn partner(c: u32) -> vec3<u32> {
  if (HALVES) {
    let isFirst = c < half;
    return vec3<u32>(select(c - half, c, isFirst), select(c - half, c + half, isFirst), u32(isFirst));
  }
  let isFirst = (c & 1u) == 0u;
  return vec3<u32>(c >> 1u, select(c - 1u, c + 1u, isFirst), u32(isFirst));
}
`;

/** The entry point, with `angles` the WGSL that sets cs and sn for element c of row `row`. */
function rotateMain(angles: string): string {
  return /* wgsl */ `
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let e = gid.y * P.stride + gid.x;
  if (e >= P.total) { return; }
  let c = e % D;
  let row = e / D;
  let xc = x[e];
  if (c >= R || (row / P.rows) % P.heads < P.first) { y[e] = xc; return; }
  let fp = partner(c);
  ${angles}
  let xp = x[e - c + fp.y];
  y[e] = xc * cs + select(xp, -xp, fp.z == 1u) * sn;
}
`;
}
