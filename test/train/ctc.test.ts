/**
 * ctcLoss against torch.nn.functional.ctc_loss (float64 fixture), its own
 * float64 gradient check, jit vs eager, and the argument errors.
 */
import { grad, jit, nn, numpy as np } from "@jax-js/jax";
import { beforeAll, describe, expect, it } from "vitest";
import { init } from "../../src/runtime/init.js";
import { type CtcOptions, ctcLoss, ctcLossEncoded, ctcTargets } from "../../src/train/ctc.js";
import { fixture } from "../fixtures.js";
import { checkGradients, randn, read } from "../gradcheck.js";
import { expectClose, FLOAT32_EPS, FLOAT64_EPS, JIT_VS_EAGER, type Tolerance } from "../tolerance.js";

beforeAll(async () => {
  await init({ device: "cpu" });
});

type Num = number | "Infinity";
interface Case {
  name: string;
  T: number;
  B: number;
  C: number;
  S: number;
  blank: number;
  logits: number[];
  targets: number[][];
  inputLengths: number[];
  targetLengths: number[];
  lossNone: Num[];
  lossMean: Num;
  lossSum: Num;
  lossNoneZeroInfinity: Num[];
  lossMeanZeroInfinity: Num;
  feasible: boolean;
  gradSum?: number[];
  gradMean?: number[];
  gradSumZeroInfinity: number[];
  logProbs?: number[];
  torchGradLogProbsSum?: number[];
}

/** JSON has no Infinity: the generator writes it as the string "Infinity". */
const num = (v: Num): number => (v === "Infinity" ? Infinity : v);
const nums = (v: Num[]): number[] => v.map(num);

/**
 * The loss is a sum over T steps of logsumexp's, each rounding to a few ulps
 * of the running log-likelihood (|alpha| <= the loss): relative error
 * <= ~4 T ulps, 4 for the exp, log, add and max shift of each step. In float32
 * the rounding of the float64 logits adds |d loss / d logit| |logit| eps per
 * entry, within the same bound. Measured on the cpu device, T <= 40: 1.7e-16
 * relative in float64 (0.13 T ulps), 1.5e-7 in float32 (0.24 T ulps).
 */
const lossTolerance = (T: number, eps: number): Tolerance => ({ rtol: 4 * T * eps, atol: 4 * T * eps });
/**
 * Gradients (softmax - occupation, entries in [-1, 1]) come from the forward
 * and the backward recursion, 2 T steps, and a difference of O(1) terms:
 * 16 T ulps absolute. Measured in float64: 3.1e-14 (T = 40: 7 T ulps).
 */
const gradTolerance = (T: number): Tolerance => ({ rtol: 16 * T * FLOAT64_EPS, atol: 16 * T * FLOAT64_EPS });

const f = fixture<Case>("ctc_loss");
const logitsOf = (c: Case, dtype = np.float64) =>
  (dtype === np.float64 ? np.array(Float64Array.from(c.logits)) : np.array(Float32Array.from(c.logits))).reshape([c.T, c.B, c.C]);
const lossOf = (c: Case, options: CtcOptions) => (x: np.Array) =>
  ctcLoss(nn.logSoftmax(x, -1), c.targets, c.inputLengths, c.targetLengths, { blank: c.blank, ...options });

describe("ctcLoss equals torch's F.ctc_loss (float64 fixture)", () => {
  it("covers repeated labels, a blank other than 0, short inputs, an empty target and impossible alignments", () => {
    const names = f.cases.map((c) => c.name);
    expect(names).toEqual(expect.arrayContaining(["repeats", "blank last", "short inputs and an empty target", "impossible"]));
    expect(f.cases.some((c) => c.blank === c.C - 1)).toBe(true);
    expect(f.cases.some((c) => c.lossNone.includes("Infinity"))).toBe(true);
  });

  for (const c of f.cases) {
    const tol = lossTolerance(c.T, FLOAT64_EPS);
    const gtol = gradTolerance(c.T);
    it(`${c.name}: (T, B, C, S) = (${c.T}, ${c.B}, ${c.C}, ${c.S}), blank ${c.blank}: values of every reduction`, async () => {
      expectClose(await read(lossOf(c, { reduction: "none" })(logitsOf(c))), nums(c.lossNone), tol, "none");
      expectClose(await read(lossOf(c, { reduction: "mean" })(logitsOf(c))), [num(c.lossMean)], tol, "mean");
      expectClose(await read(lossOf(c, {})(logitsOf(c))), [num(c.lossMean)], tol, "default reduction (mean)");
      expectClose(await read(lossOf(c, { reduction: "sum" })(logitsOf(c))), [num(c.lossSum)], tol, "sum");
      expectClose(
        await read(lossOf(c, { reduction: "none", zeroInfinity: true })(logitsOf(c))),
        nums(c.lossNoneZeroInfinity),
        tol,
        "none, zeroInfinity",
      );
      expectClose(
        await read(lossOf(c, { reduction: "mean", zeroInfinity: true })(logitsOf(c))),
        [num(c.lossMeanZeroInfinity)],
        tol,
        "mean, zeroInfinity",
      );
    });

    it(`${c.name}: gradients w.r.t. the logits through log_softmax`, async () => {
      if (c.gradSum && c.gradMean) {
        expectClose(await read(grad(lossOf(c, { reduction: "sum" }))(logitsOf(c))), c.gradSum, gtol, "d sum / d logits");
        expectClose(await read(grad(lossOf(c, { reduction: "mean" }))(logitsOf(c))), c.gradMean, gtol, "d mean / d logits");
      } else {
        expect(c.feasible).toBe(false);
      }
      const g = await read(grad(lossOf(c, { reduction: "sum", zeroInfinity: true }))(logitsOf(c)));
      expectClose(g, c.gradSumZeroInfinity, gtol, "d sum / d logits, zeroInfinity");
    });
  }

  it("gives the true d loss / d logProbs = -occupation; torch's backward gives exp(logProbs) - occupation", async () => {
    const cases = f.cases.filter((c) => c.torchGradLogProbsSum);
    expect(cases.length).toBeGreaterThanOrEqual(2);
    for (const c of cases) {
      const lp = Float64Array.from(c.logProbs ?? []);
      const ours = await read(
        grad((x: np.Array) => ctcLoss(x, c.targets, c.inputLengths, c.targetLengths, { blank: c.blank, reduction: "sum" }))(
          np.array(lp).reshape([c.T, c.B, c.C]),
        ),
      );
      const torch = c.torchGradLogProbsSum ?? [];
      // torch = exp(lp) - occupation for t < inputLengths[b] (0 afterwards); ours = -occupation.
      const shifted = ours.map((g, i) => {
        const b = Math.floor(i / c.C) % c.B;
        const t = Math.floor(i / (c.B * c.C));
        return t < c.inputLengths[b] ? g + Math.exp(lp[i]) : g;
      });
      expectClose(shifted, torch, gradTolerance(c.T), `${c.name}: ours + exp(logProbs)`);
      // The two differ by the softmax, O(1 / C): not a rounding difference.
      const gap = Math.max(...ours.map((g, i) => Math.abs(g - torch[i])));
      expect(gap).toBeGreaterThan(0.01);
    }
  });

  it("float32 on the cpu device agrees within 4 T float32 ulps", async () => {
    for (const c of f.cases) {
      const got = await read(lossOf(c, { reduction: "none" })(logitsOf(c, np.float32)));
      expectClose(got, nums(c.lossNone), lossTolerance(c.T, FLOAT32_EPS), `${c.name} float32`);
    }
  });
});

describe("ctcLoss is differentiable (float64 central differences on cpu)", () => {
  // Unnormalised log-probabilities (any real logProbs): the loss is smooth in them.
  const cases: { name: string; T: number; C: number; blank: number; targets: number[][]; input: number[]; lengths: number[] }[] = [
    { name: "repeats and short inputs", T: 7, C: 4, blank: 0, targets: [[1, 1, 2], [3, 3, 0], [2]], input: [7, 5, 3], lengths: [3, 2, 1] },
    {
      name: "blank last, an empty target",
      T: 5,
      C: 5,
      blank: 4,
      targets: [
        [0, 3],
        [1, 1],
      ],
      input: [5, 4],
      lengths: [0, 2],
    },
  ];
  for (const c of cases) {
    for (const reduction of ["none", "mean", "sum"] as const) {
      it(`${c.name}, reduction ${reduction}`, async () => {
        await checkGradients(
          (lp) => ctcLoss(lp, c.targets, c.input, c.lengths, { blank: c.blank, reduction }),
          [randn([c.T, c.targets.length, c.C], 31 + c.T, 0.7)],
        );
      });
    }
  }
});

describe("ctcLossEncoded under jit", () => {
  const T = 9;
  const C = 6;
  const batch = (seed: number) => {
    const x = randn([T, 3, C], seed);
    return nn.logSoftmax(np.array(x.data).reshape([T, 3, C]), -1);
  };
  const a = {
    targets: [
      [1, 2, 2, 0],
      [5, 5, 5, 5],
      [3, 0, 0, 0],
    ],
    input: [9, 8, 2],
    lengths: [3, 4, 1],
  };
  const b = {
    targets: [
      [4, 4, 1, 2],
      [2, 0, 0, 0],
      [1, 3, 1, 3],
    ],
    input: [6, 9, 9],
    lengths: [4, 1, 4],
  };

  it("equals eager, reused across batches with other targets and lengths (one trace per shape)", async () => {
    const loss = jit((lp: np.Array, t: ReturnType<typeof ctcTargets>) => ctcLossEncoded(lp, t, { reduction: "none" }));
    for (const [k, t] of [a, b, a].entries()) {
      const encode = () => ctcTargets(t.targets, t.input, t.lengths, { numFrames: T, numClasses: C, dtype: np.float64 });
      const eager = await read(ctcLossEncoded(batch(k), encode(), { reduction: "none" }));
      const jitted = await read(loss(batch(k), encode()));
      expectClose(jitted, eager, JIT_VS_EAGER, `batch ${k}`);
      const direct = await read(ctcLoss(batch(k), t.targets, t.input, t.lengths, { reduction: "none" }));
      expectClose(eager, direct, { rtol: 0, atol: 0 }, "ctcLoss = ctcLossEncoded(ctcTargets)");
    }
    loss.dispose();
  });

  it("a jitted gradient equals the eager one", async () => {
    const f = (x: np.Array) => ctcLoss(nn.logSoftmax(x, -1), a.targets, a.input, a.lengths);
    const x = randn([T, 3, C], 5);
    const g = jit(grad(f));
    const jitted = await read(g(np.array(x.data).reshape([T, 3, C])));
    const eager = await read(grad(f)(np.array(x.data).reshape([T, 3, C])));
    expectClose(jitted, eager, JIT_VS_EAGER, "grad");
    g.dispose();
  });

  it("consumes its arguments and leaves nothing behind", async () => {
    const lp = batch(0);
    const t = ctcTargets(a.targets, a.input, a.lengths, { numFrames: T, numClasses: C, dtype: np.float64 });
    const held = [lp, ...Object.values(t)];
    const out = ctcLossEncoded(lp, t);
    await read(out);
    expect(held.map((x) => x.refCount)).toEqual(held.map(() => 0));
  });
});

describe("ctcLoss validates its arguments", () => {
  const lp = () => np.zeros([4, 2, 3], { dtype: np.float64 });
  const ok = {
    targets: [
      [1, 2],
      [2, 0],
    ],
    input: [4, 3],
    lengths: [2, 1],
  };
  const cases: [string, () => np.Array, unknown, unknown, unknown, CtcOptions, RegExp][] = [
    [
      "logProbs ndim",
      () => np.zeros([4, 6], { dtype: np.float64 }),
      ok.targets,
      ok.input,
      ok.lengths,
      {},
      /ctcLoss: logProbs must be \(T, B, C\), got \(4, 6\)/,
    ],
    [
      "logProbs dtype",
      () => np.zeros([4, 2, 3], { dtype: np.int32 }),
      ok.targets,
      ok.input,
      ok.lengths,
      {},
      /ctcLoss: logProbs must be float32 or float64, got int32/,
    ],
    ["targets rows", lp, [[1, 2]], ok.input, ok.lengths, {}, /ctcLoss: targets must have B = 2 rows .*, got 1/],
    [
      "targets as a jax array",
      lp,
      np.zeros([2, 2], { dtype: np.int32 }),
      ok.input,
      ok.lengths,
      {},
      /ctcLoss: targets must be host integers/,
    ],
    ["inputLengths count", lp, ok.targets, [4], ok.lengths, {}, /ctcLoss: inputLengths must have B = 2 entries .*, got 1/],
    ["targetLengths count", lp, ok.targets, ok.input, [2, 1, 1], {}, /ctcLoss: targetLengths must have B = 2 entries .*, got 3/],
    ["inputLength 0", lp, ok.targets, [4, 0], ok.lengths, {}, /ctcLoss: inputLengths\[1\] must be an integer in \[1, 4\] .*, got 0/],
    ["inputLength > T", lp, ok.targets, [5, 3], ok.lengths, {}, /ctcLoss: inputLengths\[0\] must be an integer in \[1, 4\] .*, got 5/],
    ["targetLength > S", lp, ok.targets, ok.input, [3, 1], {}, /ctcLoss: targetLengths\[0\] must be an integer in \[0, 2\] .*, got 3/],
    ["targetLength < 0", lp, ok.targets, ok.input, [2, -1], {}, /ctcLoss: targetLengths\[1\] must be an integer in \[0, 2\] .*, got -1/],
    ["fractional length", lp, ok.targets, ok.input, [1.5, 1], {}, /ctcLoss: targetLengths\[0\] must be an integer .*, got 1.5/],
    [
      "label out of range",
      lp,
      [
        [1, 3],
        [2, 0],
      ],
      ok.input,
      ok.lengths,
      {},
      /ctcLoss: targets\[0\]\[1\] must be an integer class in \[0, 2\], got 3/,
    ],
    [
      "blank label",
      lp,
      [
        [1, 0],
        [2, 0],
      ],
      ok.input,
      ok.lengths,
      {},
      /ctcLoss: targets\[0\]\[1\] is the blank 0; labels within targetLengths\[0\] = 2/,
    ],
    ["blank label, blank 2", lp, ok.targets, ok.input, ok.lengths, { blank: 2 }, /ctcLoss: targets\[0\]\[1\] is the blank 2/],
    [
      "blank out of range",
      lp,
      ok.targets,
      ok.input,
      ok.lengths,
      { blank: 3 },
      /ctcLoss: options.blank must be an integer in \[0, 2\] .*, got 3/,
    ],
    [
      "reduction typo",
      lp,
      ok.targets,
      ok.input,
      ok.lengths,
      { reduction: "avg" as "mean" },
      /ctcLoss: options.reduction must be "none", "mean", "sum", got "avg"/,
    ],
    [
      "zeroInfinity",
      lp,
      ok.targets,
      ok.input,
      ok.lengths,
      { zeroInfinity: 1 as unknown as boolean },
      /ctcLoss: options.zeroInfinity must be true or false, got 1/,
    ],
  ];
  for (const [what, make, targets, input, lengths, options, message] of cases) {
    it(`${what}: throws naming ctcLoss, the argument and the value, and disposes logProbs`, () => {
      const x = make();
      expect(() => ctcLoss(x, targets as number[][], input as number[], lengths as number[], options)).toThrow(message);
      expect(x.refCount).toBe(0);
      if (targets instanceof np.Array) targets.dispose();
    });
  }

  it("padding past targetLengths is ignored, whatever it holds", async () => {
    const x = randn([4, 2, 3], 3);
    const a = await read(
      ctcLoss(
        np.array(x.data).reshape([4, 2, 3]),
        [
          [1, 0, 7],
          [2, 2],
        ],
        [4, 3],
        [1, 1],
        { reduction: "none" },
      ),
    );
    const b = await read(ctcLoss(np.array(x.data).reshape([4, 2, 3]), [[1], [2]], [4, 3], [1, 1], { reduction: "none" }));
    expect(Array.from(a)).toEqual(Array.from(b));
  });

  it("ctcTargets names itself and checks the dtype", () => {
    expect(() => ctcTargets([[1]], [1], [1], { numFrames: 1, numClasses: 1 })).toThrow(
      /ctcTargets: targets\[0\]\[0\] must be an integer class in \[0, 0\], got 1/,
    );
    expect(() => ctcTargets([[1]], [1], [1], { numFrames: 2, numClasses: 3, dtype: np.int32 })).toThrow(
      /ctcTargets: the float dtype must be float32 or float64/,
    );
  });

  it("ctcLossEncoded refuses targets encoded for another batch, disposing everything", () => {
    const t = ctcTargets([[1]], [2], [1], { numFrames: 2, numClasses: 3, dtype: np.float64 });
    const x = np.zeros([3, 1, 3], { dtype: np.float64 });
    const held = [x, ...Object.values(t)];
    expect(() => ctcLossEncoded(x, t)).toThrow(/ctcLossEncoded: targets were encoded for another batch: logProbs \(3, 1, 3\)/);
    expect(held.map((a) => a.refCount)).toEqual(held.map(() => 0));
  });
});
