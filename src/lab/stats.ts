/** Summaries of the lab's measurements over seeds and runs. */

/** The arithmetic mean of `xs` (NaN for none). */
export const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
