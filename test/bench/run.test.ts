/**
 * `npm run bench` (bench/run.ts) end to end at a tiny size, in a child
 * process on the WebGPU adapter Dawn finds (Mesa lavapipe in CI): the JSON
 * report has its structure, every case has a row, the fused kernels and the
 * composites were timed, and their outputs agreed.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, expect, it } from "vitest";

const root = resolve(import.meta.dirname, "../..");
const dir = mkdtempSync(join(tmpdir(), "posenc-bench-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Report {
  device: { runtime: string; adapter: { software: boolean } | null };
  ceilings: { matmul: { tflops: number; checkRatio: number }; copy: { gbps: number } };
  rows: Array<{
    case: string;
    L: number;
    flops: number;
    bytes: number;
    implementations: Array<{
      role: string;
      skipped?: string;
      timing?: { medianMs: number; samplesMs: number[] };
      tflops?: number;
      fractionOfMatmul?: number;
    }>;
    agreement: Array<{ maxAbsDiff: number; agree: boolean | null }>;
  }>;
}

it("runs every case at L = 64 and writes a report in which fused and composite agree", { timeout: 120_000 }, async () => {
  const json = join(dir, "bench.json");
  const args = ["bench/run.ts", "--sizes", "64", "--reps", "1", "--warmup", "0", "--device", "webgpu", "--no-torch", "--json", json];
  // asynchronous, so that the test worker's event loop keeps answering vitest
  const { stdout } = await promisify(execFile)(process.execPath, [join(root, "node_modules/tsx/dist/cli.mjs"), ...args], {
    cwd: root,
    timeout: 110_000,
  });
  expect(stdout).toMatch(/ceilings, measured in this run: matmul/);

  const report = JSON.parse(readFileSync(json, "utf8")) as Report;
  expect(report.device.runtime).toBe("webgpu");
  expect(report.ceilings.matmul.tflops).toBeGreaterThan(0);
  expect(report.ceilings.matmul.checkRatio).toBeLessThanOrEqual(1);
  expect(report.ceilings.copy.gbps).toBeGreaterThan(0);
  expect(report.rows.map((row) => row.case).sort()).toEqual(["alibi", "causal", "kernelized"]);
  for (const row of report.rows) {
    expect(row.L).toBe(64);
    expect(row.flops).toBeGreaterThan(0);
    expect(row.bytes).toBeGreaterThan(0);
    for (const impl of row.implementations) {
      expect(impl.skipped, `${row.case} ${impl.role}`).toBeUndefined();
      expect(impl.timing?.samplesMs).toHaveLength(1);
      expect(impl.tflops).toBeGreaterThan(0);
      expect(impl.fractionOfMatmul).toBeGreaterThan(0);
    }
  }
  const softmax = report.rows.filter((row) => row.case !== "kernelized");
  for (const row of softmax) {
    expect(row.implementations.map((i) => i.role)).toEqual(["fused", "composite"]);
    expect(row.agreement).toHaveLength(1);
    expect(row.agreement[0].agree, `${row.case}: max |diff| ${row.agreement[0].maxAbsDiff}`).toBe(true);
  }
});

it("--train times the composite and the fused step of a tiny LM and writes their ratio", { timeout: 300_000 }, async () => {
  const json = join(dir, "train.json");
  // --budget 200: the composite's first step (its compile) took 72 s on lavapipe in a loaded CI run, past the default 60 s
  const args = [
    "bench/run.ts",
    "--train",
    "--reps",
    "1",
    "--device",
    "webgpu",
    "--no-torch",
    "--profile",
    "--budget",
    "200",
    "--json",
    json,
  ];
  const { stdout } = await promisify(execFile)(process.execPath, [join(root, "node_modules/tsx/dist/cli.mjs"), ...args], {
    cwd: root,
    timeout: 290_000,
  });
  expect(stdout).toMatch(/\| 32x1x2:16:4 \| - \| [\d.]+ \| [\d.]+ \| - \| - \| [\d.]+x \|/);
  expect(stdout).toMatch(/attention backward: [\d.]+/);
  const report = JSON.parse(readFileSync(json, "utf8")) as {
    rows: Array<{ row: string; composite: { medianMs: number }; fused: { medianMs: number }; firstLossRelDiff: number }>;
  };
  expect(report.rows.map((r) => r.row)).toEqual(["32x1x2:16:4"]);
  const [row] = report.rows;
  expect(row.composite.medianMs).toBeGreaterThan(0);
  expect(row.fused.medianMs).toBeGreaterThan(0);
  // the same first step (parameters, batch) through both paths: float32 reordering only
  expect(row.firstLossRelDiff).toBeLessThan(1e-5);
});
