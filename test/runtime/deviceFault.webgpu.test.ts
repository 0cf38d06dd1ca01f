/**
 * A WebGPU error outside any error scope (here an invalid buffer, as an
 * allocation on a full GPU gives) makes posenc refuse what is computed after
 * it: checkDevice throws, a training stops and nothing is saved. Its own file:
 * the fault is sticky for the process.
 */
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getWebGPUDevice } from "@jax-js/jax";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silent } from "../../src/lab/progress.js";
import { runStability, STABILITY_PRESETS } from "../../src/lab/stability.js";
import { checkDevice, deviceFault } from "../../src/runtime/deviceFault.js";
import { init, teardown } from "../../src/runtime/init.js";

beforeAll(async () => {
  await init({ device: "webgpu" });
});
afterAll(async () => {
  await teardown();
});

const tiny = { ...STABILITY_PRESETS.tiny, variants: ["softmax"], seeds: 1, lrs: [1e-2], steps: 2 };

describe("device faults", () => {
  it("a training on a healthy device is saved; after an uncaptured error checkDevice, trainLM and saving refuse", async () => {
    const dir = mkdtempSync(join(tmpdir(), "posenc-fault-"));
    await runStability({ ...tiny, runs: dir }, silent);
    expect(readdirSync(dir)).toHaveLength(1);
    expect(deviceFault()).toBeNull();
    expect(() => checkDevice("probe")).not.toThrow();

    getWebGPUDevice().createBuffer({ size: 16, usage: 0 }); // invalid usage: a validation error no scope catches
    for (let i = 0; i < 100 && deviceFault() === null; i++) await new Promise((r) => setTimeout(r, 20));
    expect(deviceFault()).not.toBeNull();
    expect(() => checkDevice("probe")).toThrow(/^probe: the WebGPU device reported an error/);

    const again = mkdtempSync(join(tmpdir(), "posenc-fault-"));
    await expect(runStability({ ...tiny, runs: again }, silent)).rejects.toThrow(/^trainLM: the WebGPU device reported an error/);
    expect(readdirSync(again)).toHaveLength(0);
  });
});
