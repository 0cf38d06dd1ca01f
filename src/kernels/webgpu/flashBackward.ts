/**
 * The backward pass of fused attention on WebGPU, float32 (FlashAttention-2's
 * backward): the gradients of `flashAttention`'s output with respect to q, k
 * and v, without any (L, S) matrix in memory. With the forward's row
 * statistics (m_i, l_i) from `flashAttentionWithStats`:
 *
 *   P_ij    = exp(s_ij - m_i) / l_i              s: the forward's logits (masked: lowest float32)
 *   delta_i = sum_e dO_ie O_ie
 *   dS_ij   = visible(i, j) ? P_ij (dO_i . v_j - delta_i) : 0
 *   dq~_i   = scale sum_j dS_ij k~_j,  dk~_j = scale sum_i dS_ij q~_i,  dv_j = sum_i P_ij dO_i
 *
 * summed over the query heads of a key head (grouped-query attention). With
 * RoPE, q~ = a R(p) q, so dq = a R(p)^T dq~ = a R(-p) dq~: the forward's
 * rotation pass with negated angles (likewise dk). Masks (causal, window,
 * stripes), query offsets, positions and fixed biases (ALiBi) are the
 * forward's; a learnable bias (T5, learned table, KERPLE) is refused, since
 * its parameters' gradient is not computed here. The kernels are in
 * flashBackwardShader.ts.
 *
 * The results are fresh jax-js arrays written on the GPU (no readback), so a
 * training step continues in jax-js (train/fusedStep.ts).
 *
 * Reference: Dao, FlashAttention-2, https://arxiv.org/abs/2307.08691 (Algorithm 2).
 */
import { getWebGPUDevice, numpy as np } from "@jax-js/jax";
import { peArrays } from "../../attention/spec.js";
import { describe, fail } from "../../core/validate.js";
import { biasArguments, type FlashAttentionOptions, prepareFlash, rotated, rotation } from "./flashAttention.js";
import { BACKWARD_TILE, backwardWorkgroupBytes, flashDkvProgram, flashDqProgram } from "./flashBackwardShader.js";
import { freshJaxArray, GpuTensor } from "./gpuTensor.js";
import { consuming, Dispatcher, PipelineCache } from "./program.js";

const FN = "flashAttentionBackward";
const pipelines = new PipelineCache();

/** Gradients of fused attention with respect to its inputs, as fresh jax-js float32 arrays. */
export interface FlashGradients {
  /** (B, H, L, D) */
  dq: np.Array;
  /** (B, Hkv, S, D) */
  dk: np.Array;
  /** (B, Hkv, S, Dv) */
  dv: np.Array;
}

/**
 * dq, dk, dv of `out = flashAttention(q, k, v, options)` for the output's cotangent `dOut` (module header:
 * formulas). `out` and `stats` come from `flashAttentionWithStats` with the same arguments and options.
 * Consumes q, k, v, out, dOut and the encoding's arrays; borrows `stats`.
 *
 * Reference: Dao, FlashAttention-2, https://arxiv.org/abs/2307.08691.
 */
export async function flashAttentionBackward(
  q: np.Array,
  k: np.Array,
  v: np.Array,
  out: np.Array,
  stats: GpuTensor,
  dOut: np.Array,
  options: FlashAttentionOptions = {},
): Promise<FlashGradients> {
  const pe = options.pe ?? { type: "none" };
  return consuming([q, k, v, out, dOut, ...peArrays(pe)], async () => {
    const abort = (m: string): never => fail(FN, m);
    const call = prepareFlash(FN, q, k, v, options, pe);
    const { B, H, L, D, Hkv, S, Dv, plan, stripes } = call;
    if (call.half) abort("float16 q, k, v are not supported by the backward pass; pass float32");
    if (plan.kind === "table" || plan.kind === "t5" || plan.kind.startsWith("kerple"))
      abort(`the gradient of a learnable bias (${plan.kind}) is not computed by the fused backward; use attention() and grad`);
    const want = [B, H, L, Dv];
    for (const [name, x] of [
      ["out", out],
      ["dOut", dOut],
    ] as const) {
      if (x.dtype !== np.float32 || x.device !== "webgpu" || x.shape.join() !== want.join())
        abort(`${name} must be a float32 webgpu array of shape (${want.join(", ")}), got ${x.dtype} ${x.device} (${x.shape.join(", ")})`);
    }
    if (!(stats instanceof GpuTensor) || stats.shape.join() !== [B, H, L, 2].join())
      abort(
        `stats must be the (${[B, H, L, 2].join(", ")}) GpuTensor of statistics from flashAttentionWithStats, got ${stats instanceof GpuTensor ? `(${stats.shape.join(", ")})` : describe(stats)}`,
      );
    const bytes = backwardWorkgroupBytes(D, Dv);
    if (bytes > call.workgroupBytes)
      abort(`D = ${D}, Dv = ${Dv} need ${bytes} bytes of workgroup memory, more than the ${call.workgroupBytes} this device allows`);
    const device = getWebGPUDevice();
    const maxGroups = device.limits.maxComputeWorkgroupsPerDimension;
    const qTiles = Math.ceil(L / BACKWARD_TILE);
    const kTiles = Math.ceil(S / BACKWARD_TILE);
    if (Math.max(qTiles, kTiles) > maxGroups)
      abort(`L = ${L} and S = ${S} need more than the device's ${maxGroups} workgroups per dimension`);

    const axis = stripes?.axis ?? null;
    const key = `${D}:${Dv}:${plan.kind === "rotary" ? "none" : plan.key}:${axis ?? "-"}`;
    const dqKernel = await pipelines.get(device, FN, `dq:${key}`, () => flashDqProgram(D, Dv, plan, axis));
    const dkvKernel = await pipelines.get(device, FN, `dkv:${key}`, () => flashDkvProgram(D, Dv, plan, axis));
    const rotate = await rotation(call);
    const dq = await freshJaxArray([B, H, L, D]);
    const dk = await freshJaxArray([B, Hkv, S, D]);
    const dv = await freshJaxArray([B, Hkv, S, Dv]);
    const run = new Dispatcher(device, FN);
    let qBuffer = await q.ref.gpuBuffer();
    let kBuffer = await k.ref.gpuBuffer();
    if (rotate) {
      qBuffer = rotated(run, rotate, call, "q", qBuffer, false);
      kBuffer = rotated(run, rotate, call, "k", kBuffer, false);
    }
    // with RoPE the kernels write dq~ and dk~, rotated back below
    const dqT = rotate ? run.temporary(dq.array.size * 4) : dq.buffer;
    const dkT = rotate ? run.temporary(dk.array.size * 4) : dk.buffer;
    const delta = run.temporary(B * H * L * 4);
    const args = {
      L,
      S,
      H,
      Hkv,
      qOff: call.queryOffset,
      left: call.left,
      right: call.right,
      scale: call.scale,
      gridW: stripes?.grid[1] ?? 1,
      stripeW: stripes?.width ?? 1,
      q: qBuffer,
      k: kBuffer,
      v: await v.ref.gpuBuffer(),
      dout: await dOut.ref.gpuBuffer(),
      st: stats.buffer,
      ...(await biasArguments(run, call)),
    };
    run.dispatch(dqKernel, { ...args, tiles: qTiles, o: await out.ref.gpuBuffer(), dq: dqT, delta }, [qTiles, H, B]);
    run.dispatch(dkvKernel, { ...args, deltaIn: delta, dk: dkT, dv: dv.buffer }, [kTiles, Hkv, B]);
    if (rotate) {
      rotated(run, rotate, call, "q", dqT, true, dq.buffer);
      rotated(run, rotate, call, "k", dkT, true, dk.buffer);
    }
    run.submit();
    return { dq: dq.array, dk: dk.array, dv: dv.array };
  });
}
