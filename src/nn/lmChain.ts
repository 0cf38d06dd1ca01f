/**
 * The language model (lm.ts) as a chain of segments between its attention
 * calls, for a training step that runs attention as fused kernels
 * (train/fusedStep.ts). With n blocks and o_i the attention output of block i:
 *
 *   segment 0:  x = E[tokens] (+ absolute PE);          q, k, v = inputs of block 1 (Norm1, Wqkv)
 *   segment i:  x = rest of block i (x, o_i);           q, k, v = inputs of block i + 1
 *   segment n:  x = rest of block n (x, o_n);           loss = CE(NormF(x) E^T, targets, mask)
 *
 * Each segment is the code of `lmForward` (lmEmbed, attentionInputs,
 * attentionOutput, lmHead), so the chain computes the same model. It holds
 * for the attention the fused kernels differentiate: no PE, RoPE (any
 * scaling) or ALiBi, softmax attention, positions 0..L-1;
 * `fusedTrainingSupport` says why another config is not.
 */
import { numpy as np } from "@jax-js/jax";
import { fail } from "../core/validate.js";
import type { FlashAttentionOptions } from "../kernels/webgpu/flashAttention.js";
import type { Chain } from "../train/fusedStep.js";
import { attentionInputs, attentionOutput, type BlockParams } from "./block.js";
import { crossEntropy } from "./crossEntropy.js";
import { type Batch, blockConfig, checkLMConfig, type LMConfig, type LMParams, lmEmbed, lmHead } from "./lm.js";
import { norm } from "./norm.js";
import { peSpec } from "./positional.js";

/** The parameters one segment reads: the end of a block (`prev`), the start of the next (`next`), and the ends of the model. */
export interface LMSegmentParams {
  embed?: LMParams["embed"];
  absolute?: LMParams["absolute"];
  prev?: Pick<BlockParams, "proj" | "norm2" | "mlp">;
  next?: Pick<BlockParams, "norm1" | "qkv">;
  normF?: LMParams["normF"];
  head?: LMParams["head"];
}

/** Why `config` (a valid LMConfig, else it throws naming the field) cannot train through the fused kernels, or null when it can. */
export function fusedTrainingSupport(config: LMConfig): string | null {
  checkLMConfig("fusedTrainingSupport", config);
  if (config.depth < 1) return "a model without blocks has no attention to fuse";
  if (config.kernel) return "kernelized attention has no fused backward yet";
  const t = config.pe.type;
  if (t !== "none" && t !== "rotary" && t !== "alibi")
    return `the fused backward differentiates no learnable bias or contextual PE (pe.type "${t}")`;
  return null;
}

/** The chain of an LM; throws naming the config's field, or saying why `fusedTrainingSupport` refuses it. */
export function lmChain(config: LMConfig): Chain<LMParams, Batch> {
  const why = fusedTrainingSupport(config);
  if (why !== null) fail("lmChain", `this model cannot train through the fused kernels: ${why}`);
  const H = config.heads;
  // a segment's norms: Norm1 of the block it starts, Norm2 of the block it ends
  const preNorm = (p: LMSegmentParams) => (sublayer: 1 | 2, h: np.Array) =>
    norm(config.norm, sublayer === 1 ? p.next!.norm1 : p.prev!.norm2, h);
  const inputs = (p: LMSegmentParams, x: np.Array) => attentionInputs(p.next!, x, { heads: H, preNorm: preNorm(p) }, {}, null); // q, k, v (B, H, L, D)
  const rest = (p: LMSegmentParams, x: np.Array, o: np.Array) =>
    attentionOutput(p.prev!, x, o, { mlp: config.mlp, preNorm: preNorm(p) }, null); // (B, L, C)
  const attention: FlashAttentionOptions = {
    causal: blockConfig(config).causal,
    pe: peSpec(config.pe, {}, { heads: H, headDim: config.width / H }),
  };
  const n = config.depth;
  return {
    layers: n,
    attention,
    split: (p) => {
      const b = p.blocks;
      // no undefined fields: a segment's parameters are a pytree
      const segments: LMSegmentParams[] = [
        { embed: p.embed, next: { norm1: b[0].norm1, qkv: b[0].qkv }, ...(p.absolute ? { absolute: p.absolute } : {}) },
      ];
      for (let i = 1; i < n; i++)
        segments.push({
          prev: { proj: b[i - 1].proj, norm2: b[i - 1].norm2, mlp: b[i - 1].mlp },
          next: { norm1: b[i].norm1, qkv: b[i].qkv },
        });
      const last = b[n - 1];
      segments.push({
        prev: { proj: last.proj, norm2: last.norm2, mlp: last.mlp },
        normF: p.normF,
        ...(config.tied ? { embed: p.embed } : {}),
        ...(p.head ? { head: p.head } : {}),
      });
      return segments;
    },
    merge: (g) => {
      const s = g as LMSegmentParams[];
      const blocks: BlockParams[] = [];
      for (let i = 0; i < n; i++) blocks.push({ ...s[i].next!, ...s[i + 1].prev! });
      const grads: LMParams = { embed: s[0].embed!, blocks, normF: s[n].normF! };
      if (config.tied) grads.embed = { table: np.add(s[0].embed!.table, s[n].embed!.table) }; // (V, C)
      if (s[0].absolute) grads.absolute = s[0].absolute;
      if (s[n].head) grads.head = s[n].head;
      return grads;
    },
    first: (p, batch) => {
      batch.targets.dispose();
      batch.mask.dispose();
      const x = lmEmbed(p as Pick<LMParams, "embed" | "absolute">, config, batch.tokens); // (B, L, C)
      return { carry: x.ref, ...inputs(p, x) };
    },
    middle: (p, x, o) => {
      const y = rest(p, x, o); // (B, L, C)
      return { carry: y.ref, ...inputs(p, y) };
    },
    last: (p, x, o, batch) => {
      batch.tokens.dispose();
      const logits = lmHead(p as Pick<LMParams, "embed" | "normF" | "head">, config, rest(p, x, o)); // (B, L, V)
      return crossEntropy(logits, batch.targets, batch.mask); // ()
    },
  };
}
