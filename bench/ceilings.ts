/**
 * The machine's ceilings for `npm run bench` (bench/run.ts), measured on the
 * WebGPU device in the same run as the cases, so that a case's TFLOP/s and
 * GB/s can be read as fractions of what this device reaches through WebGPU:
 *
 * - compute: a float32 matmul C = A B of n x n matrices (n = 4096 on a GPU)
 *   by a tiled WGSL kernel: 128 x 128 output tiles per workgroup of 16 x 16
 *   invocations, each accumulating 8 x 8 outputs in registers (rows 4y..4y+3
 *   and 64+4y.., columns 4x..4x+3 and 64+4x..: conflict-free vec4 reads of
 *   workgroup memory), 16-deep slices of A (transposed) and B staged in
 *   workgroup memory with vec4 loads; 2 n^3 FLOPs.
 *   A few entries of C are checked against a float64 dot product.
 * - memory: a vec4 buffer copy of up to 1 GiB (the largest the device binds),
 *   bytes read + bytes written.
 *
 * Each sample submits several dispatches in one command buffer (enough for
 * ~25 ms of work) and waits for `queue.onSubmittedWorkDone()`; the time per
 * dispatch is the sample's time over their number.
 */
import { grid2d, readFloats, storageBuffer } from "../src/kernels/webgpu/gpuTensor.js";
import { PipelineCache, type Program, program } from "../src/kernels/webgpu/program.js";
import { median, timeOnce } from "./timing.js";

export interface MatmulCeiling {
  /** Matrix size: C (n, n) = A (n, n) B (n, n). */
  n: number;
  flops: number;
  medianMs: number;
  samplesMs: number[];
  dispatchesPerSample: number;
  tflops: number;
  /** Worst |C - C64| / (n u sum_k |A_ik B_kj|) over the checked entries (<= 1 passes). */
  checkRatio: number;
}

export interface CopyCeiling {
  /** Size of each of the two buffers. */
  bufferBytes: number;
  /** Bytes read + written per copy. */
  bytesMoved: number;
  medianMs: number;
  samplesMs: number[];
  dispatchesPerSample: number;
  gbps: number;
}

export interface Ceilings {
  matmul: MatmulCeiling;
  copy: CopyCeiling;
}

const FN = "bench.ceilings";
const TILE = 128;
const DEPTH = 16;
const TARGET_MS = 25;
const pipelines = new PipelineCache();

/** Measures both ceilings: an n x n x n matmul (n a multiple of 128) and a copy of `copyBytes`, clamped to the device's limits. */
export async function measureCeilings(
  device: GPUDevice,
  opts: { n: number; copyBytes: number; warmup: number; reps: number },
): Promise<Ceilings> {
  return { matmul: await matmul(device, opts.n, opts), copy: await copy(device, opts.copyBytes, opts) };
}

async function matmul(device: GPUDevice, n: number, opts: { warmup: number; reps: number }): Promise<MatmulCeiling> {
  if (n % TILE !== 0) throw new Error(`${FN}: the matmul size must be a multiple of ${TILE}, got ${n}`);
  const a = new Float32Array(n * n).map(() => 2 * Math.random() - 1);
  const b = new Float32Array(n * n).map(() => 2 * Math.random() - 1);
  const bufA = storageBuffer(device, 4 * n * n, a);
  const bufB = storageBuffer(device, 4 * n * n, b);
  const bufC = storageBuffer(device, 4 * n * n);
  const { pipeline } = await pipelines.get(device, FN, `matmul${n}`, () => matmulProgram(n));
  const bind = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [bufA, bufB, bufC].map((buffer, binding) => ({ binding, resource: { buffer } })), // a, b, c as declared
  });
  const timing = await timeDispatches(device, pipeline, bind, [n / TILE, n / TILE], opts);
  const c = await readFloats(device, bufC, 0, 4 * n * n);
  let checkRatio = 0;
  for (let s = 0; s < 16; s++) {
    const i = Math.floor(Math.random() * n);
    const j = Math.floor(Math.random() * n);
    let exact = 0;
    let magnitude = 0;
    for (let k = 0; k < n; k++) {
      exact += a[i * n + k] * b[k * n + j];
      magnitude += Math.abs(a[i * n + k] * b[k * n + j]);
    }
    checkRatio = Math.max(checkRatio, Math.abs(c[i * n + j] - exact) / (n * 2 ** -24 * magnitude));
  }
  for (const buf of [bufA, bufB, bufC]) buf.destroy();
  if (!(checkRatio <= 1))
    throw new Error(`${FN}: the ${n}^3 matmul kernel computed wrong values (error ${checkRatio.toFixed(1)} x its bound)`);
  const flops = 2 * n ** 3;
  return { n, flops, ...timing, tflops: flops / (timing.medianMs * 1e-3) / 1e12, checkRatio };
}

async function copy(device: GPUDevice, requested: number, opts: { warmup: number; reps: number }): Promise<CopyCeiling> {
  const cap = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
  const bytes = Math.floor(Math.min(requested, cap) / 4096) * 4096;
  const src = storageBuffer(device, bytes);
  const dst = storageBuffer(device, bytes);
  // marks at the start, middle and end of the source, checked in the destination afterwards
  const marks = [0, bytes / 2, bytes - 16];
  marks.forEach((at, i) => device.queue.writeBuffer(src, at, new Float32Array([i + 1, i + 2, i + 3, i + 4])));
  const { pipeline } = await pipelines.get(device, FN, "copy", () => COPY);
  const bind = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [src, dst].map((buffer, binding) => ({ binding, resource: { buffer } })), // src, dst as declared
  });
  const timing = await timeDispatches(device, pipeline, bind, grid2d(device, FN, bytes / 16 / 256), opts);
  for (const [i, at] of marks.entries()) {
    const got = await readFloats(device, dst, at, 16);
    if (got.some((x, j) => x !== i + 1 + j)) throw new Error(`${FN}: the copy kernel did not copy the bytes at ${at}`);
  }
  src.destroy();
  dst.destroy();
  return { bufferBytes: bytes, bytesMoved: 2 * bytes, ...timing, gbps: (2 * bytes) / (timing.medianMs * 1e-3) / 1e9 };
}

/** Times `pipeline` over `groups`: one dispatch to calibrate, then samples of several dispatches per submission. */
async function timeDispatches(
  device: GPUDevice,
  pipeline: GPUComputePipeline,
  bind: GPUBindGroup,
  groups: [number, number],
  opts: { warmup: number; reps: number },
): Promise<{ medianMs: number; samplesMs: number[]; dispatchesPerSample: number }> {
  const submit = async (count: number) => {
    const encoder = device.createCommandEncoder();
    for (let i = 0; i < count; i++) {
      const pass = encoder.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bind);
      pass.dispatchWorkgroups(groups[0], groups[1]);
      pass.end();
    }
    device.queue.submit([encoder.finish()]);
    await device.queue.onSubmittedWorkDone();
  };
  await submit(1);
  const once = await timeOnce(() => submit(1));
  const count = Math.max(1, Math.min(64, Math.round(TARGET_MS / once)));
  for (let i = 0; i < opts.warmup; i++) await submit(count);
  const samplesMs: number[] = [];
  for (let i = 0; i < Math.max(3, opts.reps); i++) samplesMs.push((await timeOnce(() => submit(count))) / count);
  return { medianMs: median(samplesMs), samplesMs, dispatchesPerSample: count };
}

/**
 * Row-major A, B, C as vec4 arrays. acc[2 i + j] holds row r_i = (i < 4 ? 4 y + i : 64 + 4 y + i - 4)
 * and columns 4 x .. 4 x + 3 (j = 0) or 64 + 4 x .. (j = 1) of the workgroup's tile.
 */
function matmulProgram(n: number): Program {
  const lanes = ["x", "y", "z", "w"];
  const fmas: string[] = [];
  for (let i = 0; i < 8; i++) {
    const a = `${i < 4 ? "a0" : "a1"}.${lanes[i % 4]}`;
    fmas.push(
      `acc[${2 * i}] = fma(vec4<f32>(${a}), b0, acc[${2 * i}]);`,
      `acc[${2 * i + 1}] = fma(vec4<f32>(${a}), b1, acc[${2 * i + 1}]);`,
    );
  }
  const stores: string[] = [];
  for (let i = 0; i < 8; i++) {
    const row = i < 4 ? `m0 + 4u * lid.y + ${i}u` : `m0 + 64u + 4u * lid.y + ${i - 4}u`;
    stores.push(`c[(${row}) * N4 + n0 / 4u + lid.x] = acc[${2 * i}];`, `c[(${row}) * N4 + n0 / 4u + 16u + lid.x] = acc[${2 * i + 1}];`);
  }
  return program({
    uniforms: [],
    storage: [
      { name: "a", type: "vec4<f32>" },
      { name: "b", type: "vec4<f32>" },
      { name: "c", type: "vec4<f32>", write: true },
    ],
    workgroupSize: [16, 16],
    body: /* wgsl */ `
const N: u32 = ${n}u;
const N4: u32 = ${n / 4}u;
// As[k * 32 + m / 4][m % 4] = A[m0 + m, k0 + k]; Bs[k * 32 + j / 4][j % 4] = B[k0 + k, n0 + j]
var<workgroup> As: array<vec4<f32>, ${(DEPTH * TILE) / 4}>;
var<workgroup> Bs: array<vec4<f32>, ${(DEPTH * TILE) / 4}>;

fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let m0 = wg.y * ${TILE}u;
  let n0 = wg.x * ${TILE}u;
  var acc: array<vec4<f32>, 16>;
  for (var k0 = 0u; k0 < N; k0 += ${DEPTH}u) {
    for (var s = 0u; s < 2u; s++) {
      let r = t / 4u + 64u * s;
      let q = t % 4u;
      let x = a[(m0 + r) * N4 + k0 / 4u + q];
      let m4 = r / 4u;
      let lane = r % 4u;
      As[(4u * q) * 32u + m4][lane] = x.x;
      As[(4u * q + 1u) * 32u + m4][lane] = x.y;
      As[(4u * q + 2u) * 32u + m4][lane] = x.z;
      As[(4u * q + 3u) * 32u + m4][lane] = x.w;
      let kb = t / 32u + 8u * s;
      Bs[kb * 32u + t % 32u] = b[(k0 + kb) * N4 + n0 / 4u + t % 32u];
    }
    workgroupBarrier();
    for (var k = 0u; k < ${DEPTH}u; k++) {
      let a0 = As[k * 32u + lid.y];
      let a1 = As[k * 32u + 16u + lid.y];
      let b0 = Bs[k * 32u + lid.x];
      let b1 = Bs[k * 32u + 16u + lid.x];
      ${fmas.join("\n      ")}
    }
    workgroupBarrier();
  }
  ${stores.join("\n  ")}
}
`,
  });
}

const COPY = program({
  uniforms: [],
  storage: [
    { name: "src", type: "vec4<f32>" },
    { name: "dst", type: "vec4<f32>", write: true },
  ],
  workgroupSize: 256,
  body: /* wgsl */ `
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = (wg.y * groups.x + wg.x) * 256u + t;
  if (i < arrayLength(&dst)) {
    dst[i] = src[i];
  }
}
`,
});
