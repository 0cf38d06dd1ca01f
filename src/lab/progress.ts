/**
 * A progress bar for long lab work, on stderr: redrawn in place on a
 * terminal, one line per tenth of the work otherwise (CI logs), with the
 * elapsed time and an estimate of the time left.
 */

export interface ProgressSink {
  /** Advance by `n` units; `note` is shown after the bar (e.g. the current run). */
  tick(n?: number, note?: string): void;
  done(): void;
  /** Live view (the browser lab): the losses read so far of the training named `run`. */
  losses?(run: string, losses: readonly number[]): void;
  /** Live view: a result row as soon as it is measured. */
  row?(row: unknown): void;
  /** Awaited before every training step: a caller that pauses answers a promise that resolves when it resumes. */
  gate?(): Promise<void>;
}

const fmt = (s: number) => (s >= 60 ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, "0")}s` : `${s.toFixed(0)}s`);

export class Progress implements ProgressSink {
  #count = 0;
  #decile = -1;
  readonly #start = performance.now();
  readonly #tty: boolean;

  constructor(
    readonly label: string,
    readonly total: number,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.#tty = Boolean(stream.isTTY) && process.env.CI === undefined;
  }

  tick(n = 1, note = ""): void {
    this.#count = Math.min(this.total, this.#count + n);
    const frac = this.total > 0 ? this.#count / this.total : 1;
    const elapsed = (performance.now() - this.#start) / 1000;
    const eta = frac > 0 ? (elapsed / frac) * (1 - frac) : 0;
    const text = `${this.label} ${(100 * frac).toFixed(0).padStart(3)}% ${this.#count}/${this.total} ${fmt(elapsed)} elapsed, ~${fmt(eta)} left${note ? `  ${note}` : ""}`;
    if (this.#tty) {
      const width = 24;
      const filled = Math.round(frac * width);
      this.stream.write(`\r\x1b[2K[${"#".repeat(filled)}${".".repeat(width - filled)}] ${text}`);
    } else {
      const decile = Math.floor(frac * 10);
      if (decile > this.#decile) {
        this.#decile = decile;
        this.stream.write(`${text}\n`);
      }
    }
  }

  done(): void {
    if (this.#tty) this.stream.write("\n");
  }
}

/** A sink that shows nothing (tests, library use). */
export const silent: ProgressSink = { tick: () => {}, done: () => {} };
