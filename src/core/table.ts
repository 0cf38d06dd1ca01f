/** Plain-text tables for the terminal: right-aligned numbers, left-aligned text. */

export type Cell = string | number;

/**
 * Columns separated by two spaces under a rule of dashes. A column is
 * right-aligned when `align` says so, or by default when every cell of it is
 * a number.
 */
export function formatTable(header: string[], rows: Cell[][], align?: ("left" | "right")[]): string {
  const text = rows.map((r) => r.map((c) => (typeof c === "number" ? formatNumber(c) : c)));
  const widths = header.map((h, j) => Math.max(h.length, ...text.map((r) => r[j].length)));
  const right = header.map((_, j) => (align ? align[j] === "right" : rows.every((r) => typeof r[j] === "number")));
  const line = (cells: string[]) =>
    cells
      .map((c, j) => (right[j] ? c.padStart(widths[j]) : c.padEnd(widths[j])))
      .join("  ")
      .trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...text.map(line)].join("\n");
}

/** Up to 4 significant digits past the point; large and tiny values in exponent form. */
export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e7 || a < 1e-3) return v.toExponential(3);
  if (Number.isInteger(v)) return String(v);
  return String(Number(v.toPrecision(5)));
}
