/**
 * Spectral normalisation against torch.nn.utils.spectral_norm in training
 * mode (float64 fixture), on posenc's conv (k k Cin, Cout) and linear
 * (In, Out) layouts; gradients, jit, state handling, errors.
 */
import { jit, numpy as np, vjp } from "@jax-js/jax";
import { beforeAll, describe, expect, it } from "vitest";
import { initSpectralNormState, type SpectralNormState, spectralNormalized, spectralNormStep } from "../../src/nn/spectralNorm.js";
import { rng } from "../../src/pe/random.js";
import { init } from "../../src/runtime/init.js";
import { fixture } from "../fixtures.js";
import { checkGradients, randn, read } from "../gradcheck.js";
import { expectClose, FLOAT64_FORMULA, JIT_VS_EAGER } from "../tolerance.js";

beforeAll(async () => {
  await init({ device: "cpu" });
});

interface Pass {
  passes: number;
  u: number[];
  v: number[];
  sigma: number;
  normalized: number[];
  gradWeight: number[];
}
interface Case {
  kind: "conv" | "linear";
  weightShape: number[];
  weight: number[];
  u0: number[];
  v0: number[];
  functional: number[];
  sigmaMax: number;
  passes: Pass[];
}

const f64 = (data: number[]) => np.array(Float64Array.from(data));

/** torch's weight (Cout, Cin, k, k) or (Out, In) as posenc's M: (k k Cin, Cout), rows (i, j, c), or (In, Out). */
function matrix(c: Case, data: number[]): np.Array {
  const s = c.weightShape;
  if (c.kind === "linear") return f64(data).reshape(s).transpose([1, 0]);
  const [Cout, Cin, k] = s;
  return f64(data)
    .reshape(s)
    .transpose([2, 3, 1, 0])
    .reshape([k * k * Cin, Cout]);
}
/** torch's v, (Cin k k) ordered (c, i, j), as posenc's, ordered (i, j, c); (In) unchanged for a linear weight. */
function rightVector(c: Case, data: number[]): np.Array {
  if (c.kind === "linear") return f64(data);
  const [, Cin, k] = c.weightShape;
  return f64(data)
    .reshape([Cin, k, k])
    .transpose([1, 2, 0])
    .reshape([Cin * k * k]);
}
const state0 = (c: Case): SpectralNormState => ({ u: f64(c.u0), v: rightVector(c, c.v0) });

/**
 * A power iteration is two matrix-vector products and two norms of O(1)
 * vectors (a few ulps each); the conv's In sum runs in another order than
 * torch's. FLOAT64_FORMULA (1e-12) is ~5000 ulps: ample for 3 iterations.
 */
const TOL = FLOAT64_FORMULA;

describe("spectral normalisation equals torch.nn.utils.spectral_norm, training mode (float64 fixture)", () => {
  const f = fixture<Case>("spectral_norm");
  it("has a conv and a linear weight", () => {
    expect(f.cases.map((c) => c.kind).sort()).toEqual(["conv", "linear"]);
  });
  for (const c of f.cases) {
    for (const p of c.passes) {
      it(`${c.kind} ${c.weightShape.join("x")}: after ${p.passes} forward pass(es): u, v, sigma, W / sigma, the gradient`, async () => {
        const w = matrix(c, c.weight);
        // p forward passes, one power iteration each ...
        let state = state0(c);
        let sigma: np.Array | undefined;
        for (let i = 0; i < p.passes; i++) {
          sigma?.dispose();
          ({ sigma, ...state } = spectralNormStep(w, state));
        }
        // ... equal one step of p iterations (training mode keeps only u).
        const once = spectralNormStep(w, state0(c), p.passes);
        expectClose(await read(once.u), await read(state.u.ref), TOL, "p passes = p iterations: u");
        once.v.dispose();
        once.sigma.dispose();

        expectClose(await read(state.u.ref), p.u, TOL, "u (torch weight_u)");
        expectClose(await read(state.v.ref), await read(rightVector(c, p.v)), TOL, "v (torch weight_v, reordered)");
        expectClose(await read(sigma as np.Array), [p.sigma], TOL, "sigma");
        expectClose(await read(spectralNormalized(w.ref, state)), await read(matrix(c, p.normalized)), TOL, "W / sigma");

        const [out, pullback] = vjp((m: np.Array) => spectralNormalized(m, state), [w]);
        out.dispose();
        const [g] = pullback(matrix(c, c.functional)) as np.Array[];
        pullback.dispose();
        expectClose(await read(g), await read(matrix(c, p.gradWeight)), TOL, "d <functional, W / sigma> / dW");
        state.u.dispose();
        state.v.dispose();
      });
    }

    it(`${c.kind}: converges to the largest singular value (torch.linalg.svdvals)`, async () => {
      const w = matrix(c, c.weight);
      const { sigma, u, v } = spectralNormStep(w, state0(c), 300);
      // The error shrinks by (s2 / s1)^2 per iteration; 300 leave it at the rounding level here.
      expectClose(await read(sigma), [c.sigmaMax], { rtol: 1e-12, atol: 0 }, "sigma after 300 iterations");
      u.dispose();
      v.dispose();
      w.dispose();
    });
  }
});

describe("spectralNormStep and spectralNormalized", () => {
  const w = () => np.array(randn([6, 4], 3).data).reshape([6, 4]);

  it("0 iterations is torch's evaluation mode: sigma = v^T M u from the stored state, unchanged", async () => {
    const m = w();
    const M = await read(m.ref);
    const s = initSpectralNormState(rng(1), m);
    const [u, v] = [await read(s.u.ref), await read(s.v.ref)];
    const out = spectralNormStep(m, s, 0);
    let expected = 0;
    for (let i = 0; i < 6; i++) for (let o = 0; o < 4; o++) expected += v[i] * M[i * 4 + o] * u[o];
    expectClose(await read(out.sigma), [expected], FLOAT64_FORMULA, "sigma");
    expectClose(await read(out.u), u, { rtol: 0, atol: 0 }, "u unchanged");
    expectClose(await read(out.v), v, { rtol: 0, atol: 0 }, "v unchanged");
    m.dispose();
  });

  it("initSpectralNormState draws unit vectors u (Out), v (In) in w's dtype, seeded", async () => {
    const m = w();
    const a = initSpectralNormState(rng(7), m);
    const b = initSpectralNormState(rng(7), m);
    expect([a.u.shape, a.v.shape, a.u.dtype]).toEqual([[4], [6], np.float64]);
    const [ua, va] = [await read(a.u), await read(a.v)];
    expect(Math.hypot(...ua)).toBeCloseTo(1, 14);
    expect(Math.hypot(...va)).toBeCloseTo(1, 14);
    expect(Array.from(await read(b.u))).toEqual(Array.from(ua));
    b.v.dispose();
    const c = initSpectralNormState(rng(8), m);
    expect(Array.from(await read(c.u))).not.toEqual(Array.from(ua));
    c.v.dispose();
    expect(m.refCount).toBe(1);
    m.dispose();
  });

  it("spectralNormalized is differentiable in w, u and v held constant (float64 central differences)", async () => {
    const m = w();
    const s = spectralNormStep(m, initSpectralNormState(rng(2), m), 2);
    s.sigma.dispose();
    m.dispose();
    await checkGradients((x) => spectralNormalized(x, s), [randn([6, 4], 3)]);
    expect([s.u.refCount, s.v.refCount]).toEqual([1, 1]);
  });

  it("jit equals eager", async () => {
    const m = w();
    const s0 = initSpectralNormState(rng(4), m);
    const step = jit((a: np.Array, u: np.Array, v: np.Array) => {
      const out = spectralNormStep(a, { u, v }, 2);
      const y = spectralNormalized(a, out);
      return [y, out.u, out.v, out.sigma];
    });
    const [y, u, v, sigma] = step(m.ref, s0.u.ref, s0.v.ref) as np.Array[];
    const eager = spectralNormStep(m, s0, 2);
    expectClose(await read(sigma), await read(eager.sigma), JIT_VS_EAGER, "sigma");
    expectClose(await read(u), await read(eager.u.ref), JIT_VS_EAGER, "u");
    expectClose(await read(v), await read(eager.v.ref), JIT_VS_EAGER, "v");
    expectClose(await read(y), await read(spectralNormalized(m, eager)), JIT_VS_EAGER, "W / sigma");
    eager.u.dispose();
    eager.v.dispose();
    step.dispose();
  });

  it("borrows w, consumes the state (step); consumes w, borrows the state (normalized)", async () => {
    const m = w();
    const s = initSpectralNormState(rng(5), m);
    const held = [s.u, s.v];
    const out = spectralNormStep(m, s);
    expect([m.refCount, ...held.map((a) => a.refCount)]).toEqual([1, 0, 0]);
    const y = spectralNormalized(m, out);
    expect([m.refCount, out.u.refCount, out.v.refCount]).toEqual([0, 1, 1]);
    for (const a of [y, out.u, out.v, out.sigma]) a.dispose();
  });

  it("names the function, the argument and the shapes on errors, disposing what it consumes", () => {
    const z = (s: number[]) => np.zeros(s, { dtype: np.float64 });
    const m = z([6, 4]);
    const bad = { u: z([6]), v: z([4]) };
    expect(() => spectralNormStep(m, bad)).toThrow(
      "spectralNormStep: state must hold u (Out) = (4) and v (In) = (6) for w (6, 4), got u (6), v (4)",
    );
    expect([m.refCount, bad.u.refCount, bad.v.refCount]).toEqual([1, 0, 0]);
    const s = { u: z([4]), v: z([6]) };
    expect(() => spectralNormStep(m, s, 1.5)).toThrow("spectralNormStep: iterations must be an integer >= 0, got 1.5");
    expect([s.u.refCount, s.v.refCount]).toEqual([0, 0]);
    const s2 = { u: z([4]), v: z([6]) };
    expect(() => spectralNormStep(m, s2, 1, 0)).toThrow("spectralNormStep: eps must be a finite number > 0, got 0");
    const w3 = z([2, 3, 4]);
    const s3 = { u: z([4]), v: z([6]) };
    expect(() => spectralNormalized(w3, s3)).toThrow(
      "spectralNormalized: w must be a (In, Out) matrix (conv (k k Cin, Cout) or linear (In, Out)), got (2, 3, 4)",
    );
    expect([w3.refCount, s3.u.refCount, s3.v.refCount]).toEqual([0, 1, 1]);
    const w4 = z([2, 3, 4]);
    expect(() => initSpectralNormState(rng(1), w4)).toThrow("initSpectralNormState: w must be a (In, Out) matrix, got (2, 3, 4)");
    for (const a of [m, w4, s3.u, s3.v]) a.dispose();
  });
});
