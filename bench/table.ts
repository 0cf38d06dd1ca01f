/**
 * The printed table of `npm run bench` (bench/run.ts): one row per sequence
 * length and case with posenc's fused and composite times, PyTorch's time,
 * their ratios, the agreement of the outputs, and the throughput of the
 * fastest posenc implementation against the ceilings measured in the same
 * run. A cell that has no number shows "-" and a footnote with the reason.
 */
import { formatTable } from "../src/core/table.js";
import type { CaseResult, ImplementationResult } from "./measure.js";

/** A result row with its PyTorch anchor, as the harness merges them. */
export interface Row extends CaseResult {
  torch?: { name: string; medianMs?: number; samplesMs?: number[]; skipped?: string };
}

export function formatReport(rows: Row[], withTorch: boolean): string {
  const notes: string[] = [];
  const cite = (text: string) => {
    const i = notes.indexOf(text);
    return `[${(i >= 0 ? i : notes.push(text) - 1) + 1}]`;
  };
  const header = ["L", "case", "fused ms", "composite ms"];
  if (withTorch) header.push("torch ms", "torch/fused", "torch/comp");
  header.push("comp/fused", "max |diff|", "best", "TFLOP/s", "% matmul", "GB/s", "% copy");
  const body = rows.map((row) => {
    const fused = row.implementations.find((i) => i.role === "fused");
    const comp = row.implementations.find((i) => i.role === "composite");
    const time = (impl: ImplementationResult | undefined) => {
      if (!impl) return "-";
      if (!impl.timing) return `-${cite(`${impl.role} ${impl.name}: ${impl.skipped ?? "not run"}`)}`;
      return ms(impl.timing.medianMs) + (impl.note ? cite(`${impl.role} ${impl.name}: ${impl.note}`) : "");
    };
    const ratio = (a?: number, b?: number) => (a !== undefined && b !== undefined ? a / b : undefined);
    const cells = [String(row.L), row.case, time(fused), time(comp)];
    const tf = fused?.timing?.medianMs;
    const tc = comp?.timing?.medianMs;
    if (withTorch) {
      const t = row.torch;
      cells.push(t?.medianMs !== undefined ? ms(t.medianMs) : `-${cite(`PyTorch ${t?.name ?? ""}: ${t?.skipped ?? "not run"}`)}`);
      cells.push(fixed(ratio(t?.medianMs, tf)), fixed(ratio(t?.medianMs, tc)));
    }
    cells.push(fixed(ratio(tc, tf)));
    const a = row.agreement[0];
    cells.push(
      a ? `${a.maxAbsDiff.toExponential(1)}${a.agree === false ? cite("outputs disagree beyond the case's tolerance") : ""}` : "-",
    );
    const best = row.implementations.filter((i) => i.timing).sort((x, y) => (x.timing?.medianMs ?? 0) - (y.timing?.medianMs ?? 0))[0];
    cells.push(best ? best.role : "-", sig(best?.tflops), percent(best?.fractionOfMatmul), sig(best?.gbps), percent(best?.fractionOfCopy));
    return cells;
  });
  const table = formatTable(
    header,
    body,
    header.map((_, j) => (j === 1 ? "left" : "right")),
  );
  return [table, ...notes.map((n, i) => `[${i + 1}] ${n}`)].join("\n");
}

function ms(x: number): string {
  return x.toFixed(x < 10 ? 3 : x < 1000 ? 2 : 0);
}

function fixed(x: number | undefined): string {
  return x === undefined ? "-" : x.toFixed(2);
}

function sig(x: number | undefined): string {
  return x === undefined ? "-" : Number(x.toPrecision(3)).toString();
}

function percent(x: number | undefined): string {
  return x === undefined ? "-" : (100 * x).toFixed(1);
}
