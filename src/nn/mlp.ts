/**
 * The transformer's position-wise feed-forward network, two variants:
 *
 *   gelu:   y = GELU(x W1 + b1) W2 + b2                          (GPT-2, nanoGPT)
 *   swiglu: y = (SiLU(x Wgate) * (x Wup)) Wdown, no biases        (Llama)
 *
 * GELU is exact, x Phi(x), or the tanh approximation (GPT-2's "gelu_new"):
 * an explicit option. Weights initialised as torch.nn.Linear.
 *
 * Reference: Hendrycks & Gimpel (2016), https://arxiv.org/abs/1606.08415;
 * Shazeer (2020) "GLU Variants Improve Transformer", https://arxiv.org/abs/2002.05202
 */
import { type DType, nn, numpy as np } from "@jax-js/jax";
import { bool, integer, oneOf, record } from "../core/validate.js";
import type { Rng } from "../pe/random.js";
import { initLinear, type LinearParams, linear } from "./linear.js";

export type MlpConfig =
  | {
      kind: "gelu" /** Hidden width (GPT-2: 4 C). */;
      hidden: number /** tanh approximation instead of the exact erf form. */;
      approximate: boolean;
    }
  | { kind: "swiglu" /** Hidden width (Llama: about 8 C / 3). */; hidden: number };

export type MlpParams = { fc: LinearParams; proj: LinearParams } | { gate: LinearParams; up: LinearParams; down: LinearParams };

export function initMlp(r: Rng, width: number, config: MlpConfig, dtype: DType = np.float32): MlpParams {
  switch (config.kind) {
    case "gelu":
      return { fc: initLinear(r, width, config.hidden, { dtype }), proj: initLinear(r, config.hidden, width, { dtype }) };
    case "swiglu":
      return {
        gate: initLinear(r, width, config.hidden, { bias: false, dtype }),
        up: initLinear(r, width, config.hidden, { bias: false, dtype }),
        down: initLinear(r, config.hidden, width, { bias: false, dtype }),
      };
    default:
      return config satisfies never;
  }
}

/** (..., C) -> (..., C). Borrows the parameters, consumes x. */
export function mlp(p: MlpParams, x: np.Array, config: MlpConfig): np.Array {
  switch (config.kind) {
    case "gelu": {
      if (!("fc" in p)) throw new Error('mlp: config.kind "gelu" needs parameters { fc, proj }');
      const h = nn.gelu(linear(p.fc, x), { approximate: config.approximate }); // (..., hidden)
      return linear(p.proj, h); // (..., C)
    }
    case "swiglu": {
      if (!("gate" in p)) throw new Error('mlp: config.kind "swiglu" needs parameters { gate, up, down }');
      const h = np.multiply(nn.silu(linear(p.gate, x.ref)), linear(p.up, x)); // (..., hidden)
      return linear(p.down, h); // (..., C)
    }
    default:
      return config satisfies never;
  }
}

/** Throws `fn: <field>...` unless `config` is an MlpConfig. */
export function checkMlp(fn: string, field: string, config: unknown): MlpConfig {
  const c = record(fn, field, config, '{ kind: "gelu" | "swiglu", hidden, ... }');
  const kind = oneOf(fn, `${field}.kind`, c.kind, ["gelu", "swiglu"]);
  integer(fn, `${field}.hidden`, c.hidden, 1);
  if (kind === "gelu") bool(fn, `${field}.approximate`, c.approximate);
  return config as MlpConfig;
}
