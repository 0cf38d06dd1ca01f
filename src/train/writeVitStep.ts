/**
 * WriteViT's adversarial training, one iteration as two jitted steps:
 *
 *   critic step (every iteration), on D, R and W:
 *     fake  = G(glyphs, W(style).tokens, noise)                      no gradient (held constant)
 *     loss  = 2 hinge_D(D(real), D(fake)) + CTC(R(real)) + CE(W(real), writer)
 *
 *   generator step (every `generatorEvery`-th iteration), on G only:
 *     fake  = G(glyphs, W(style).tokens, noise)
 *     gA, gR, gW = d/d fake of hinge_G(D(fake)), CTC(R(fake)), CE(W(fake), writer)
 *     aR    = balance(gA, gR), aW = balance(gA, gW)                  constants (HWT's gradient balancing)
 *     dG    = pullback_G(2 gA + aR gR + aW gW [+ aL gL])
 *
 * The style reference is another word of the real word's writer, and the
 * texts generated are the real words' texts. The official training passes
 * the real image itself as the style (`netW(self.real)`) and generates
 * random lexicon words; here the texts are random lexicon words too (the
 * real batch draws them so), and a generated word never sees its own
 * rendering. What the pairing adds: each generated word has a real
 * rendering of the same text by the same writer, which the optional
 * reconstruction term gL = d/d fake of mean |fake - real| compares it with,
 * balanced like the other auxiliary losses (aL = alpha_L std(gA) / std(gL)).
 * WriteViT has no such term (its writers are real people, and a second
 * rendering of a text by them does not exist); with synthetic writers it
 * exists, and a run that uses it says so. alpha_L = 0 leaves it out.
 *
 * CTC reads all 2 n columns (`preds_size` is the full width there) and
 * averages the per-word losses (reduction "none", then the mean).
 *
 * Why the generator's gradient is assembled by hand: the official code
 * takes the three gradients w.r.t. the image with `autograd.grad`, weights
 * the auxiliary losses, then calls `backward` on the weighted total twice
 * more (once with retain_graph, once inside no_grad), which accumulates the
 * generator's gradient twice (its Adam step then sees 2x the gradient, which
 * Adam's normalisation mostly hides). Here the three image gradients come
 * from VJPs of D, R and W alone, and the generator's VJP is pulled back
 * once with their weighted sum: exactly the gradient of
 * 2 hinge_G + aR CTC + aW CE with the weights held constant, computed once.
 *
 * The discriminator's convolutions and its linear layer are spectrally
 * normalised: the critic step runs one power iteration per weight (the
 * state u is part of the training state) and both steps use the normalised
 * weights w / sigma, sigma's u and v held constant as torch does.
 * Optimizer: Adam with betas (0, 0.999), eps 1e-8, no weight decay, for all
 * four networks (AdamW with weight decay 0 is Adam).
 *
 * Reference: Nam et al., WriteViT (2025), models/model.py `backward_D_OCR_W`,
 * `backward_G_only`, train.py, https://github.com/hnam-1765/WriteViT;
 * Bhunia et al., Handwriting Transformers (ICCV 2021), https://arxiv.org/abs/2104.03964
 */
import { type JsTree, jit, lax, nn, numpy as np, tree, valueAndGrad, vjp } from "@jax-js/jax";
import { constant } from "../core/constant.js";
import { describe, fail, knownFields, record } from "../core/validate.js";
import { classificationLoss } from "../nn/classifier.js";
import {
  type DiscriminatorSpectralState,
  discriminate,
  discriminatorPowerIteration,
  initDiscriminatorSpectral,
  spectralDiscriminator,
} from "../nn/discriminator.js";
import { generate } from "../nn/handwritingGenerator.js";
import { hingeDiscriminatorLoss, hingeGeneratorLoss } from "../nn/hinge.js";
import { recognize } from "../nn/recognizer.js";
import { identifyWriter } from "../nn/writerIdentifier.js";
import {
  discriminatorConfig,
  generatorConfig,
  recognizerConfig,
  type WriteVitConfig,
  type WriteVitParams,
  writerConfig,
} from "../nn/writeVit.js";
import { rng } from "../pe/random.js";
import { type AdamWConfig, type AdamWState, adamwUpdate, initAdamW } from "./adamw.js";
import { type CtcTargets, ctcLossEncoded } from "./ctc.js";
import { balancedImageGradient, WRITEVIT_GRADIENT_BALANCE } from "./gradientBalance.js";

/** Adam as the official code configures it for all four networks. */
export const WRITEVIT_ADAM: Readonly<AdamWConfig> = { beta1: 0, beta2: 0.999, eps: 1e-8, weightDecay: 0, decay: "all" };

/** One batch: real words, a style reference of each one's writer, and the real words' texts to generate. */
export interface WriteVitBatch {
  /** (B, 32, W, 1) real word images in [-1, 1]. */
  real: np.Array;
  /** (B, 32, W, 1) another word of each real word's writer: the generator's style reference. */
  style: np.Array;
  /** (B) int32 writer of each real word. */
  writers: np.Array;
  /** The real words' texts (also the texts generated), encoded by `ctcTargets` for T = 2 n frames. */
  targets: CtcTargets;
  /** (B, n, 256) glyph bitmaps of the texts. */
  glyphs: np.Array;
  /** (B, 16, 8 n, C/4) the generator's noise. */
  noise: np.Array;
}

/** Everything a run carries from one iteration to the next. */
export interface WriteVitTrainState {
  params: WriteVitParams;
  adam: { [K in keyof WriteVitParams]: AdamWState<WriteVitParams[K]> };
  /** Power-iteration vectors of the discriminator's weights. */
  spectral: DiscriminatorSpectralState;
}

/** Losses of one step, () arrays. */
export interface CriticLosses {
  /** hinge_D(real) + hinge_D(fake) */
  discriminator: np.Array;
  /** CTC of the recognizer on real words */
  recognizer: np.Array;
  /** cross-entropy of the writer identifier on real words */
  writer: np.Array;
}

export interface GeneratorLosses {
  adversarial: np.Array;
  recognizer: np.Array;
  writer: np.Array;
  /** mean |fake - real|, computed (and reported) whether or not it is in the gradient. */
  reconstruction: np.Array;
}

export interface WriteVitStepOptions {
  adam?: AdamWConfig;
  /** alpha_L of the reconstruction term; 0 (default) trains with WriteViT's losses only. */
  reconstruction?: number;
}

export interface WriteVitSteps {
  /** Consumes the state and the batch. */
  critic(state: WriteVitTrainState, batch: WriteVitBatch, lr: number): { state: WriteVitTrainState; losses: CriticLosses };
  /** Consumes the state and the batch. */
  generator(state: WriteVitTrainState, batch: WriteVitBatch, lr: number): { state: WriteVitTrainState; losses: GeneratorLosses };
  dispose(): void;
}

/** A fresh training state for `params` (consumed): zero Adam moments, power iteration started from a seed. */
export function initWriteVitTraining(params: WriteVitParams, seed: number): WriteVitTrainState {
  const adam = {
    generator: initAdamW(params.generator),
    writer: initAdamW(params.writer),
    recognizer: initAdamW(params.recognizer),
    discriminator: initAdamW(params.discriminator),
  };
  return { params, adam, spectral: initDiscriminatorSpectral(rng(seed), params.discriminator) };
}

/** Mean per-word CTC of recognizer logits (B, T, V) against encoded targets. Consumes both. */
export function recognitionLoss(logits: np.Array, targets: CtcTargets): np.Array {
  const logProbs = nn.logSoftmax(logits.transpose([1, 0, 2]), -1); // (T, B, V)
  return np.mean(ctcLossEncoded(logProbs, targets, { reduction: "none" })); // ()
}

/** The jitted critic and generator steps of a config. */
export function makeWriteVitSteps(config: WriteVitConfig, options: WriteVitStepOptions = {}): WriteVitSteps {
  const fn = "makeWriteVitSteps";
  record(fn, "options", options, "{ adam, reconstruction }");
  knownFields(fn, "options", options, ["adam", "reconstruction"]);
  const adam = options.adam ?? WRITEVIT_ADAM;
  const alphaL = options.reconstruction ?? 0;
  if (typeof alphaL !== "number" || !Number.isFinite(alphaL) || alphaL < 0)
    fail(fn, `options.reconstruction must be a finite number >= 0, got ${describe(alphaL)}`);
  const gc = generatorConfig(config);
  const wc = writerConfig(config);
  const rc = recognizerConfig(config);
  const dc = discriminatorConfig(config);

  const critic = jit((state: WriteVitTrainState, batch: WriteVitBatch, lr: np.Array): JsTree<np.Array> => {
    const { params } = state;
    const { tokens, logits } = identifyWriter(params.writer, wc, batch.style); // (B, S, C), (B, K)
    logits.dispose();
    const fake = lax.stopGradient(generate(params.generator, gc, batch.glyphs, lax.stopGradient(tokens), batch.noise)); // (B, 32, W, 1)
    const spectral = discriminatorPowerIteration(params.discriminator, state.spectral); // one iteration per weight
    type Critic = Pick<WriteVitParams, "discriminator" | "writer" | "recognizer">;
    const loss = (p: Critic, real: np.Array, fake_: np.Array, writers: np.Array, targets: CtcTargets): JsTree<np.Array> => {
      const d = spectralDiscriminator(p.discriminator, spectral);
      const hinge = hingeDiscriminatorLoss(discriminate(d, dc, real.ref), discriminate(d, dc, fake_)); // ()
      tree.dispose(d as unknown as JsTree<np.Array>);
      const ocr = recognitionLoss(recognize(p.recognizer, rc, real.ref), targets); // ()
      const w = identifyWriter(p.writer, wc, real);
      w.tokens.dispose();
      const ce = classificationLoss(w.logits, writers); // ()
      tree.dispose(p as unknown as JsTree<np.Array>);
      const total = np.add(np.add(np.multiply(hinge.ref, 2), ocr.ref), ce.ref);
      return [total, { discriminator: hinge, recognizer: ocr, writer: ce }] as unknown as JsTree<np.Array>;
    };
    const critics: Critic = { discriminator: params.discriminator, writer: params.writer, recognizer: params.recognizer };
    const withAux = valueAndGrad as unknown as (f: unknown, o: { hasAux: true }) => (...args: unknown[]) => unknown;
    const [[, losses], grads] = withAux(loss, { hasAux: true })(
      tree.ref(critics as unknown as JsTree<np.Array>),
      batch.real,
      fake,
      batch.writers,
      batch.targets,
    ) as unknown as [[np.Array, CriticLosses], Critic];
    const next = { ...params } as WriteVitParams;
    const nextAdam = { ...state.adam };
    for (const k of ["discriminator", "writer", "recognizer"] as const) {
      const u = adamwUpdate(params[k] as never, grads[k] as never, state.adam[k] as never, lr.ref, adam);
      (next as unknown as Record<string, unknown>)[k] = u.params;
      (nextAdam as unknown as Record<string, unknown>)[k] = u.state;
    }
    lr.dispose();
    const out: { state: WriteVitTrainState; losses: CriticLosses } = { state: { params: next, adam: nextAdam, spectral }, losses };
    return out as unknown as JsTree<np.Array>;
  });

  const generatorStep = jit((state: WriteVitTrainState, batch: WriteVitBatch, lr: np.Array): JsTree<np.Array> => {
    const { params } = state;
    const w0 = identifyWriter(params.writer, wc, batch.style); // (B, S, C), (B, K)
    w0.logits.dispose();
    const style = lax.stopGradient(w0.tokens); // (B, S, C)
    const [fake, pull] = vjp(
      (g: JsTree<np.Array>) => {
        const out = generate(g as never, gc, batch.glyphs.ref, style.ref, batch.noise.ref);
        tree.dispose(g);
        return out;
      },
      [tree.ref(params.generator as unknown as JsTree<np.Array>)],
    ) as unknown as [np.Array, (ct: np.Array) => [JsTree<np.Array>]];
    style.dispose();
    batch.glyphs.dispose();
    batch.noise.dispose();
    const d = spectralDiscriminator(params.discriminator, state.spectral);
    const { writers, real } = batch;
    const reconstruction = (x: np.Array) => np.mean(np.abs(np.subtract(x, real.ref))); // ()
    const auxiliary = [
      (x: np.Array) =>
        recognitionLoss(recognize(params.recognizer, rc, x), tree.ref(batch.targets as unknown as JsTree<np.Array>) as never),
      (x: np.Array) => {
        const w = identifyWriter(params.writer, wc, x);
        w.tokens.dispose();
        return classificationLoss(w.logits, writers.ref);
      },
    ];
    const alpha = WRITEVIT_GRADIENT_BALANCE.alpha as number;
    const l1 = alphaL > 0 ? null : reconstruction(lax.stopGradient(fake.ref)); // reported only
    const balanced = balancedImageGradient(
      fake,
      (x) => hingeGeneratorLoss(discriminate(d, dc, x)),
      alphaL > 0 ? [...auxiliary, reconstruction] : auxiliary,
      { ...WRITEVIT_GRADIENT_BALANCE, alpha: alphaL > 0 ? [alpha, alpha, alphaL] : alpha },
    );
    tree.dispose(d as unknown as JsTree<np.Array>);
    writers.dispose();
    real.dispose();
    for (const a of Object.values(batch.targets)) (a as np.Array).dispose();
    for (const a of [balanced.total, ...balanced.weights]) a.dispose();
    const [adversarial, ocr, ce, fit] = [balanced.adversarial, ...balanced.auxiliary, ...(l1 ? [l1] : [])];
    const cotangent = balanced.gradient; // (B, 32, W, 1)
    const [grads] = pull(cotangent);
    const u = adamwUpdate(params.generator, grads as never, state.adam.generator, lr, adam);
    const out: { state: WriteVitTrainState; losses: GeneratorLosses } = {
      state: { params: { ...params, generator: u.params }, adam: { ...state.adam, generator: u.state }, spectral: state.spectral },
      losses: { adversarial, recognizer: ocr, writer: ce, reconstruction: fit },
    };
    return out as unknown as JsTree<np.Array>;
  });

  const lrArray = (lr: number, state: WriteVitTrainState) => constant([lr], state.params.generator.query.w.dtype).reshape([]);
  return {
    critic: (state, batch, lr) =>
      (critic as never as (...a: unknown[]) => ReturnType<WriteVitSteps["critic"]>)(state, batch, lrArray(lr, state)),
    generator: (state, batch, lr) =>
      (generatorStep as never as (...a: unknown[]) => ReturnType<WriteVitSteps["generator"]>)(state, batch, lrArray(lr, state)),
    dispose: () => {
      critic.dispose();
      generatorStep.dispose();
    },
  };
}
