import { defaultDevice } from "@jax-js/jax";
import { describe, expect, it } from "vitest";
import { init, runtime, teardown } from "../../src/runtime/init.js";
import { expectRopeScoresMatch } from "./device.js";

describe("runtime on wasm", () => {
  it("starts WebAssembly, computes, and tears down", async () => {
    const rt = await init({ device: "wasm" });
    expect(rt.device).toBe("wasm");
    expect(defaultDevice()).toBe("wasm");
    expect(runtime()).toBe(rt);
    expect(await init({ device: "wasm" })).toBe(rt);
    await expectRopeScoresMatch();
    await teardown();
    await expect(init({ device: "wasm" })).rejects.toThrow(/posenc.init: the runtime was torn down/);
  });

  it("rejects an unknown device", async () => {
    // @ts-expect-error not a device
    await expect(init({ device: "cuda" })).rejects.toThrow(/posenc.init: options.device must be "wasm", "webgpu" or "auto", got "cuda"/);
  });
});
