/**
 * Lab reports: each experiment's result as JSON (settings, device, time,
 * tables, figures, the raw measurements) and one standalone HTML page,
 * `index.html`, showing every report found in the directory, with the SVG
 * figures inline. Figures are also written as `<id>-<n>.svg`.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
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
export const EXPERIMENT_ORDER = ["length", "stability", "speed", "resolution", "cswin"];

/** The report's tables as terminal text. */
export function reportText(r: LabReport): string {
  const parts = [`${r.title}  (${r.device}, ${r.seconds.toFixed(0)} s)`];
  for (const t of r.tables) parts.push(`${t.caption}\n${formatTable(t.header, t.rows)}`);
  if (r.findings.length) parts.push(r.findings.map((f) => `- ${f}`).join("\n"));
  return parts.join("\n\n");
}

/** Writes `<id>.json`, `<id>-<n>.svg` and a fresh `index.html` with every report in `dir`. Returns the index path. */
export function writeReport(dir: string, report: LabReport): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${report.id}.json`), JSON.stringify(report, null, 1));
  report.figures.forEach((f, i) => writeFileSync(join(dir, `${report.id}-${i + 1}.svg`), f.svg));
  const reports = readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .map((f) => {
      try {
        const r = JSON.parse(readFileSync(join(dir, f), "utf8")) as LabReport;
        return typeof r.id === "string" && Array.isArray(r.tables) && Array.isArray(r.figures) ? r : null;
      } catch {
        return null;
      }
    })
    .filter((r): r is LabReport => r !== null)
    .sort((a, b) => rank(a.id) - rank(b.id) || a.id.localeCompare(b.id));
  const index = join(dir, "index.html");
  writeFileSync(index, indexHtml(reports));
  return index;
}

function rank(id: string): number {
  const i = EXPERIMENT_ORDER.indexOf(id);
  return i < 0 ? EXPERIMENT_ORDER.length : i;
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

function cell(c: Cell): string {
  return typeof c === "number" ? `<td class="n">${esc(formatNumber(c))}</td>` : `<td>${esc(c)}</td>`;
}

function section(r: LabReport): string {
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

function indexHtml(reports: LabReport[]): string {
  const nav = reports.map((r) => `<a href="#${esc(r.id)}">${esc(r.id)}</a>`).join(" &middot; ");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>posenc lab</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 980px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-top: 1px solid #ddd; padding-top: 1em; }
.q { font-style: italic; } .meta { color: #666; font-size: 0.9em; }
table.data { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
table.data caption { text-align: left; font-weight: 600; padding-bottom: 0.3em; }
table.data th, table.data td { border-bottom: 1px solid #eee; padding: 0.25em 0.6em; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
table.settings th { text-align: left; padding-right: 1em; font-weight: normal; color: #555; }
figure { margin: 1em 0; } figcaption { color: #555; font-size: 0.9em; max-width: 640px; }
</style></head><body>
<h1>posenc lab</h1>
<p>Experiments on positional encodings, measured by <code>posenc lab</code>. ${nav}</p>
${reports.map(section).join("\n")}
</body></html>
`;
}
