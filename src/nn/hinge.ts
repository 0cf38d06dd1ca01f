/**
 * Hinge GAN losses (Lim & Ye 2017; the BigGAN, HWT and WriteViT choice):
 *
 *   discriminator:  L_D = mean(relu(1 - D(real))) + mean(relu(1 + D(fake)))
 *   generator:      L_G = -mean(D(fake))
 *
 * each mean over every score (a score per sample, or per patch/column). The
 * gradient of relu at 0 is 0, as torch's (a score exactly on the margin
 * passes no gradient).
 * HWT and WriteViT (util/util.py `loss_hinge_dis`, `loss_hinge_gen`) also
 * take a length mask for 4-D score maps; with the (B, 1) scores their
 * discriminators return it is unused, and these are their losses.
 *
 * Reference: Lim & Ye (2017), "Geometric GAN", https://arxiv.org/abs/1705.02894;
 * Brock et al. (2019), BigGAN, https://arxiv.org/abs/1809.11096
 */
import { numpy as np } from "@jax-js/jax";
import { reject, shapeOf } from "../core/shapes.js";

/** max(x, 0) with torch's gradient at the kink: 0 at x = 0 (jax-js's nn.relu passes 1 there). Consumes x. */
function relu(x: np.Array): np.Array {
  return np.where(np.greater(x.ref, 0), x, 0);
}

function checkScores(fn: string, field: string, x: np.Array, owned: np.Array[]): void {
  if (x.size === 0) reject(fn, owned, `${field} must hold at least one score, got ${shapeOf(x)}`);
}

/** mean(relu(1 - real)) + mean(relu(1 + fake)), a () array; the two score arrays may differ in shape. Consumes both. */
export function hingeDiscriminatorLoss(realScores: np.Array, fakeScores: np.Array): np.Array {
  checkScores("hingeDiscriminatorLoss", "realScores", realScores, [realScores, fakeScores]);
  checkScores("hingeDiscriminatorLoss", "fakeScores", fakeScores, [realScores, fakeScores]);
  const real = np.mean(relu(np.subtract(1, realScores))); // ()
  const fake = np.mean(relu(np.add(1, fakeScores))); // ()
  return np.add(real, fake);
}

/** -mean(fake), a () array. Consumes fakeScores. */
export function hingeGeneratorLoss(fakeScores: np.Array): np.Array {
  checkScores("hingeGeneratorLoss", "fakeScores", fakeScores, [fakeScores]);
  return np.negative(np.mean(fakeScores));
}
