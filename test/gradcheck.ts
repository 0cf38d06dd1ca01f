/**
 * Gradient checks for differentiable posenc functions: the reverse-mode VJP
 * along a random cotangent, projected on a random input direction, against a
 * central difference of the same projection, in float64.
 *
 *   analytic = <vjp(u)_i, d_i>,   numeric = (<u, f(x + eps d_i)> - <u, f(x - eps d_i)>) / (2 eps)
 *
 * checked separately for each input i, so a wrong gradient is localised. Run
 * on the "cpu" device: its transcendental functions are exact, where wasm and
 * webgpu approximate them to ~1e-7 relative even in float64.
 */
import { type JsTree, numpy as np, tree, vjp } from "@jax-js/jax";
import { expect } from "vitest";
import { rng } from "../src/pe/random.js";

/** eps 1e-4: truncation error O(eps^2 f''') ~ 1e-8 relative, roundoff ~1e-16/1e-4 = 1e-12. */
export const GRAD_CHECK = { eps: 1e-4, rtol: 1e-6, atol: 1e-9 };

export interface Input {
  data: Float64Array;
  shape: number[];
}

/** Seeded float64 input with standard normal entries (times `scale`). */
export function randn(shape: number[], seed: number, scale = 1): Input {
  const r = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return { data: Float64Array.from({ length: n }, () => scale * r.normal()), shape };
}

const toArray = (x: Input) => np.array(x.data).reshape(x.shape);

async function project(f: (...xs: np.Array[]) => np.Array, inputs: Input[], u: Float64Array): Promise<number> {
  const y = f(...inputs.map(toArray));
  const data = await y.data();
  let s = 0;
  for (let i = 0; i < u.length; i++) s += u[i] * data[i];
  return s;
}

/**
 * Checks df along every input of `f` (which must consume its arguments, as
 * jax-js functions do). `skip` names input indices that are not
 * differentiable (integer positions, masks).
 */
export async function checkGradients(f: (...xs: np.Array[]) => np.Array, inputs: Input[], seed = 1, skip: number[] = []): Promise<void> {
  const [y, vjpFn] = vjp(f, inputs.map(toArray));
  const yShape = y.shape;
  y.dispose();
  const r = rng(seed);
  const u = Float64Array.from({ length: yShape.reduce((a, b) => a * b, 1) }, () => r.normal());
  const grads = vjpFn(np.array(u).reshape(yShape)) as np.Array[];
  vjpFn.dispose();
  for (let i = 0; i < inputs.length; i++) {
    if (skip.includes(i)) {
      grads[i].dispose();
      continue;
    }
    const g = await grads[i].data();
    const d = Float64Array.from({ length: inputs[i].data.length }, () => r.normal());
    let analytic = 0;
    for (let j = 0; j < d.length; j++) analytic += g[j] * d[j];
    const shifted = (sign: number) =>
      inputs.map((x, k) => (k === i ? { data: x.data.map((v, j) => v + sign * GRAD_CHECK.eps * d[j]), shape: x.shape } : x));
    const numeric = ((await project(f, shifted(1), u)) - (await project(f, shifted(-1), u))) / (2 * GRAD_CHECK.eps);
    const err = Math.abs(analytic - numeric);
    expect(err, `input ${i}: analytic ${analytic}, numeric ${numeric}`).toBeLessThanOrEqual(
      GRAD_CHECK.atol + GRAD_CHECK.rtol * Math.abs(numeric),
    );
  }
}

/** Reads a float64 array back as a Float64Array. */
export async function read(x: np.Array): Promise<Float64Array> {
  return Float64Array.from(await x.data());
}

/**
 * Every leaf of a parameter pytree packed into one gradcheck input z = scale
 * theta (so that a step eps in z is scale times shorter in theta), and the
 * unpacking of z back into a pytree. Disposes the parameters.
 */
export async function packedParams(params: unknown, scale: number): Promise<{ input: Input; unpack: (z: np.Array) => unknown }> {
  const [flat, def] = tree.flatten(params as JsTree<np.Array>);
  const parts = await Promise.all((flat as np.Array[]).map((a) => read(a.ref)));
  const shapes = (flat as np.Array[]).map((a) => [...a.shape]);
  tree.dispose(params as JsTree<np.Array>);
  const data = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    data.set(
      p.map((v) => v * scale),
      at,
    );
    at += p.length;
  }
  const unpack = (z: np.Array) => {
    const theta = np.divide(z, scale);
    let at = 0;
    const leaves = shapes.map((s, i) => theta.ref.slice([at, (at += parts[i].length)]).reshape(s));
    theta.dispose();
    return tree.unflatten(def, leaves);
  };
  return { input: { data, shape: [data.length] }, unpack };
}
