import { defaultDevice, numpy as np } from "@jax-js/jax";
import { describe, expect, it } from "vitest";
import { init, runtime, teardown } from "../../src/runtime/init.js";
import { expectRopeScoresMatch } from "./device.js";

describe("runtime on wasm", () => {
  it("starts WebAssembly and computes", async () => {
    const rt = await init({ device: "wasm" });
    expect(rt.device).toBe("wasm");
    expect(defaultDevice()).toBe("wasm");
    expect(runtime()).toBe(rt);
    expect(await init({ device: "wasm" })).toBe(rt);
    await expectRopeScoresMatch();
  });

  it("builds float64 arrays from Float64Array on this Node (Float16Array polyfill; gradient checks need float64)", async () => {
    const x = np.array(new Float64Array([1.5, 2.5]));
    expect(x.dtype).toBe("float64");
    expect(Array.from(await np.multiply(x.ref, x).data())).toEqual([2.25, 6.25]);
  });

  it("rejects an unknown device", async () => {
    // @ts-expect-error not a device
    await expect(init({ device: "cuda" })).rejects.toThrow(
      /posenc.init: options.device must be "cpu", "wasm", "webgpu" or "auto", got "cuda"/,
    );
  });

  it("tears down for good", async () => {
    await teardown();
    await expect(init({ device: "wasm" })).rejects.toThrow(/posenc.init: the runtime was torn down/);
  });
});
