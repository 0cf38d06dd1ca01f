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
 * At least `warmup` untimed runs, continued until `warmupMs` have passed (a
 * GPU idle between cases runs at lower clocks for a while: on an H200 the
 * first runs of a case measured 2.5x the steady state for up to 0.2 s), then
 * `reps` timed ones. `afterFirst` sees the time of the first run and may
 * throw to stop, e.g. when the runs would exceed a time budget.
 */
export async function timeRuns(
  run: () => Promise<void>,
  opts: { warmup: number; warmupMs: number; reps: number; afterFirst?: (ms: number) => void },
): Promise<Timing> {
  const samplesMs: number[] = [];
  let warm = 0;
  let warmMs = 0;
  while (warm < opts.warmup || warmMs < opts.warmupMs) {
    const ms = await timeOnce(run);
    if (warm === 0) opts.afterFirst?.(ms);
    warm++;
    warmMs += ms;
  }
  for (let i = 0; i < opts.reps; i++) {
    const ms = await timeOnce(run);
    if (warm === 0 && i === 0) opts.afterFirst?.(ms);
    samplesMs.push(ms);
  }
  return { medianMs: median(samplesMs), samplesMs, warmup: warm };
}
