/**
 * The BigGAN-style discriminator of HWT and WriteViT, at small scale: residual
 * down-sampling blocks, ReLU, a sum over the grid and a linear score per image:
 *
 *   h   = DBlock_1(x) ... DBlock_k(h)                   (B, H / 2^d, W / 2^d, c_k)
 *   out = sum_{i, j} ReLU(h)[i, j] w + b                (B) scores, hinge loss
 *
 *   DBlock(x) = AvgPool2(Conv3(ReLU(Conv3(pre(x))))) + AvgPool2(Conv1(x))
 *
 * with pre = ReLU except in the first block (BigGAN's `preactivation`), the
 * average pool only in the down-sampling blocks, and the 1x1 shortcut only
 * where the widths differ or the block down-samples. Every convolution and
 * the linear layer are spectrally normalised in training: `discriminate`
 * takes the parameters as they enter the forward pass, `spectralDiscriminator`
 * makes them (w / sigma, src/nn/spectralNorm.ts) from the raw weights and
 * the power-iteration state, which `discriminatorPowerIteration` advances.
 *
 * Shapes: B batch, H x W image, c_k widths.
 *
 * Reference: Brock et al., BigGAN, https://arxiv.org/abs/1809.11096
 * (`DBlock`, `Discriminator`); Miyato et al., spectral normalization,
 * https://arxiv.org/abs/1802.05957; Bhunia et al., HWT and Nam et al.,
 * WriteViT, models/BigGAN_networks.py, https://github.com/hnam-1765/WriteViT
 */
import { type DType, nn, numpy as np } from "@jax-js/jax";
import type { Rng } from "../pe/random.js";
import { type ConvConfig, conv2d, initConv } from "./conv.js";
import { initLinear, type LinearParams, linear } from "./linear.js";
import { initSpectralNormState, type SpectralNormState, spectralNormalized, spectralNormStep } from "./spectralNorm.js";

export interface DiscriminatorConfig {
  /** Width of the first block; the blocks have 1, 2, 4, 4 times it. */
  width: number;
}

export interface DBlockParams {
  a: LinearParams;
  b: LinearParams;
  skip?: LinearParams;
}

export interface DiscriminatorParams {
  blocks: DBlockParams[];
  /** c_k -> 1 */
  out: LinearParams;
}

const C3: ConvConfig = { kernel: 3, stride: 1, padding: 1 };
const C1: ConvConfig = { kernel: 1, stride: 1, padding: 0 };

/** [in, out, downsample] of each block. */
function layout(c: number): [number, number, boolean][] {
  return [
    [1, c, true],
    [c, 2 * c, true],
    [2 * c, 4 * c, true],
    [4 * c, 4 * c, false],
  ];
}

export function initDiscriminator(r: Rng, config: DiscriminatorConfig, dtype: DType = np.float32): DiscriminatorParams {
  const blocks = layout(config.width).map(([cin, cout, down]) => {
    const p: DBlockParams = { a: initConv(r, cin, cout, C3, dtype), b: initConv(r, cout, cout, C3, dtype) };
    if (cin !== cout || down) p.skip = initConv(r, cin, cout, C1, dtype);
    return p;
  });
  return { blocks, out: initLinear(r, 4 * config.width, 1, { dtype }) };
}

/** 2x2 average pooling: (B, H, W, C) -> (B, H/2, W/2, C). Consumes x. */
function avgPool2(x: np.Array): np.Array {
  const [B, H, W, C] = x.shape;
  return np.mean(x.reshape([B, H / 2, 2, W / 2, 2, C]), [2, 4]); // (B, H/2, W/2, C)
}

/** images (B, H, W, 1) -> scores (B). Borrows the parameters, consumes the images. H and W must be multiples of 8. */
export function discriminate(p: DiscriminatorParams, config: DiscriminatorConfig, images: np.Array): np.Array {
  let x = images;
  layout(config.width).forEach(([, , down], i) => {
    const blk = p.blocks[i];
    const pre = i === 0 ? x.ref : nn.relu(x.ref);
    let h = conv2d(blk.b, nn.relu(conv2d(blk.a, pre, C3)), C3); // (B, H, W, Cout)
    let s = blk.skip ? conv2d(blk.skip, x, C1) : x; // (B, H, W, Cout)
    if (down) {
      h = avgPool2(h);
      s = avgPool2(s);
    }
    x = np.add(h, s); // (B, H', W', Cout)
  });
  const pooled = np.sum(nn.relu(x), [1, 2]); // (B, c_k)
  return linear(p.out, pooled).reshape([pooled.shape[0]]); // (B)
}

/** The power-iteration state of every weight, shaped as the parameters' weights. */
export interface DiscriminatorSpectralState {
  blocks: { a: SpectralNormState; b: SpectralNormState; skip?: SpectralNormState }[];
  out: SpectralNormState;
}

/** torch's initial state (u, v ~ N(0, 1), normalised) for every weight. Borrows the parameters. */
export function initDiscriminatorSpectral(r: Rng, p: DiscriminatorParams): DiscriminatorSpectralState {
  return {
    blocks: p.blocks.map((b) => ({
      a: initSpectralNormState(r, b.a.w),
      b: initSpectralNormState(r, b.b.w),
      ...(b.skip && { skip: initSpectralNormState(r, b.skip.w) }),
    })),
    out: initSpectralNormState(r, p.out.w),
  };
}

/** One power iteration for every weight (torch's training-mode forward). Borrows the parameters, consumes the state. */
export function discriminatorPowerIteration(p: DiscriminatorParams, s: DiscriminatorSpectralState): DiscriminatorSpectralState {
  const step = (w: np.Array, st: SpectralNormState): SpectralNormState => {
    const { u, v, sigma } = spectralNormStep(w, st);
    sigma.dispose();
    return { u, v };
  };
  return {
    blocks: p.blocks.map((b, i) => ({
      a: step(b.a.w, s.blocks[i].a),
      b: step(b.b.w, s.blocks[i].b),
      ...(b.skip && { skip: step(b.skip.w, s.blocks[i].skip!) }),
    })),
    out: step(p.out.w, s.out),
  };
}

/** The parameters of the forward pass: every weight w / sigma(w; u, v), biases as they are. Borrows both. */
export function spectralDiscriminator(p: DiscriminatorParams, s: DiscriminatorSpectralState): DiscriminatorParams {
  const sn = (l: LinearParams, st: SpectralNormState): LinearParams => ({
    w: spectralNormalized(l.w.ref, st),
    ...(l.b && { b: l.b.ref }),
  });
  return {
    blocks: p.blocks.map((b, i) => ({
      a: sn(b.a, s.blocks[i].a),
      b: sn(b.b, s.blocks[i].b),
      ...(b.skip && { skip: sn(b.skip, s.blocks[i].skip!) }),
    })),
    out: sn(p.out, s.out),
  };
}
