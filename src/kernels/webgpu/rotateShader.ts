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
 * workgroups (`stride` invocations a grid row).
 */
import type { Pairing } from "../../pe/rope/pairing.js";
import { type Program, program } from "./program.js";

/** Invocations per workgroup of the rotation. */
export const ROTATE_THREADS = 256;

/**
 * Uniforms: `total` elements, `rows` per head, `heads` per batch, heads >= `first` rotated, grid-row `stride`
 * (invocations), `factor` a. Storage: x (read), y (written), pos (rows), invFreq (R/2).
 */
export function rotateProgram(D: number, R: number, pairing: Pairing): Program {
  return program({
    overrides: [
      ["D", "u32", D],
      ["R", "u32", R],
      ["HALVES", "bool", pairing === "halves"],
    ],
    uniforms: [
      ["total", "u32"],
      ["rows", "u32"],
      ["heads", "u32"],
      ["first", "u32"],
      ["stride", "u32"],
      ["factor", "f32"],
    ],
    storage: [
      { name: "x", type: "f32" },
      { name: "y", type: "f32", write: true },
      { name: "pos", type: "f32" },
      { name: "invFreq", type: "f32" },
    ],
    workgroupSize: ROTATE_THREADS,
    body: ROTATE_BODY,
  });
}

/** Static: the sizes D, R and the pairing are pipeline constants. */
const ROTATE_BODY = /* wgsl */ `
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

fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let e = gid.y * P.stride + gid.x;
  if (e >= P.total) { return; }
  let c = e % D;
  let row = e / D;
  let xc = x[e];
  if (c >= R || (row / P.rows) % P.heads < P.first) { y[e] = xc; return; }
  let fp = partner(c);
  let angle = pos[row % P.rows] * invFreq[fp.x];
  let cs = cos(angle) * P.factor;
  let sn = sin(angle) * P.factor;
  let xp = x[e - c + fp.y];
  y[e] = xc * cs + select(xp, -xp, fp.z == 1u) * sn;
}
`;
