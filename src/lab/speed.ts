/**
 * `posenc lab speed`: time and peak memory of kernelized attention with FFT
 * RPE (O(L log L) time, O(L) memory) against softmax attention (O(L^2) both)
 * as the length L grows, on the current device, and the crossover length
 * beyond which the kernelized form is faster. Both are posenc's jax-js
 * composites, causal, float32, B = 1; each point runs in its own process
 * (`speedPoint.ts`) so that its peak memory is its own. A method stops at
 * the first length that fails (out of memory) or takes longer than the
 * time limit per point.
 *
 * Reference: Luo et al. (NeurIPS 2021), https://arxiv.org/abs/2106.12566, section 4.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { DeviceKind } from "../runtime/init.js";
import type { ReportMeta } from "./experiment.js";
import type { ProgressSink } from "./progress.js";
import type { LabReport } from "./report.js";
import type { SpeedPoint } from "./speedPoint.js";
import { lineChart } from "./svg.js";

const run = promisify(execFile);

export interface SpeedSettings {
  lengths: number[];
  heads: number;
  dim: number;
  features: number;
  reps: number;
  /** A method is not run at longer lengths once one point takes longer than this (median, ms). */
  limitMs: number;
  /** The methods to run (`SPEED_METHODS`). */
  variants: string[];
}

export const SPEED_METHODS = ["softmax", "kernelized"] as const;

export const SPEED_PRESETS: Record<"tiny" | "quick" | "full", SpeedSettings> = {
  tiny: { lengths: [32, 64], heads: 2, dim: 8, features: 8, reps: 1, limitMs: 60_000, variants: [...SPEED_METHODS] },
  quick: {
    lengths: [256, 512, 1024, 2048, 4096, 8192],
    heads: 4,
    dim: 32,
    features: 32,
    reps: 3,
    limitMs: 20_000,
    variants: [...SPEED_METHODS],
  },
  full: {
    lengths: [256, 512, 1024, 2048, 4096, 8192, 16384, 32768],
    heads: 8,
    dim: 64,
    features: 64,
    reps: 3,
    limitMs: 60_000,
    variants: [...SPEED_METHODS],
  },
};

export interface SpeedRow {
  method: string;
  L: number;
  ms?: number;
  samples?: number[];
  peakBytes?: number;
  memory?: string;
  /** Why there is no time: the error, or the method stopped earlier. */
  skipped?: string;
}

function pointCommand(): { file: string; prefix: string[] } {
  const js = fileURLToPath(new URL("./speedPoint.js", import.meta.url));
  if (existsSync(js)) return { file: js, prefix: [] };
  return { file: fileURLToPath(new URL("./speedPoint.ts", import.meta.url)), prefix: ["--import", "tsx"] }; // from the sources (tests)
}

export function speedWork(s: SpeedSettings): number {
  return s.variants.length * s.lengths.length;
}

export async function runSpeed(s: SpeedSettings, device: DeviceKind, progress: ProgressSink): Promise<SpeedRow[]> {
  const { file, prefix } = pointCommand();
  const rows: SpeedRow[] = [];
  for (const method of s.variants as SpeedPoint["method"][]) {
    let stop: string | undefined;
    for (const L of s.lengths) {
      if (stop) {
        rows.push({ method, L, skipped: stop });
        progress.tick(1);
        continue;
      }
      const point: SpeedPoint = { method, L, H: s.heads, D: s.dim, M: s.features, device, reps: s.reps };
      let row: SpeedRow;
      try {
        const { stdout } = await run(process.execPath, [...prefix, file, JSON.stringify(point)], { maxBuffer: 1 << 20 });
        const out = JSON.parse(stdout.trim().split("\n").pop() as string) as {
          ms?: number;
          samples?: number[];
          peakBytes?: number;
          memory?: string;
          error?: string;
        };
        row = out.error
          ? { method, L, skipped: out.error }
          : { method, L, ms: out.ms, samples: out.samples, peakBytes: out.peakBytes, memory: out.memory };
      } catch (err) {
        const e = err as { code?: number; signal?: string; stderr?: string };
        row = {
          method,
          L,
          skipped: `process failed (${e.signal ?? `exit ${e.code}`}): ${(e.stderr ?? "").trim().split("\n").pop()?.slice(0, 200) ?? ""}`,
        };
      }
      rows.push(row);
      if (row.skipped) stop = `not run: failed at L = ${L}`;
      else if ((row.ms as number) > s.limitMs) stop = `not run: L = ${L} took ${(row.ms as number).toFixed(0)} ms > ${s.limitMs} ms`;
      progress.tick(1, `${method} L=${L}`);
    }
  }
  progress.done();
  return rows;
}

/**
 * The crossover: the smallest measured L from which kernelized is faster at
 * every longer length where both ran, refined by log-log interpolation of
 * the time ratio between that L and the one before. Undefined when it never
 * becomes faster (or always is: then the first L).
 */
export function crossover(rows: SpeedRow[]): number | undefined {
  const both = [...new Set(rows.map((r) => r.L))]
    .sort((a, b) => a - b)
    .map((L) => ({
      L,
      s: rows.find((r) => r.method === "softmax" && r.L === L)?.ms,
      k: rows.find((r) => r.method === "kernelized" && r.L === L)?.ms,
    }))
    .filter((p): p is { L: number; s: number; k: number } => p.s !== undefined && p.k !== undefined);
  if (!both.length) return undefined;
  let i = both.length;
  while (i > 0 && both[i - 1].k < both[i - 1].s) i--;
  if (i === both.length) return undefined;
  if (i === 0) return both[0].L;
  const a = both[i - 1];
  const b = both[i];
  const ra = Math.log(a.k / a.s);
  const rb = Math.log(b.k / b.s);
  return Math.exp(Math.log(a.L) + (ra / (ra - rb)) * (Math.log(b.L) - Math.log(a.L)));
}

export function speedReport(s: SpeedSettings, rows: SpeedRow[], meta: ReportMeta): LabReport {
  const at = (m: string, L: number) => rows.find((r) => r.method === m && r.L === L);
  const MiB = 2 ** 20;
  const table = s.lengths.map((L) => {
    const sm = at("softmax", L);
    const ke = at("kernelized", L);
    const ms = (r?: SpeedRow) => (r?.ms !== undefined ? Number(r.ms.toFixed(2)) : "-");
    const mem = (r?: SpeedRow) => (r?.peakBytes !== undefined ? Number((r.peakBytes / MiB).toFixed(1)) : "-");
    return [L, ms(sm), ms(ke), sm?.ms !== undefined && ke?.ms !== undefined ? Number((sm.ms / ke.ms).toFixed(3)) : "-", mem(sm), mem(ke)];
  });
  const label = { softmax: "softmax attention", kernelized: "kernelized + FFT RPE" } as Record<string, string>;
  const series = (key: "ms" | "peakBytes", scale = 1) =>
    s.variants.map((m) => ({
      name: label[m] ?? m,
      points: rows.filter((r) => r.method === m && r[key] !== undefined).map((r) => ({ x: r.L, y: (r[key] as number) / scale })),
    }));
  const x = crossover(rows);
  const skipped = rows.filter((r) => r.skipped && !r.skipped.startsWith("not run"));
  const findings = [
    x === undefined
      ? "Kernelized attention was not faster at the longest length where both ran."
      : `Crossover: kernelized attention with FFT RPE is faster from L = ${Math.round(x)} on (log-log interpolation between measured lengths).`,
    ...skipped.map((r) => `${label[r.method] ?? r.method} failed at L = ${r.L}: ${r.skipped}`),
  ];
  return {
    id: "speed",
    title: "Speed and memory: kernelized FFT-RPE vs softmax attention",
    question:
      "From which length is kernelized attention with relative positional encoding (FFT Toeplitz products, O(L log L)) faster than softmax attention (O(L^2)), and how does peak memory grow?",
    command: meta.command,
    device: meta.device,
    date: meta.date,
    seconds: meta.seconds,
    settings: {
      shapes: `B = 1, H = ${s.heads}, D = Dv = ${s.dim}, M = ${s.features} features, causal, float32`,
      softmax: "jitted `attention` composite (materializes the (H, L, L) logits)",
      kernelized:
        "PRF feature maps (jitted) + `kernelizedAttentionInChunks` (FFT Toeplitz products in chunks), ALiBi-like bias b = -0.01 |j - i|",
      timing: `median of ${s.reps} after one warm-up, inputs ready, result read back`,
      memory: "one process per point: WebAssembly memory size at the end (wasm) or peak live GPU buffers (webgpu)",
      "time limit per point": `${s.limitMs} ms`,
    },
    tables: [
      {
        caption: "Median time (ms) and peak memory (MiB) against L",
        header: ["L", "softmax ms", "kernelized ms", "softmax/kernelized", "softmax MiB", "kernelized MiB"],
        rows: table,
      },
    ],
    figures: [
      {
        caption: "Time against length (log-log).",
        svg: lineChart(series("ms"), {
          title: "Attention time vs length",
          xLabel: "L (log scale)",
          yLabel: "ms (log scale)",
          xScale: "log2",
          yScale: "log10",
        }),
      },
      {
        caption: "Peak memory against length (log-log).",
        svg: lineChart(series("peakBytes", MiB), {
          title: "Peak memory vs length",
          xLabel: "L (log scale)",
          yLabel: "MiB (log scale)",
          xScale: "log2",
          yScale: "log10",
        }),
      },
    ],
    findings,
    data: { settings: s, rows },
  };
}
