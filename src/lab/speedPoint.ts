/**
 * One measurement of `posenc lab speed`, run in its own process so that its
 * peak memory is its own (jax-js's WebAssembly memory only grows):
 *
 *   node speedPoint.js '{"method":"softmax","L":1024,"H":4,"D":32,"M":32,"device":"wasm","reps":3}'
 *
 * Prints one JSON line: { ms (median of reps after one warm-up), samples,
 * peakBytes, memory: what peakBytes measures } or { error }.
 * Memory: on WebAssembly the size of jax-js's linear memory at the end (its
 * peak); on WebGPU the peak total size of live GPU buffers (createBuffer
 * minus destroy, counted through the device).
 */
import { wasmMemories } from "./wasmMemory.js"; // first: before jax-js creates its memory

const { getWebGPUDevice, jit, numpy: np } = await import("@jax-js/jax");
const { init, teardown } = await import("../runtime/init.js");
const { attention } = await import("../attention/attention.js");
const { kernelizedAttentionInChunks } = await import("../attention/kernelized.js");
const { prf, projection } = await import("../attention/featureMaps.js");
const { rng } = await import("../pe/random.js");

export interface SpeedPoint {
  method: "softmax" | "kernelized";
  L: number;
  H: number;
  D: number;
  M: number;
  device: "wasm" | "webgpu" | "cpu";
  reps: number;
}

const p = JSON.parse(process.argv[2]) as SpeedPoint;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

try {
  const rt = await init({ device: p.device });
  let live = 0;
  let peakGpu = 0;
  if (rt.device === "webgpu") {
    const device = getWebGPUDevice();
    const create = device.createBuffer.bind(device);
    device.createBuffer = (d: GPUBufferDescriptor) => {
      const b = create(d);
      live += d.size;
      peakGpu = Math.max(peakGpu, live);
      const destroy = b.destroy.bind(b);
      let gone = false;
      b.destroy = () => {
        if (!gone) live -= d.size;
        gone = true;
        destroy();
      };
      return b;
    };
  }
  const r = rng(p.L);
  const input = () => np.array(Float32Array.from({ length: p.H * p.L * p.D }, () => r.normal())).reshape([1, p.H, p.L, p.D]); // (B, H, L, D)
  const softmax = jit((q: InstanceType<typeof np.Array>, k: InstanceType<typeof np.Array>, v: InstanceType<typeof np.Array>) =>
    attention(q, k, v, { causal: true }),
  );
  const bias = Float32Array.from({ length: p.H * (2 * p.L - 1) }, (_, i) => -0.01 * Math.abs((i % (2 * p.L - 1)) - (p.L - 1)));
  const features = jit((q: InstanceType<typeof np.Array>, k: InstanceType<typeof np.Array>, W: InstanceType<typeof np.Array>) => [
    prf(q, W.ref, { role: "query", inputScale: "softmax" }),
    prf(k, W, { role: "key", inputScale: "softmax" }),
  ]);
  const run = async () => {
    const [q, k, v] = [input(), input(), input()];
    const t0 = performance.now();
    let out: InstanceType<typeof np.Array>;
    if (p.method === "softmax") out = softmax(q, k, v);
    else {
      const [pq, pk] = features(q, k, projection(p.M, p.D, { seed: 1, scaling: "chi", dtype: np.float32 }));
      out = await kernelizedAttentionInChunks(pq, pk, v, { causal: true, rpe: np.array(bias).reshape([p.H, 2 * p.L - 1]) });
    }
    await out.data();
    return performance.now() - t0;
  };
  await run();
  const samples: number[] = [];
  for (let i = 0; i < p.reps; i++) samples.push(await run());
  const wasmBytes = wasmMemories.reduce((a, m) => a + m.buffer.byteLength, 0);
  const gpu = rt.device === "webgpu";
  console.log(
    JSON.stringify({
      ms: median(samples),
      samples,
      peakBytes: gpu ? peakGpu : wasmBytes,
      memory: gpu ? "peak live GPU buffers" : "WebAssembly memory",
    }),
  );
  await teardown();
} catch (err) {
  console.log(JSON.stringify({ error: (err as Error).message.split("\n")[0].slice(0, 300) }));
}
