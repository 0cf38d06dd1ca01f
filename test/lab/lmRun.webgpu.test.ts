/**
 * trainLM on WebGPU keeps two steps in flight and reads losses ten at a time:
 * a run longer than both windows trains to the end with every loss recorded.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { READ_EVERY, stepsInFlight } from "../../src/lab/lmRun.js";
import { silent } from "../../src/lab/progress.js";
import { runStability, STABILITY_PRESETS } from "../../src/lab/stability.js";
import { init, teardown } from "../../src/runtime/init.js";

beforeAll(async () => {
  await init({ device: "webgpu" });
});
afterAll(async () => {
  await teardown();
});

describe("trainLM on webgpu", () => {
  it("trains past the in-flight and read windows, every loss finite and recorded", async () => {
    expect(stepsInFlight("webgpu")).toBe(2);
    const steps = 2 * READ_EVERY + 3;
    const [run] = await runStability({ ...STABILITY_PRESETS.tiny, variants: ["kernelized"], seeds: 1, lrs: [1e-2], steps }, silent);
    expect(run.losses).toHaveLength(steps);
    expect(run.losses.every(Number.isFinite)).toBe(true);
    expect(run.diverged).toBe(false);
  });
});
