/**
 * trainLM on wasm holds one step's buffers at a time: jax-js allocates the
 * buffers of every pending step before it runs them, and ten kernelized steps
 * in flight once took ten steps' intermediates (past wasm's 4 GiB at the
 * stability preset `quick`). Its own file: wasm memory only grows, so the
 * measure needs a fresh worker.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { silent } from "../../src/lab/progress.js";
import { runStability, STABILITY_PRESETS } from "../../src/lab/stability.js";
import { init } from "../../src/runtime/init.js";

beforeAll(async () => {
  await init({ device: "wasm" });
});

/** Bytes of WebAssembly memory (and other external buffers) the process holds. */
const external = () => process.memoryUsage().external;

describe("trainLM memory on wasm", () => {
  it("grows by about one kernelized step's intermediates over ten steps, not by ten", { timeout: 120_000 }, async () => {
    // ~67 MiB of intermediates a step at this size (batch 4, L 64, width 64, 32 features)
    const s = {
      ...STABILITY_PRESETS.quick,
      variants: ["kernelized"],
      seeds: 1,
      lrs: [1e-2],
      steps: 10,
      batch: 4,
      depth: 1,
      evalBatches: 1,
    };
    const first = { ...s, steps: 2 };
    await runStability(first, silent);
    const before = external();
    await runStability(s, silent);
    expect(external() - before).toBeLessThan(200 * 2 ** 20);
  });
});
