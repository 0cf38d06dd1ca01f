/**
 * Lab reports: each experiment's result (settings, device, time, tables,
 * figures, the raw measurements), as terminal text and as an HTML section
 * with the SVG figures inline. Nothing here touches files: the command
 * writes reports with reportFiles.ts, the browser lab reads them as JSON.
 */
import { type Cell, formatNumber, formatTable } from "../core/table.js";

export interface ReportTable {
  caption: string;
  header: string[];
  rows: Cell[][];
}

export interface ReportFigure {
  caption: string;
  svg: string;
}

export interface LabReport {
  /** The experiment's name: `length`, `stability`, ... (the file name). */
  id: string;
  title: string;
  /** The claim or question the experiment tests. */
  question: string;
  /** The command that produced the report. */
  command: string;
  device: string;
  /** ISO date and time the run started. */
  date: string;
  seconds: number;
  settings: Record<string, string | number | boolean>;
  tables: ReportTable[];
  figures: ReportFigure[];
  /** Statements computed from the measurements. */
  findings: string[];
  /** The raw measurements. */
  data: unknown;
}

/** Display order of the experiments in index.html; others follow by name. */
export const EXPERIMENT_ORDER = ["length", "stability", "accuracy", "speed", "resolution", "cswin", "handwriting"];

/** The report's tables as terminal text. */
export function reportText(r: LabReport): string {
  const parts = [`${r.title}  (${r.device}, ${r.seconds.toFixed(0)} s)`];
  for (const t of r.tables) parts.push(`${t.caption}\n${formatTable(t.header, t.rows)}`);
  if (r.findings.length) parts.push(r.findings.map((f) => `- ${f}`).join("\n"));
  return parts.join("\n\n");
}

/** Sorts reports in EXPERIMENT_ORDER, others after by id. */
export function sortReports(reports: LabReport[]): LabReport[] {
  return [...reports].sort((a, b) => rank(a.id) - rank(b.id) || a.id.localeCompare(b.id));
}

function rank(id: string): number {
  const i = EXPERIMENT_ORDER.indexOf(id);
  return i < 0 ? EXPERIMENT_ORDER.length : i;
}

/** Text escaped for HTML content and attribute values. */
export const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

function cell(c: Cell): string {
  return typeof c === "number" ? `<td class="n">${esc(formatNumber(c))}</td>` : `<td>${esc(c)}</td>`;
}

/** One report as an HTML <section>: title, question, run, figures, findings, tables, settings. */
export function reportHtml(r: LabReport): string {
  const settings = Object.entries(r.settings)
    .map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(String(v))}</td></tr>`)
    .join("");
  const tables = r.tables
    .map(
      (t) =>
        `<table class="data"><caption>${esc(t.caption)}</caption><thead><tr>${t.header.map((h) => `<th>${esc(h)}</th>`).join("")}</tr></thead><tbody>${t.rows.map((row) => `<tr>${row.map(cell).join("")}</tr>`).join("")}</tbody></table>`,
    )
    .join("\n");
  const figures = r.figures.map((f) => `<figure>${f.svg}<figcaption>${esc(f.caption)}</figcaption></figure>`).join("\n");
  const findings = r.findings.length ? `<ul>${r.findings.map((f) => `<li>${esc(f)}</li>`).join("")}</ul>` : "";
  return `<section id="${esc(r.id)}">
<h2>${esc(r.title)}</h2>
<p class="q">${esc(r.question)}</p>
<p class="meta">${esc(r.device)} &middot; ${esc(r.date)} &middot; ${r.seconds.toFixed(0)} s &middot; <code>${esc(r.command)}</code></p>
${figures}
${findings}
${tables}
<details><summary>Settings</summary><table class="settings">${settings}</table></details>
</section>`;
}
