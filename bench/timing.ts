/**
 * Wall-clock timing for `npm run bench` (bench/run.ts): warm-up runs, then
 * timed runs, each awaited to the end of its GPU work; the median and every
 * sample are kept.
 */

export interface Timing {
  /** Median of the timed runs, in ms. */
  medianMs: number;
  /** Every timed run, in ms, in order. */
  samplesMs: number[];
  /** Warm-up runs done before them. */
  warmup: number;
}

/** The median (the mean of the two middle values for an even count). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Milliseconds that `run` takes, to the end of what it awaits. */
export async function timeOnce(run: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await run();
  return performance.now() - t0;
}

/**
 * `warmup` untimed runs, then `reps` timed ones. `afterFirst` sees the time of
 * the first run (warm-up or timed) and may throw to stop, e.g. when the runs
 * would exceed a time budget.
 */
export async function timeRuns(
  run: () => Promise<void>, opts: { warmup: number; reps: number; afterFirst?: (ms: number) => void },
): Promise<Timing> {
  const samplesMs: number[] = [];
  for (let i = 0; i < opts.warmup + opts.reps; i++) {
    const ms = await timeOnce(run);
    if (i === 0) opts.afterFirst?.(ms);
    if (i >= opts.warmup) samplesMs.push(ms);
  }
  return { medianMs: median(samplesMs), samplesMs, warmup: opts.warmup };
}
