/**
 * The kernel host layer: a declared program's generated WGSL, and a dispatch
 * that binds uniforms and buffers by name (Dawn; Mesa lavapipe in CI).
 */
import { getWebGPUDevice } from "@jax-js/jax";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFloats, storageBuffer } from "../../src/kernels/webgpu/gpuTensor.js";
import { Dispatcher, PipelineCache, type ProgramSpec, program } from "../../src/kernels/webgpu/program.js";
import { init, teardown } from "../../src/runtime/init.js";

beforeAll(async () => {
  await init({ device: "webgpu" });
});
afterAll(teardown);

/** y[i] = a x[i] + b[i] for i < n, with a mixed uniform block (u32, f32, i32). */
const AXPY: ProgramSpec = {
  uniforms: [
    ["n", "u32"],
    ["a", "f32"],
    ["shift", "i32"],
  ],
  storage: [
    { name: "x", type: "f32" },
    { name: "b", type: "f32" },
    { name: "y", type: "f32", write: true },
  ],
  workgroupSize: 64,
  body: /* wgsl */ `
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= P.n) { return; }
  y[i] = P.a * x[i] + b[i] + f32(P.shift);
}
`,
};

describe("program", () => {
  it("declares the uniform block (padded to 16 bytes), the bindings in order and the entry point's workgroup size", () => {
    const { code } = program(AXPY);
    expect(code).toContain("struct Params { n: u32, a: f32, shift: i32, pad0: u32 }");
    expect(code).toContain("@group(0) @binding(0) var<uniform> P: Params;");
    expect(code).toContain("@group(0) @binding(1) var<storage, read> x: array<f32>;");
    expect(code).toContain("@group(0) @binding(3) var<storage, read_write> y: array<f32>;");
    expect(code).toContain("@compute @workgroup_size(64)\nfn main(");
    const bare = program({
      uniforms: [],
      storage: [{ name: "x", type: "f32", write: true }],
      workgroupSize: [8, 8],
      body: "\nfn main() { x[0] = 1.0; }",
    });
    expect(bare.code).toContain("@group(0) @binding(0) var<storage, read_write> x: array<f32>;");
    expect(bare.code).not.toContain("Params");
    expect(bare.code).toContain("@compute @workgroup_size(8, 8)\nfn main(");
    expect(() => program({ ...AXPY, body: "fn helper() {}" })).toThrow("program: the body must define fn main once");
    const sized = program({
      ...AXPY,
      overrides: [
        ["K", "u32", 3],
        ["ON", "bool", true],
      ],
    });
    expect(sized.code.startsWith("override K: u32;\noverride ON: bool;\nstruct Params")).toBe(true);
  });

  it("binds by name: the values land where the program reads them; a missing or unknown name is refused", async () => {
    const device = getWebGPUDevice();
    const kernel = await new PipelineCache().get(device, "axpyTest", "axpy", () => program(AXPY));
    const n = 100;
    const x = Float32Array.from({ length: n }, (_, i) => i);
    const b = Float32Array.from({ length: n }, (_, i) => 1000 * i);
    const y = storageBuffer(device, 4 * 128);
    const run = new Dispatcher(device, "axpyTest");
    const args = { n, a: 0.5, shift: -3, x: run.temporary(4 * n, x), b: run.temporary(4 * n, b), y };
    expect(() => run.dispatch(kernel, { ...args, z: y }, 2)).toThrow("axpyTest: internal error, z is not declared by the program");
    const { b: _, ...noB } = args;
    expect(() => run.dispatch(kernel, noB, 2)).toThrow("axpyTest: internal error, storage buffer b needs a GPUBuffer");
    expect(() => run.dispatch(kernel, { ...args, a: y }, 2)).toThrow("axpyTest: internal error, uniform a needs a number");
    run.dispatch(kernel, args, 2);
    run.submit();
    const got = await readFloats(device, y, 0, 4 * n);
    expect(Array.from(got)).toEqual(Array.from(x, (v, i) => 0.5 * v + b[i] - 3));
    y.destroy();
  });
});
