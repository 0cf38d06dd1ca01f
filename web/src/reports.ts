/**
 * The committed lab reports (docs/reports/*.json, written by `posenc lab`),
 * shown with lab/report.ts's `reportHtml`, the function that writes the
 * command's index.html. Each file is checked to be a report before it is shown.
 */
import { esc, type LabReport, reportHtml, sortReports } from "../../src/lab/report.js";
import { byId, guarded, header } from "./page.js";

const FILES = import.meta.glob<unknown>("../../docs/reports/*.json", { eager: true, import: "default" });

header("reports.html", false);

function asReport(path: string, value: unknown): LabReport {
  const r = value as Partial<LabReport>;
  const ok =
    typeof r === "object" &&
    r !== null &&
    typeof r.id === "string" &&
    typeof r.title === "string" &&
    Array.isArray(r.tables) &&
    Array.isArray(r.figures) &&
    Array.isArray(r.findings);
  if (!ok) throw new Error(`${path} is not a lab report (needs id, title, tables, figures, findings)`);
  return r as LabReport;
}

void guarded(() => {
  const reports = sortReports(Object.entries(FILES).map(([path, value]) => asReport(path.replace(/^\.\.\/\.\.\//, ""), value)));
  byId("toc").innerHTML = reports.map((r) => `<a href="#${esc(r.id)}">${esc(r.title)}</a>`).join("");
  byId("reports").innerHTML = reports.length ? reports.map(reportHtml).join("\n") : "<p>No reports are committed in docs/reports/.</p>";
  document.body.dataset.ready = "1";
});
