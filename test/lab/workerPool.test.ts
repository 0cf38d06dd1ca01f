/** The worker-thread pool of the lab: the same results as a sequential run, all progress forwarded, failures named. */
import { beforeAll, describe, expect, it } from "vitest";
import { LENGTH_PRESETS, lengthUnits, lengthWork, runLength } from "../../src/lab/length.js";
import { silent } from "../../src/lab/progress.js";
import {
  runStability,
  STABILITY_PRESETS,
  type StabilityRun,
  type StabilityUnit,
  stabilityUnits,
  stabilityWork,
} from "../../src/lab/stability.js";
import { workerPool } from "../../src/lab/workerPool.js";
import { init } from "../../src/runtime/init.js";

beforeAll(async () => {
  await init({ device: "wasm" });
});

const counter = () => {
  const c = { ticks: 0, rows: [] as unknown[], runs: new Set<string>() };
  return {
    c,
    sink: {
      tick: (n = 1) => void (c.ticks += n),
      done: () => {},
      row: (r: unknown) => void c.rows.push(r),
      losses: (run: string) => void c.runs.add(run),
    },
  };
};

describe("workerPool", () => {
  it("lab length through 2 workers gives the sequential run's rows, in its order, with every tick and live row", async () => {
    // RoPE trains longest, so the pool takes it first: the rows still come in the sequential order
    const s = {
      ...LENGTH_PRESETS.tiny,
      variants: ["nope", "rope", "rope-yarn", "alibi", "randomized"],
      seeds: 2,
      steps: 3,
      schedule: { rope: { lr: 3e-3, stepScale: 2 } },
    };
    expect(lengthUnits(s)).toHaveLength(8); // 4 trainings x 2 seeds: more units than workers
    const sequential = await runLength(s, silent);
    const { c, sink } = counter();
    const pooled = await runLength(s, sink, workerPool(2, "wasm"));
    expect(pooled).toHaveLength(sequential.length);
    for (const [i, r] of pooled.entries()) expect({ ...r, trainSeconds: 0 }).toEqual({ ...sequential[i], trainSeconds: 0 });
    expect(c.ticks).toBe(lengthWork(s));
    expect(c.rows).toHaveLength(pooled.length);
    expect(c.runs).toEqual(new Set(lengthUnits(s).map((u) => `${u.key} seed ${u.seed}`)));
  }, 120_000);

  it("lab stability through 3 workers gives the sequential runs", async () => {
    const s = { ...STABILITY_PRESETS.tiny, seeds: 1 };
    const sequential = await runStability(s, silent);
    const { c, sink } = counter();
    const pooled = await runStability(s, sink, workerPool(3, "wasm"));
    expect(pooled.map((r) => ({ ...r, seconds: 0 }))).toEqual(sequential.map((r) => ({ ...r, seconds: 0 })));
    expect(c.ticks).toBe(stabilityWork(s));
  }, 120_000);

  it("hands each result to `finished` as its unit ends, and rejects when that fails", async () => {
    const s = { ...STABILITY_PRESETS.tiny, variants: ["softmax"], seeds: 2, lrs: [1e-2] };
    const units = stabilityUnits(s);
    const seen: [number, number][] = [];
    const runs = await workerPool(2, "wasm").run<StabilityUnit, StabilityRun>("stability", s, units, silent, async (i, r) => {
      seen.push([i, r.seed]);
    });
    expect(seen.sort()).toEqual(units.map((u, i) => [i, u.seed]));
    expect(runs.map((r) => r.seed)).toEqual([0, 1]);
    await expect(
      workerPool(2, "wasm").run("stability", s, units, silent, async () => {
        throw new Error("disk full");
      }),
    ).rejects.toThrow("disk full");
  }, 120_000);

  it("rejects with the failing unit's error and refuses bad arguments by name", async () => {
    // a setting that only the unit itself checks: the kernelized model's RPE table is shorter than the input
    const s = { ...LENGTH_PRESETS.tiny, variants: ["rope", "learned"], multiples: [1, 2], seeds: 2, steps: 2 };
    await expect(runLength({ ...s, width: 15 }, silent, workerPool(2, "wasm"))).rejects.toThrow(
      /makeLMStep: config.width \(15\) must be a multiple of config.heads \(2\)/,
    );
    expect(() => workerPool(0, "wasm")).toThrow(/workerPool: workers must be an integer >= 1, got 0/);
    expect(() => workerPool(2, "webgpu")).toThrow(/workerPool: device must be "wasm" or "cpu" \(one thread drives the GPU\), got "webgpu"/);
  }, 120_000);
});
