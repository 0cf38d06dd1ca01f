/**
 * One benchmark case at one sequence length, for `npm run bench`
 * (bench/run.ts): every implementation runs once and the outputs are
 * compared (fused against composite), then each is timed (warm-up runs, then
 * `reps` timed runs, each awaited to the end of its GPU work). An
 * implementation that cannot run (device, size, a failure, the time budget)
 * is recorded as skipped with the reason; nothing here throws for it.
 */
import type { BenchCase, BenchEnv, Implementation, Output } from "./cases/case.js";
import type { Ceilings } from "./ceilings.js";
import { type Timing, timeRuns } from "./timing.js";

export interface ImplementationResult {
  role: Implementation["role"];
  name: string;
  note?: string;
  /** Why it was not timed; absent when it was. */
  skipped?: string;
  timing?: Timing;
  tflops?: number;
  gbps?: number;
  /** Of the matmul ceiling measured in the same run. */
  fractionOfMatmul?: number;
  /** Of the copy ceiling measured in the same run. */
  fractionOfCopy?: number;
}

export interface Agreement {
  fused: string;
  composite: string;
  maxAbsDiff: number;
  tolerance?: { rtol: number; atol: number };
  /** Within the case's tolerance; null when the case declares none. */
  agree: boolean | null;
}

export interface CaseResult {
  case: string;
  title: string;
  L: number;
  flops: number;
  bytes: number;
  implementations: ImplementationResult[];
  agreement: Agreement[];
}

export interface MeasureOptions {
  warmup: number;
  /** Least time of warm-up runs, ms. */
  warmupMs: number;
  reps: number;
  /** Seconds one implementation's timed runs may take at one size. */
  budgetS: number;
  /** Waits for the device's submitted work (WebGPU) or returns at once. */
  settle: () => Promise<void>;
  ceilings: Ceilings | null;
  /** GPU errors the device reported since the last call (non-empty: the last run's numbers are not to be trusted). */
  deviceErrors: () => string[];
}

export async function measureCase(c: BenchCase, L: number, env: BenchEnv, opts: MeasureOptions): Promise<CaseResult> {
  const flops = c.flops(L);
  const bytes = c.bytes(L);
  const instance = c.setup(L, env);
  const results: ImplementationResult[] = [];
  const outputs = new Map<Implementation, ArrayLike<number>>();
  try {
    // one run each, kept for the agreement check
    for (const impl of instance.implementations) {
      const result: ImplementationResult = { role: impl.role, name: impl.name, ...(impl.note ? { note: impl.note } : {}) };
      results.push(result);
      if (impl.skip) {
        result.skipped = impl.skip;
        continue;
      }
      try {
        const t0 = performance.now();
        const out = await impl.run();
        await opts.settle();
        const seconds = (performance.now() - t0) / 1000;
        const values = await out.read();
        const errors = opts.deviceErrors();
        if (errors.length > 0) throw new Error(`the device reported: ${errors[0]}`);
        outputs.set(impl, values);
        if (seconds > opts.budgetS)
          result.skipped = `one run took ${seconds.toFixed(1)} s, more than the time budget of ${opts.budgetS} s (--budget)`;
      } catch (err) {
        result.skipped = `failed: ${firstLine(err)}`;
      }
    }
    const agreement = agreements(c, instance.implementations, outputs);
    // then the timed runs
    for (const [i, impl] of instance.implementations.entries()) {
      const result = results[i];
      if (result.skipped) continue;
      const once = async () => {
        const out: Output = await impl.run();
        await opts.settle();
        out.dispose();
      };
      try {
        result.timing = await timeRuns(once, {
          warmup: opts.warmup,
          warmupMs: opts.warmupMs,
          reps: opts.reps,
          afterFirst: (ms) => {
            const total = (ms * (opts.warmup + opts.reps) + opts.warmupMs) / 1000;
            if (total > opts.budgetS) {
              throw new Budget(
                `${opts.warmup + opts.reps} runs of ${(ms / 1000).toFixed(1)} s would exceed the time budget of ${opts.budgetS} s (--budget)`,
              );
            }
          },
        });
      } catch (err) {
        result.skipped = err instanceof Budget ? err.message : `failed: ${firstLine(err)}`;
        continue;
      }
      const seconds = result.timing.medianMs * 1e-3;
      result.tflops = flops / seconds / 1e12;
      result.gbps = bytes / seconds / 1e9;
      if (opts.ceilings) {
        result.fractionOfMatmul = result.tflops / opts.ceilings.matmul.tflops;
        result.fractionOfCopy = result.gbps / opts.ceilings.copy.gbps;
      }
    }
    return { case: c.id, title: c.title, L, flops, bytes, implementations: results, agreement };
  } finally {
    for (const impl of instance.implementations) impl.dispose();
    instance.dispose();
    await opts.settle();
  }
}

/** Every fused output against every composite output of the same case. */
function agreements(c: BenchCase, impls: Implementation[], outputs: Map<Implementation, ArrayLike<number>>): Agreement[] {
  const out: Agreement[] = [];
  for (const f of impls.filter((i) => i.role === "fused" && outputs.has(i))) {
    for (const r of impls.filter((i) => i.role === "composite" && outputs.has(i))) {
      const got = outputs.get(f) as ArrayLike<number>;
      const ref = outputs.get(r) as ArrayLike<number>;
      let maxAbsDiff = 0;
      let nan = false;
      let within = got.length === ref.length;
      for (let j = 0; j < got.length && j < ref.length; j++) {
        const d = Math.abs(got[j] - ref[j]);
        if (Number.isNaN(d)) nan = true;
        else maxAbsDiff = Math.max(maxAbsDiff, d);
        if (c.tolerance && !(d <= c.tolerance.atol + c.tolerance.rtol * Math.abs(ref[j]))) within = false;
      }
      if (nan || got.length !== ref.length) maxAbsDiff = nan ? NaN : Infinity;
      out.push({
        fused: f.name,
        composite: r.name,
        maxAbsDiff,
        ...(c.tolerance ? { tolerance: c.tolerance } : {}),
        agree: c.tolerance ? within : null,
      });
    }
  }
  return out;
}

class Budget extends Error {}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split("\n")[0];
}
