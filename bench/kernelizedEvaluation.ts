/**
 * Dense or FFT evaluation of kernelized attention with RPE, forward and
 * backward, float32: the time of one jitted gradient of
 * sum(kernelizedRpeAttention(q, k, v)) with respect to q, k, v and the bias,
 * with `evaluation: "fft"` and with `evaluation: "dense"`, measured in the
 * same run, and what `evaluation: "auto"` takes (`kernelizedEvaluation`):
 *
 *   npm run bench:kernelized-evaluation                           # WebAssembly, the lab's shapes
 *   npm run bench:kernelized-evaluation -- --device webgpu --B 32 --H 8 --L 128
 *
 * Causal, PRF features (M = 32, softmax input scaling, no q/k
 * normalisation), head dimension D = Dv = 16, bias b_{j-i} = -0.01 |j - i|.
 * Rows zip --B, --H and --L; the defaults are the stability experiment's
 * quick and full model sizes (one layer's attention) and one long sequence.
 * Each gradient is read back whole; the two evaluations' outputs and
 * gradients are compared (largest difference relative to the largest
 * magnitude), so that the times are of the same computation.
 */
import { grad, jit, numpy as np } from "@jax-js/jax";
import { kernelizedEvaluation, kernelizedRpeAttention } from "../src/attention/kernelized.js";
import { gaussianOrthogonalProjection } from "../src/pe/orthogonalFeatures.js";
import { rng } from "../src/pe/random.js";
import { init } from "../src/runtime/init.js";
import { parseFlags } from "./flags.js";
import { timeRuns } from "./timing.js";

const flags = parseFlags("bench/kernelizedEvaluation.ts", process.argv.slice(2), {
  device: { kind: "names", default: ["wasm"], allowed: ["wasm", "webgpu"] },
  B: { kind: "ints", default: [16, 32, 1] },
  H: { kind: "ints", default: [4, 8, 8] },
  L: { kind: "ints", default: [64, 128, 1024] },
  reps: { kind: "int", default: 3 },
});
if (flags.device.length !== 1) throw new Error("bench/kernelizedEvaluation.ts: --device takes one device");
if (flags.B.length !== flags.L.length || flags.H.length !== flags.L.length)
  throw new Error("bench/kernelizedEvaluation.ts: --B, --H and --L must list as many values each");
const rt = await init({ device: flags.device[0] as "wasm" | "webgpu" });
const [M, D, Dv] = [32, 16, 16];
console.log(`kernelized attention, forward + backward, causal, PRF M=${M}, D=Dv=${D}, float32, on ${rt.description}`);
console.log("B x H x L        fft ms   dense ms   fft/dense   auto    max rel diff");

const normals = (n: number, seed: number, scale: number) => {
  const r = rng(seed);
  return np.array(Float32Array.from({ length: n }, () => scale * r.normal()));
};
const relDiff = (a: Float32Array, b: Float32Array) => {
  let diff = 0;
  let size = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    size = Math.max(size, Math.abs(b[i]));
  }
  return diff / size;
};

for (let row = 0; row < flags.L.length; row++) {
  const [B, H, L] = [flags.B[row], flags.H[row], flags.L[row]];
  const q = normals(B * H * L * D, 1, 0.5).reshape([B, H, L, D]);
  const k = normals(B * H * L * D, 2, 0.5).reshape([B, H, L, D]);
  const v = normals(B * H * L * Dv, 3, 1).reshape([B, H, L, Dv]);
  const b = np
    .array(Float32Array.from({ length: H * (2 * L - 1) }, (_, i) => -0.01 * Math.abs((i % (2 * L - 1)) - (L - 1))))
    .reshape([H, 2 * L - 1]);
  const W = np.array(Float32Array.from(gaussianOrthogonalProjection(M, D, { seed: 9, scaling: "chi" }))).reshape([M, D]);
  const results: { ms: number; values: Float32Array[] }[] = [];
  for (const evaluation of ["fft", "dense"] as const) {
    const f = jit(
      grad(
        (q: np.Array, k: np.Array, v: np.Array, b: np.Array, W: np.Array) =>
          kernelizedRpeAttention(q, k, v, {
            features: { kind: "prf", projection: W, inputScale: "softmax" },
            qkNorm: "none",
            rpe: b,
            causal: true,
            evaluation,
          }).sum(),
        { argnums: [0, 1, 2, 3] },
      ),
    );
    let values: Float32Array[] = [];
    const timing = await timeRuns(
      async () => {
        const gs = f(q.ref, k.ref, v.ref, b.ref, W.ref) as np.Array[];
        values = (await Promise.all(gs.map((g) => g.data()))) as Float32Array[];
      },
      { warmup: 1, warmupMs: 0, reps: flags.reps },
    );
    f.dispose();
    results.push({ ms: timing.medianMs, values });
  }
  const auto = kernelizedEvaluation([B, H, L, M], Dv, np.float32, { causal: true, rpe: [] });
  const diff = Math.max(...results[0].values.map((g, i) => relDiff(results[1].values[i], g)));
  const [fft, dense] = results.map((r) => r.ms);
  console.log(
    `${`${B} x ${H} x ${L}`.padEnd(15)} ${fft.toFixed(1).padStart(8)} ${dense.toFixed(1).padStart(10)} ${(fft / dense).toFixed(1).padStart(11)}   ${auto.padEnd(6)}  ${diff.toExponential(1)}`,
  );
  for (const a of [q, k, v, b, W]) a.dispose();
}
