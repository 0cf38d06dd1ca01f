/**
 * Plain float64 references for the 2-D convolutional and cross-shaped
 * attention tests: full softmax attention over all H*W tokens with a block
 * mask ("same stripe"), and LePE as a convolution restricted to the block.
 * No jax-js here: they run the same on every device's test.
 */

export interface CswinShape {
  batch: number;
  height: number;
  width: number;
  channels: number;
  heads: number;
  /** "cross" with a stripe width, or "global". */
  mode: "cross" | "global";
  stripeWidth: number;
  scale: number;
}

/** Block of token (r, c) in a branch: the stripe it lies in. */
type Block = (r: number, c: number) => number;

interface Branch {
  from: number;
  to: number;
  block: Block;
}

function branches(s: CswinShape): Branch[] {
  if (s.mode === "global") return [{ from: 0, to: s.channels, block: () => 0 }];
  const half = s.channels / 2;
  return [
    { from: 0, to: half, block: (_r, c) => Math.floor(c / s.stripeWidth) }, // vertical stripes: sw columns
    { from: half, to: s.channels, block: (r) => Math.floor(r / s.stripeWidth) }, // horizontal stripes: sw rows
  ];
}

/**
 * Depthwise 3x3 convolution of v (B, H*W, C) over channels [from, to), where
 * a neighbour counts only inside the grid and in the same block. Adds into out.
 */
export function blockConv(
  v: Float64Array,
  weight: ArrayLike<number>,
  bias: ArrayLike<number>,
  s: { batch: number; height: number; width: number; channels: number },
  from: number,
  to: number,
  block: Block,
  out: Float64Array,
): void {
  const { height: H, width: W, channels: C } = s;
  for (let b = 0; b < s.batch; b++) {
    for (let r = 0; r < H; r++) {
      for (let c = 0; c < W; c++) {
        const n = b * H * W + r * W + c;
        for (let ch = from; ch < to; ch++) {
          let acc = bias[ch];
          for (let i = 0; i < 3; i++) {
            for (let j = 0; j < 3; j++) {
              const rr = r + i - 1;
              const cc = c + j - 1;
              if (rr < 0 || rr >= H || cc < 0 || cc >= W || block(rr, cc) !== block(r, c)) continue;
              acc += weight[ch * 9 + i * 3 + j] * v[(b * H * W + rr * W + cc) * C + ch];
            }
          }
          out[n * C + ch] += acc;
        }
      }
    }
  }
}

/**
 * Cross-shaped window attention as full softmax attention with a block mask:
 * for each branch and head, logits scale q_i.k_j over all tokens, -infinity
 * where j is not in i's stripe, softmax over j, times v; plus LePE.
 */
export function maskedAttentionReference(
  q: Float64Array,
  k: Float64Array,
  v: Float64Array,
  lepeWeight: ArrayLike<number>,
  lepeBias: ArrayLike<number>,
  s: CswinShape,
): Float64Array {
  const { batch: B, height: H, width: W, channels: C, heads } = s;
  const N = H * W;
  const d = C / heads;
  const out = new Float64Array(B * N * C);
  for (const br of branches(s)) {
    const mask = Array.from({ length: N }, (_, i) =>
      Array.from({ length: N }, (_, j) => br.block(Math.floor(i / W), i % W) === br.block(Math.floor(j / W), j % W)),
    );
    for (let b = 0; b < B; b++) {
      for (let h0 = br.from; h0 < br.to; h0 += d) {
        for (let i = 0; i < N; i++) {
          const logits = new Float64Array(N);
          let max = -Infinity;
          for (let j = 0; j < N; j++) {
            let dot = 0;
            for (let c = h0; c < h0 + d; c++) dot += q[(b * N + i) * C + c] * k[(b * N + j) * C + c];
            logits[j] = mask[i][j] ? s.scale * dot : -Infinity;
            max = Math.max(max, logits[j]);
          }
          let total = 0;
          for (let j = 0; j < N; j++) total += logits[j] = Math.exp(logits[j] - max);
          for (let c = h0; c < h0 + d; c++) {
            let acc = 0;
            for (let j = 0; j < N; j++) acc += (logits[j] / total) * v[(b * N + j) * C + c];
            out[(b * N + i) * C + c] = acc;
          }
        }
      }
    }
    blockConv(v, lepeWeight, lepeBias, s, br.from, br.to, br.block, out);
  }
  return out;
}
