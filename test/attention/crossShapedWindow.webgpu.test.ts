/**
 * Cross-shaped window attention on WebGPU (Dawn; Mesa lavapipe on CI) in
 * float32, against the float64 masked-attention reference. Fails (never
 * skips) when no adapter is found.
 */
import { numpy as np } from "@jax-js/jax";
import { afterAll, describe, expect, it } from "vitest";
import { crossShapedWindowAttention } from "../../src/attention/crossShapedWindow.js";
import { init, teardown } from "../../src/runtime/init.js";
import { randn } from "../gradcheck.js";
import { expectClose, FLOAT32_EPS } from "../tolerance.js";
import { type CswinShape, maskedAttentionReference } from "./cswinReference.js";

/**
 * float32 against float64 on the same (float32-rounded) inputs, |q|, |k|, |v| <~ 4:
 * logits of d <= 4 products carry a few ulps (absolute ~1e-6 at |logit| <~ 10),
 * WGSL's exp is accurate to 3 + 2|x| ulps, so each softmax weight is off by
 * ~2e-6 relative and the weighted sum of values (<~ 4) by ~1e-5 absolute;
 * LePE adds 9 rounded products of the same size. 256 ulps of 1 absolute
 * (1.5e-5) and 64 ulps relative cover both with margin (lavapipe measured
 * 4.5e-7); a wrong mask or window moves outputs by O(1).
 */
const FLOAT32_CSWIN = { rtol: 64 * FLOAT32_EPS, atol: 256 * FLOAT32_EPS };

afterAll(async () => {
  await teardown();
});

describe("crossShapedWindowAttention on webgpu (float32)", () => {
  const shapes: CswinShape[] = [
    { batch: 2, height: 5, width: 7, channels: 8, heads: 4, mode: "cross", stripeWidth: 3, scale: 0.5 },
    { batch: 1, height: 4, width: 4, channels: 8, heads: 2, mode: "global", stripeWidth: 0, scale: 0.5 },
  ];
  for (const s of shapes) {
    it(`${s.mode} ${s.height}x${s.width}${s.mode === "cross" ? `, stripes of ${s.stripeWidth} (padded)` : ""} equals the float64 reference`, async () => {
      const rt = await init({ device: "webgpu" });
      expect(rt.device).toBe("webgpu");
      const shape = [s.batch, s.height * s.width, s.channels];
      const xs = [randn(shape, 1), randn(shape, 2), randn(shape, 3), randn([s.channels, 3, 3], 4, 0.5), randn([s.channels], 5, 0.5)].map(
        (x) => ({
          data: Float64Array.from(Float32Array.from(x.data)),
          shape: x.shape,
        }),
      );
      const [q, k, v, w, b] = xs.map((x) => np.array(Float32Array.from(x.data)).reshape(x.shape));
      const out = crossShapedWindowAttention(
        q,
        k,
        v,
        w,
        b,
        s.mode === "cross"
          ? { mode: "cross", stripeWidth: s.stripeWidth, height: s.height, width: s.width, heads: s.heads, scale: s.scale }
          : { mode: "global", height: s.height, width: s.width, heads: s.heads, scale: s.scale },
      );
      expect(out.dtype).toBe("float32");
      const got = Float64Array.from(await out.data());
      const expected = maskedAttentionReference(xs[0].data, xs[1].data, xs[2].data, xs[3].data, xs[4].data, s);
      expectClose(got, expected, FLOAT32_CSWIN);
    });
  }
});
