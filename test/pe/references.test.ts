/** posenc's T5, ALiBi, 2-D and PEG math against fixtures from transformers and timm. */
import { describe, expect, it } from "vitest";
import { slopes } from "../../src/pe/alibi.js";
import { type AxialOptions, axialRope } from "../../src/pe/axialRope.js";
import { peg } from "../../src/pe/peg.js";
import { applyRope } from "../../src/pe/rope/apply.js";
import { sincos2d } from "../../src/pe/sincos2d.js";
import { relativeBucket } from "../../src/pe/t5.js";
import { fixture } from "../fixtures.js";
import { expectClose, FLOAT32_EPS, FLOAT64_FORMULA } from "../tolerance.js";

describe("T5 buckets equal transformers' _relative_position_bucket exactly", () => {
  const f = fixture<{ bidirectional: boolean; numBuckets: number; maxDistance: number; relativeStart: number; buckets: number[] }>(
    "t5_buckets",
  );
  for (const c of f.cases) {
    it(`bidirectional=${c.bidirectional} numBuckets=${c.numBuckets} maxDistance=${c.maxDistance}, relative ${c.relativeStart}..${c.relativeStart + c.buckets.length - 1}`, () => {
      const o = { bidirectional: c.bidirectional, numBuckets: c.numBuckets, maxDistance: c.maxDistance };
      const mismatches: string[] = [];
      c.buckets.forEach((b, i) => {
        const rel = c.relativeStart + i;
        const ours = relativeBucket(rel, o);
        if (ours !== b) mismatches.push(`relative ${rel}: ${ours} vs ${b}`);
      });
      expect(mismatches).toEqual([]);
    });
  }
});

/**
 * PyTorch's CPU float32 pow (SLEEF, accurate to 1 ulp, not correctly rounded)
 * rounds two of BLOOM's slopes for 1..128 heads the other way from the
 * correctly rounded float32 power that posenc returns: base 2^(-8/32) to the
 * 15th and base 2^(-8/128) to the 91st. Each differs by one float32 ulp; every
 * other slope is bit-identical.
 */
const TORCH_POW_ROUNDINGS = ["p=128 k=91", "p=32 k=15"];

describe("ALiBi slopes equal BLOOM's build_alibi_tensor", () => {
  const f = fixture<{ numHeads: number; slopes: number[]; alibi: number[] }>("bloom_alibi");
  it(`bit for bit, but for PyTorch's two 1-ulp pow roundings (head counts ${f.cases.map((c) => c.numHeads).join(", ")})`, () => {
    const deviations = new Set<string>();
    for (const c of f.cases) {
      const m = slopes(c.numHeads);
      const p = 2 ** Math.floor(Math.log2(c.numHeads));
      for (let h = 0; h < c.numHeads; h++) {
        if (m[h] === c.slopes[h]) continue;
        const k = h < p ? h + 1 : 2 * (h - p) + 1;
        const key = `p=${h < p ? p : 2 * p} k=${k}`;
        const ulp = 2 ** (Math.floor(Math.log2(c.slopes[h])) - 23);
        expect(Math.abs(m[h] - c.slopes[h]), `numHeads ${c.numHeads} head ${h} (${key})`).toBe(ulp);
        deviations.add(key);
      }
      // BLOOM's tensor is slope * key position in float32
      const L = c.alibi.length / c.numHeads;
      for (let h = 0; h < c.numHeads; h++) for (let j = 0; j < L; j++) expect(Math.fround(c.slopes[h] * j)).toBe(c.alibi[h * L + j]);
    }
    expect([...deviations].sort()).toEqual(TORCH_POW_ROUNDINGS);
  });
});

/** timm computes in float32: angles t * omega rounded, then sin/cos; bound per element by the angle size. */
function expectCloseToFloat32Trig(ours: Float64Array, theirs: number[], angles: Float64Array, what: string) {
  for (let i = 0; i < theirs.length; i++) {
    // omega = 1/T^(k/K) and the pixel bands carry ~4 roundings; the angle product one more.
    const bound = (Math.abs(angles[i]) * 16 + 4) * FLOAT32_EPS;
    if (Math.abs(ours[i] - theirs[i]) > bound) expect.fail(`${what}[${i}]: ${ours[i]} vs ${theirs[i]} (bound ${bound})`);
  }
}

describe("2-D sincos equals timm's build_sincos2d_pos_embed", () => {
  const f = fixture<{
    shape: [number, number];
    dim: number;
    temperature: number;
    reverseCoord: boolean;
    interleaveSinCos: boolean;
    embed: number[];
  }>("timm_sincos2d");
  for (const c of f.cases) {
    it(`shape ${c.shape} dim ${c.dim} T ${c.temperature} reverse ${c.reverseCoord} interleave ${c.interleaveSinCos}`, () => {
      const [H, W] = c.shape;
      const opts = { temperature: c.temperature, reverseCoord: c.reverseCoord, interleaveSinCos: c.interleaveSinCos };
      const ours = sincos2d(H, W, c.dim, opts);
      // The largest angle is max(H, W) (omega_0 = 1).
      const angles = new Float64Array(ours.length).fill(Math.max(H, W));
      expectCloseToFloat32Trig(ours, c.embed, angles, "embed");
    });
  }
});

interface TimmRopeCase {
  shape: [number, number];
  dim: number;
  options: {
    in_pixels?: boolean;
    temperature?: number;
    linear_bands?: boolean;
    max_res?: number;
    ref_feat_shape?: [number, number];
    grid_indexing?: "ij" | "xy";
    grid_offset?: number;
  };
  sin: number[];
  cos: number[];
  x: number[];
  rotated: number[];
}

describe("axial 2-D RoPE equals timm's build_rotary_pos_embed and apply_rot_embed", () => {
  const f = fixture<TimmRopeCase>("timm_rope2d");
  for (const c of f.cases) {
    it(`shape ${c.shape} dim ${c.dim} ${JSON.stringify(c.options)}`, () => {
      const o = c.options;
      const opts: AxialOptions = {
        convention: o.in_pixels === false ? "lang" : "pixel",
        temperature: o.temperature,
        maxRes: o.max_res,
        linearBands: o.linear_bands,
        refShape: o.ref_feat_shape,
        gridIndexing: o.grid_indexing,
        gridOffset: o.grid_offset,
      };
      const t = axialRope(c.shape, c.dim, opts);
      const angles = t.sin.map((_, i) => Math.atan2(t.sin[i], t.cos[i]));
      // angles up to 2 pi after wrapping understate the float32 error of large angles: bound by the unwrapped size
      const maxAngle =
        opts.convention === "pixel"
          ? Math.PI * (opts.linearBands ? (opts.maxRes ?? 224) / 2 : (opts.maxRes ?? 224) / 2) * Math.max(1, ...(o.ref_feat_shape ?? [1]))
          : Math.max(...c.shape) + 1;
      expectCloseToFloat32Trig(
        t.sin,
        c.sin,
        angles.map(() => maxAngle),
        "sin",
      );
      expectCloseToFloat32Trig(
        t.cos,
        c.cos,
        angles.map(() => maxAngle),
        "cos",
      );
      // apply with timm's pairwise rot
      const N = t.tokens;
      const tables = { cos: t.cos, sin: t.sin, length: N, rotaryDim: c.dim };
      for (let b = 0; b < 2; b++) {
        const x = c.x.slice(b * N * c.dim, (b + 1) * N * c.dim);
        const ours = applyRope(x, tables, { pairing: "interleaved", headDim: c.dim });
        const bound = (maxAngle * 16 + 8) * FLOAT32_EPS * 5; // |x| <~ 5
        expectClose(ours, c.rotated.slice(b * N * c.dim, (b + 1) * N * c.dim), { rtol: 0, atol: 2 * bound }, "rotated");
      }
    });
  }
});

describe("PEG equals timm's Twins PosConv (float64)", () => {
  const f = fixture<{ height: number; width: number; channels: number; weight: number[]; bias: number[]; x: number[]; y: number[] }>(
    "twins_peg",
  );
  for (const c of f.cases) {
    it(`${c.height}x${c.width}x${c.channels}`, () => {
      expectClose(peg(c.x, c.weight, c.bias, { height: c.height, width: c.width }), c.y, FLOAT64_FORMULA);
    });
  }
  it("rejects mismatched shapes", () => {
    expect(() => peg(new Float64Array(10), new Float64Array(18), [0, 0], { height: 2, width: 3 })).toThrow(
      /peg: x must be \(H \* W, C\) = \(6, 2\) = 12 values, got 10/,
    );
    expect(() => peg(new Float64Array(12), new Float64Array(9), [0, 0], { height: 2, width: 3 })).toThrow(
      /peg: weight must be \(C, 3, 3\) = 18 values/,
    );
  });
});
