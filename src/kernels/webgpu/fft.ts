/**
 * Building blocks of the WebGPU FFT kernels: a Stockham transform (radix 8, with a last stage of radix 4 or 2)
 * of columns held in workgroup memory (WGSL source), the twiddle table, and
 * the split of a long transform into factors for a multi-pass (four-step)
 * FFT.
 *
 * In-workgroup transform. `cols` complex columns of N points (N a power of
 * two) lie contiguously in `sh` (column c at c N). Stage s (stride Ns, the
 * product of the earlier radices, radix R = 8, or 4 or 2 for the last stage)
 * maps butterfly j of a column (0 <= j < N/R, k = j mod Ns) as
 *
 *   x_r = in[j + r N/R] W_{Ns R}^{r k},   y = DFT_R(x),   out[(j / Ns) Ns R + k + r Ns] = y_r
 *
 * (Stockham autosort: natural order in and out). Every invocation reads all
 * its inputs into registers before a barrier and writes after it, so one
 * buffer serves as input and output of each stage. W_m^j = exp(-2 pi i j / m)
 * comes from `twiddleTable`.
 *
 * Four-step split. A transform of n = N_0 N_1 ... N_{k-1} points is done
 * level by level: at level l the sub-transform of length P = N_l S (S =
 * N_{l+1} ... N_{k-1}) of every block is an N_l-point DFT along the index of
 * stride S, a twiddle W_P^{r f} (r < S the position inside the stride, f the
 * frequency), then the level below on each contiguous block of S points.
 * Frequencies end up digit-permuted (f_0 + N_0 (f_1 + ...) stored at
 * f_0 S_0 + f_1 S_1 + ...), which a pointwise product of two spectra in the
 * same layout does not see; the inverse runs the levels backwards.
 *
 * Reference: Stockham, "High speed convolution and correlation" (AFIPS 1966);
 * Govindaraju et al., "High Performance Discrete Fourier Transforms on
 * Graphics Processors" (SC 2008), Stockham formulation; Bailey, "FFTs in
 * external or hierarchical memory" (J. Supercomputing 1990), four-step FFT.
 */
import { f32Literal } from "./gpuTensor.js";

/**
 * The twiddle factors of every power-of-two length m <= n, W_m^j =
 * exp(-2 pi i j / m) for j < m at index m + j (2n complex entries,
 * interleaved re, im; index 0 unused): float64 values rounded once to
 * float32. A stage of a short transform reads a few contiguous entries
 * (cache-resident) instead of entries n / m apart.
 */
export function twiddleTable(n: number): Float32Array {
  const out = new Float32Array(4 * n);
  for (let m = 1; m <= n; m *= 2) {
    for (let j = 0; j < m; j++) {
      const a = (2 * Math.PI * j) / m;
      out[2 * (m + j)] = Math.cos(a);
      out[2 * (m + j) + 1] = -Math.sin(a);
    }
  }
  return out;
}

/** The radices of an N-point transform: 8s, then one 4 or 2 for the remaining bits. */
export function radices(N: number): number[] {
  const out: number[] = [];
  let rest = N;
  while (rest >= 8) {
    out.push(8);
    rest /= 8;
  }
  if (rest > 1) out.push(rest);
  return out;
}

/**
 * Factors [N_1, ..., N_{k-1}] of S = 2^a, each at most `max` (a power of two),
 * as equal as possible, largest first: the levels below the first of a
 * four-step transform. S = 1 gives [1].
 */
export function splitFactors(S: number, max: number): number[] {
  const bits = Math.round(Math.log2(S));
  const maxBits = Math.round(Math.log2(max));
  if (bits === 0) return [1];
  const levels = Math.ceil(bits / maxBits);
  const out: number[] = [];
  for (let i = 0; i < levels; i++) out.push(2 ** (Math.floor(bits / levels) + (i < bits % levels ? 1 : 0)));
  return out;
}

/**
 * WGSL of `fn fftShared(lid: u32)`: the forward transform, in place, of
 * `cols` columns of N points in `var<workgroup> sh` (see the file comment),
 * by `wg` invocations, each butterfly's R-point DFT in registers (radix-2
 * decimation in time with constant twiddles). Element i of the columns is
 * stored at `sp(i)` = i + floor(i / 16), which spreads the strided writes of
 * a stage over the memory banks; `sh` needs `paddedSize(cols N)` entries.
 * Needs `tw: array<vec2<f32>>` (`twiddleTable(n)`, n >= N); defines `cmul` and `sp`.
 */
export function fftSharedWgsl(N: number, cols: number, wg: number): string {
  const stages: string[] = [];
  let Ns = 1;
  for (const R of radices(N)) {
    const bf = (cols * N) / R; // butterflies in the workgroup
    const per = Math.ceil(bf / wg);
    const q = N / R;
    const guard = (b: number, body: string) => (bf % wg === 0 ? `{\n${body}\n    }` : `if (lid + ${b * wg}u < ${bf}u) {\n${body}\n    }`);
    // every butterfly of this invocation unrolled, so that its values stay in registers
    const compute: string[] = [];
    const store: string[] = [];
    for (let b = 0; b < per; b++) {
      const y = (r: number) => `y${b}_${r}`;
      const loads = Array.from({ length: R }, (_, r) =>
        r === 0 ? `let x0 = sh[sp(base + j)];` : `let x${r} = cmul(sh[sp(base + j + ${r * q}u)], tw[${Ns * R}u + ${r}u * k]);`,
      ).join("\n      ");
      const dft = registerDft(R);
      compute.push(`    var ${Array.from({ length: R }, (_, r) => `${y(r)}: vec2<f32>`).join("; var ")};
    ${guard(
      b,
      `      let e = lid + ${b * wg}u; let base = (e / ${q}u) * ${N}u; let j = e % ${q}u; let k = j % ${Ns}u;
      ${loads}
      ${dft.code}
      ${dft.out.map((o, r) => `${y(r)} = ${o};`).join(" ")}`,
    )}`);
      store.push(
        `    ${guard(
          b,
          `      let e = lid + ${b * wg}u; let j = e % ${q}u;
      let dst = (e / ${q}u) * ${N}u + (j / ${Ns}u) * ${Ns * R}u + j % ${Ns}u;
      ${Array.from({ length: R }, (_, r) => `sh[sp(dst + ${r * Ns}u)] = ${y(r)};`).join(" ")}`,
        )}`,
      );
    }
    stages.push(`  {
${compute.join("\n")}
    workgroupBarrier();
${store.join("\n")}
    workgroupBarrier();
  }`);
    Ns *= R;
  }
  return `fn cmul(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> { return vec2<f32>(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x); }
fn sp(i: u32) -> u32 { return i + (i >> 4u); }
fn fftShared(lid: u32) {
${stages.length > 0 ? stages.join("\n") : "  _ = tw[0]; // N = 1: no stage; the table stays bound"}
}`;
}

/** Entries of `sh` for `size` elements (see `fftSharedWgsl`). */
export function paddedSize(size: number): number {
  return size + Math.floor(size / 16) + 1;
}

/**
 * WGSL statements computing the R-point DFT of `x0 .. x{R-1}` (R a power of
 * two), by radix-2 decimation in time; returns the statements and the output
 * expressions in natural order.
 */
function registerDft(R: number): { code: string; out: string[] } {
  const lines: string[] = [];
  let count = 0;
  const fresh = () => `t${count++}`;
  const rec = (inputs: string[]): string[] => {
    const m = inputs.length;
    if (m === 1) return inputs;
    const even = rec(inputs.filter((_, i) => i % 2 === 0));
    const odd = rec(inputs.filter((_, i) => i % 2 === 1));
    const out: string[] = new Array(m);
    for (let k = 0; k < m / 2; k++) {
      let w: string;
      if (k === 0) w = odd[k];
      else if (4 * k === m) {
        w = fresh();
        lines.push(`let ${w} = vec2<f32>(${odd[k]}.y, -${odd[k]}.x);`); // times -i
      } else {
        w = fresh();
        const a = (-2 * Math.PI * k) / m;
        lines.push(`let ${w} = cmul(${odd[k]}, vec2<f32>(${f32Literal(Math.cos(a))}, ${f32Literal(Math.sin(a))}));`);
      }
      const lo = fresh();
      const hi = fresh();
      lines.push(`let ${lo} = ${even[k]} + ${w}; let ${hi} = ${even[k]} - ${w};`);
      out[k] = lo;
      out[k + m / 2] = hi;
    }
    return out;
  };
  const out = rec(Array.from({ length: R }, (_, r) => `x${r}`));
  return { code: lines.join("\n      "), out };
}
