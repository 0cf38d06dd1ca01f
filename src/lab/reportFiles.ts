/**
 * Lab reports on disk: `<id>.json` (the report), `<id>-<n>.svg` (its
 * figures) and one standalone HTML page, `index.html`, showing every report
 * found in the directory, with the SVG figures inline. NaN and infinities
 * (a diverged run's loss) are written as the strings "NaN", "Infinity".
 * Node only (the command line).
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { esc, type LabReport, reportHtml, sortReports } from "./report.js";

/** Writes `<id>.json`, `<id>-<n>.svg` and a fresh `index.html` with every report in `dir`. Returns the index path. */
export function writeReport(dir: string, report: LabReport): string {
  mkdirSync(dir, { recursive: true });
  // plain JSON writes NaN and infinities as null, which the index (and a reader of the file) could not show
  const shown = (_: string, v: unknown) => (typeof v === "number" && !Number.isFinite(v) ? String(v) : v);
  // written whole, then renamed: processes sharing the directory never read a half-written report
  const file = join(dir, `${report.id}.json`);
  writeFileSync(`${file}.${process.pid}.tmp`, JSON.stringify(report, shown, 1));
  renameSync(`${file}.${process.pid}.tmp`, file);
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
    .filter((r): r is LabReport => r !== null);
  const index = join(dir, "index.html");
  writeFileSync(`${index}.${process.pid}.tmp`, indexHtml(sortReports(reports)));
  renameSync(`${index}.${process.pid}.tmp`, index);
  return index;
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
${reports.map(reportHtml).join("\n")}
</body></html>
`;
}
