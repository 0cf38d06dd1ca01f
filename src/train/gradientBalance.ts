/**
 * Generator loss balancing of HWT and WriteViT: each auxiliary loss (the OCR
 * network's CTC loss, the writer classifier's loss) is scaled so that its
 * gradient w.r.t. the generated image has alpha times the spread of the
 * adversarial one:
 *
 *   a_k   = alpha_k std(dL_adv / dx) / (eps + std(dL_k / dx))     (std unbiased, over every entry; no gradient)
 *   L_G   = w_adv L_adv + sum_k a_k L_k
 *
 * with x the generated image batch. HWT (ankanbhunia/Handwriting-Transformers,
 * models/model.py, TRGAN.backward_G_only) uses alpha = 0.7 (`gb_alpha`),
 * eps = 1e-7 (`self.epsilon`), w_adv = 1 and one auxiliary loss (OCR);
 * WriteViT (hnam-1765/WriteViT, models/model.py, WriteViT.backward_G_only)
 * uses alpha = 0.7 for both the OCR and the writer loss (`gb_alpha`,
 * `gb_beta`), eps = 1e-7 and w_adv = 2. Both compute the image gradients with
 * torch.autograd.grad, `torch.std` (unbiased) of each, and detach a_k.
 *
 * What the official code does beyond that, and this module does not: it calls
 * backward three times into the same .grad buffers before the optimizer step:
 * on the unweighted L_adv + sum_k L_k, then on L_G, then again on L_G inside
 * `torch.no_grad()` (which does not stop a backward). The generator's
 * parameters therefore receive the gradient of
 *   HWT:      3 L_adv + (1 + 2 a) L_OCR
 *   WriteViT: 5 L_adv + (1 + 2 a) L_OCR + (1 + 2 b) L_writer
 * (checked against a PyTorch re-enactment in test/fixtures/gradient_balance.json),
 * not that of the L_G they define. Here the image gradients are computed
 * once, explicitly (jax-js `valueAndGrad` of each loss w.r.t. the image), the
 * weights from them, and the gradient of L_G w.r.t. the image is their
 * weighted sum: pull it back through the generator with the generator's
 * `vjp` for the gradient of L_G itself, one backward pass instead of three.
 * Reproducing the accumulated sum is a matter of weights
 * (`adversarialWeight` 5 and alpha_k' = 1 + 2 a_k), if a run must match.
 *
 * Reference: Bhunia et al. (2021), "Handwriting Transformers",
 * https://arxiv.org/abs/2104.03964, https://github.com/ankanbhunia/Handwriting-Transformers;
 * WriteViT, https://github.com/hnam-1765/WriteViT; the balancing rule comes
 * from Alonso et al. (2019), https://arxiv.org/abs/1903.00277
 */
import { lax, numpy as np, valueAndGrad } from "@jax-js/jax";
import { reject, shapeOf } from "../core/shapes.js";
import { describe, fail } from "../core/validate.js";

export interface GradientBalanceOptions {
  /** alpha_k, one per auxiliary loss, or one number for all; default 0.7 (HWT `gb_alpha`, WriteViT `gb_alpha`/`gb_beta`). */
  alpha?: number | readonly number[];
  /** eps in the denominator; default 1e-7 (`self.epsilon` in both). */
  eps?: number;
  /** w_adv, the adversarial loss's weight in L_G; default 1 (HWT); WriteViT uses 2. */
  adversarialWeight?: number;
}

/** HWT's constants (one auxiliary loss: OCR). */
export const HWT_GRADIENT_BALANCE: Readonly<Required<GradientBalanceOptions>> = { alpha: 0.7, eps: 1e-7, adversarialWeight: 1 };
/** WriteViT's constants (two auxiliary losses: OCR and writer). */
export const WRITEVIT_GRADIENT_BALANCE: Readonly<Required<GradientBalanceOptions>> = { alpha: 0.7, eps: 1e-7, adversarialWeight: 2 };

function nonNegative(fn: string, field: string, value: unknown, owned: np.Array[]): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0)
    reject(fn, owned, `${field} must be a finite number >= 0, got ${describe(value)}`);
  return value;
}

/**
 * a = alpha std(gradAdv) / (eps + std(gradAux)), std unbiased (torch.std)
 * over all entries, as a () array with no gradient. The two gradients must
 * have the same shape, with at least two entries. Consumes both.
 */
export function gradientBalanceWeight(gradAdv: np.Array, gradAux: np.Array, alpha = 0.7, eps = 1e-7): np.Array {
  const fn = "gradientBalanceWeight";
  const owned = [gradAdv, gradAux];
  nonNegative(fn, "alpha", alpha, owned);
  nonNegative(fn, "eps", eps, owned);
  if (gradAdv.ndim !== gradAux.ndim || gradAdv.shape.some((n, i) => n !== gradAux.shape[i]))
    reject(fn, owned, `gradAdv and gradAux must have the same shape, got ${shapeOf(gradAdv)} and ${shapeOf(gradAux)}`);
  if (gradAdv.size < 2) reject(fn, owned, `the unbiased std needs at least 2 entries, got ${shapeOf(gradAdv)}`);
  const spreadAdv = np.std(gradAdv, null, { correction: 1 }); // ()
  const spreadAux = np.std(gradAux, null, { correction: 1 }); // ()
  return lax.stopGradient(np.multiply(alpha, np.divide(spreadAdv, np.add(spreadAux, eps))));
}

export interface BalancedGradient {
  /** dL_G / dx = w_adv dL_adv/dx + sum_k a_k dL_k/dx, shaped as the image: the cotangent to pull back through the generator. */
  gradient: np.Array;
  /** () a_k per auxiliary loss (data, no gradient). */
  weights: np.Array[];
  /** () L_G = w_adv L_adv + sum_k a_k L_k. */
  total: np.Array;
  /** () L_adv. */
  adversarial: np.Array;
  /** () L_k per auxiliary loss. */
  auxiliary: np.Array[];
}

/**
 * Evaluates the adversarial and the auxiliary losses of the generated image
 * x with their gradients w.r.t. x, the balancing weights a_k, and the
 * gradient of L_G w.r.t. x. Each loss maps x to a () array and must consume
 * its argument (a jax-js function of x; the discriminator, OCR and writer
 * parameters are closed over, not differentiated). Consumes image.
 *
 * A generator step: `const [x, pullback] = vjp(generator, [params]);`,
 * `const b = balancedImageGradient(x, adv, [ocr]);`,
 * `const [gParams] = pullback(b.gradient)`.
 */
export function balancedImageGradient(
  image: np.Array,
  adversarial: (x: np.Array) => np.Array,
  auxiliary: readonly ((x: np.Array) => np.Array)[],
  options: GradientBalanceOptions = {},
): BalancedGradient {
  const fn = "balancedImageGradient";
  const owned = [image];
  if (typeof adversarial !== "function") reject(fn, owned, `adversarial must be a function of the image, got ${describe(adversarial)}`);
  if (!Array.isArray(auxiliary) || auxiliary.length === 0 || auxiliary.some((f) => typeof f !== "function"))
    reject(fn, owned, `auxiliary must be a non-empty array of functions of the image, got ${describe(auxiliary)}`);
  const K = auxiliary.length;
  const alphaOption = options.alpha ?? 0.7;
  const alphas = typeof alphaOption === "number" ? new Array<number>(K).fill(alphaOption) : alphaOption;
  if (!Array.isArray(alphas) || alphas.length !== K)
    reject(fn, owned, `options.alpha must be a number or one number per auxiliary loss (${K}), got ${describe(alphaOption)}`);
  alphas.forEach((a, k) => nonNegative(fn, `options.alpha[${k}]`, a, owned));
  const eps = nonNegative(fn, "options.eps", options.eps ?? 1e-7, owned);
  const wAdv = nonNegative(fn, "options.adversarialWeight", options.adversarialWeight ?? 1, owned);
  if (image.size < 2) reject(fn, owned, `image must have at least 2 entries (the unbiased std), got ${shapeOf(image)}`);

  const lossAndGrad = (f: (x: np.Array) => np.Array, which: string, x: np.Array): [np.Array, np.Array] => {
    const checked = (y: np.Array): np.Array => {
      const loss = f(y);
      if (loss.ndim !== 0) {
        const shape = shapeOf(loss);
        loss.dispose();
        fail(fn, `${which} must return a () loss, got ${shape}`);
      }
      return loss;
    };
    return valueAndGrad(checked)(x) as [np.Array, np.Array];
  };
  const done: np.Array[] = [];
  // valueAndGrad keeps the reference it was given when the loss throws: release the ones made here, and ours.
  const held = image.refCount;
  let lossAdv: np.Array;
  let gAdv: np.Array;
  const aux: [np.Array, np.Array][] = [];
  try {
    [lossAdv, gAdv] = lossAndGrad(adversarial, "adversarial", image.ref); // (), image-shaped
    done.push(lossAdv, gAdv);
    for (let k = 0; k < K; k++) {
      aux.push(lossAndGrad(auxiliary[k], `auxiliary[${k}]`, image.ref));
      done.push(...aux[k]);
    }
  } catch (err) {
    for (const a of done) a.dispose();
    while (image.refCount > held - 1) image.dispose();
    throw err;
  }
  image.dispose();
  const weights = aux.map(([, g], k) => gradientBalanceWeight(gAdv.ref, g.ref, alphas[k], eps)); // ()
  let gradient = np.multiply(gAdv, wAdv); // image-shaped
  let total = np.multiply(lossAdv.ref, wAdv); // ()
  aux.forEach(([loss, g], k) => {
    gradient = np.add(gradient, np.multiply(g, weights[k].ref));
    total = np.add(total, np.multiply(loss.ref, weights[k].ref));
  });
  return { gradient, weights, total, adversarial: lossAdv, auxiliary: aux.map(([loss]) => loss) };
}
