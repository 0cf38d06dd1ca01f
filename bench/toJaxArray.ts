/**
 * `toJaxArray` (a copy on the GPU into a fresh jax-js array) against the
 * readback it replaced (GPU -> host -> a new jax-js array), in one run on the
 * current WebGPU device, float32:
 *
 *   npx tsx bench/toJaxArray.ts                 # --mib 1,16,128 --reps 7
 *
 * Each timing runs to the end of the work: the jax-js array's values are
 * used by one jitted op and awaited (`onSubmittedWorkDone`). Both paths are
 * checked to give the same values first.
 */
import { getWebGPUDevice, jit, numpy as np } from "@jax-js/jax";
import { formatTable } from "../src/core/table.js";
import { GpuTensor, storageBuffer, toJaxArray } from "../src/kernels/webgpu/gpuTensor.js";
import { init, teardown } from "../src/runtime/init.js";
import { parseFlags } from "./flags.js";
import { median, timeOnce } from "./timing.js";

const flags = parseFlags("bench/toJaxArray.ts", process.argv.slice(2), {
  mib: { kind: "ints", default: [1, 16, 128] },
  reps: { kind: "int", default: 7 },
});

await init({ device: "webgpu" });
const device = getWebGPUDevice();
const touch = jit((x: np.Array) => np.add(x, 1));

/** The path this replaced: read the tensor back, build a jax-js array from the host values. */
async function readback(t: GpuTensor): Promise<np.Array> {
  const values = await t.data();
  const shape = [...t.shape];
  t.dispose();
  return np.array(values).reshape(shape);
}

const rows: (string | number)[][] = [];
for (const mib of flags.mib) {
  const n = (mib * 2 ** 20) / 4;
  const values = Float32Array.from({ length: n }, (_, i) => (i % 1000) / 1000);
  const fresh = () => new GpuTensor([n / 256, 256], storageBuffer(device, 4 * n, values));
  const check = async (f: (t: GpuTensor) => Promise<np.Array>) => Array.from((await (await f(fresh())).data()).subarray(0, 2000));
  if ((await check(toJaxArray)).join() !== (await check(readback)).join()) throw new Error("bench/toJaxArray.ts: the two paths differ");
  const time = async (f: (t: GpuTensor) => Promise<np.Array>) => {
    const samples: number[] = [];
    for (let r = 0; r < flags.reps + 2; r++) {
      const t = fresh();
      await device.queue.onSubmittedWorkDone();
      const ms = await timeOnce(async () => {
        const y = touch(await f(t));
        await y.blockUntilReady?.();
        await device.queue.onSubmittedWorkDone();
        y.dispose();
      });
      if (r >= 2) samples.push(ms);
    }
    return median(samples);
  };
  const copy = await time(toJaxArray);
  const back = await time(readback);
  rows.push([mib, back.toFixed(3), copy.toFixed(3), (back / copy).toFixed(1)]);
}
console.log(
  `device: ${device.adapterInfo?.vendor ?? ""} ${device.adapterInfo?.architecture ?? ""}; median of ${flags.reps}, each to the end of one jitted op on the result`,
);
console.log(formatTable(["MiB", "readback ms", "toJaxArray ms", "readback / toJaxArray"], rows, ["right", "right", "right", "right"]));
await teardown();
