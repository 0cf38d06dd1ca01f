/**
 * WebGPU through Dawn. On CI this runs on Mesa's lavapipe; it fails (never
 * skips) when no adapter can be found.
 */
import { defaultDevice } from "@jax-js/jax";
import { describe, expect, it } from "vitest";
import { init, teardown } from "../../src/runtime/init.js";
import { expectRopeScoresMatch } from "./device.js";

describe("runtime on webgpu", () => {
  it("starts WebGPU, reports the adapter and its limits, computes, and tears down", async () => {
    const rt = await init({ device: "webgpu" });
    expect(rt.device).toBe("webgpu");
    expect(defaultDevice()).toBe("webgpu");
    expect(rt.description.length).toBeGreaterThan(0);
    expect(rt.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 2 ** 20);
    expect((globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu).toBeDefined();
    console.log(`webgpu adapter: ${rt.description}, maxStorageBufferBindingSize ${rt.limits.maxStorageBufferBindingSize}`);
    await expectRopeScoresMatch();
    await teardown();
  });
});
