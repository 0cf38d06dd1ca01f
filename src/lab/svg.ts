/**
 * Line charts as standalone SVG text, for the lab's reports: one polyline per
 * series with optional shaded bands (spread over seeds), linear or log axes
 * with "nice" ticks, a legend. No dependencies; the output is deterministic
 * for the same data.
 */

export interface Point {
  x: number;
  y: number;
  /** Band around y (e.g. min and max over seeds); drawn when both are given. */
  lo?: number;
  hi?: number;
}

export interface Series {
  name: string;
  points: Point[];
  /** Dashed line (e.g. a variant of another series). */
  dashed?: boolean;
  /** Colour; default the palette's colour for the series' index. */
  color?: string;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  xScale?: "linear" | "log2" | "log10";
  yScale?: "linear" | "log10";
  /** Fixed y range; default the data's range. */
  yRange?: [number, number];
  /** A horizontal reference line (e.g. chance level), drawn grey and dotted. */
  reference?: { y: number; label: string };
  /** Width of the plot and axes, without the legend (default 500). */
  width?: number;
  height?: number;
}

/** Colour-blind-safe palette (Okabe & Ito 2008), then Tableau 10's remaining hues. */
export const PALETTE = [
  "#0072B2",
  "#E69F00",
  "#009E73",
  "#D55E00",
  "#CC79A7",
  "#56B4E9",
  "#000000",
  "#8c564b",
  "#9467bd",
  "#bcbd22",
  "#17becf",
  "#7f7f7f",
  "#F0E442",
];

const escapeXml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

function transform(scale: "linear" | "log2" | "log10"): (v: number) => number {
  if (scale === "log2") return Math.log2;
  if (scale === "log10") return Math.log10;
  return (v) => v;
}

/** About `count` round tick values covering [lo, hi] (1, 2, 5 x 10^k steps). */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function tickLabel(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(0);
  return String(Number(v.toPrecision(4)));
}

/** The chart as an SVG document. Non-finite points are skipped (a gap in the line). */
export function lineChart(series: Series[], opts: ChartOptions): string {
  const longest = Math.max(0, ...series.map((s) => s.name.length));
  const m = { left: 64, right: 56 + Math.ceil(6.6 * longest), top: 36, bottom: 52 };
  const W = (opts.width ?? 500) + m.right;
  const H = opts.height ?? 380;
  const xs = opts.xScale ?? "linear";
  const ys = opts.yScale ?? "linear";
  const fx = transform(xs);
  const fy = transform(ys);
  const finite = (p: Point) => Number.isFinite(p.x) && Number.isFinite(p.y) && (xs === "linear" || p.x > 0) && (ys === "linear" || p.y > 0);
  const pts = series.flatMap((s) => s.points.filter(finite));
  let [x0, x1] = pts.length ? [Math.min(...pts.map((p) => fx(p.x))), Math.max(...pts.map((p) => fx(p.x)))] : [0, 1];
  let [y0, y1] = opts.yRange
    ? [fy(opts.yRange[0]), fy(opts.yRange[1])]
    : pts.length
      ? [Math.min(...pts.map((p) => fy(p.lo ?? p.y))), Math.max(...pts.map((p) => fy(p.hi ?? p.y)))]
      : [0, 1];
  if (x1 === x0) [x0, x1] = [x0 - 1, x1 + 1];
  if (y1 === y0) [y0, y1] = [y0 - 1, y1 + 1];
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const px = (v: number) => m.left + ((fx(v) - x0) / (x1 - x0)) * pw;
  const py = (v: number) => m.top + ph - ((Math.min(Math.max(fy(v), y0), y1) - y0) / (y1 - y0)) * ph;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, sans-serif" font-size="12">`,
  );
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${m.left}" y="22" font-size="14" font-weight="600">${escapeXml(opts.title)}</text>`);
  const xTicks =
    xs === "linear"
      ? niceTicks(x0, x1)
      : niceTicks(Math.ceil(x0), Math.floor(x1), Math.min(8, Math.floor(x1) - Math.ceil(x0) + 1))
          .filter(Number.isInteger)
          .map((e) => (xs === "log2" ? 2 : 10) ** e);
  const decades = niceTicks(Math.ceil(y0), Math.floor(y1)).filter((e) => Number.isInteger(e) && e >= y0 && e <= y1);
  // log axis: powers of ten, or round values inside a range of less than two decades
  const yTicks =
    ys === "linear"
      ? niceTicks(y0, y1)
      : decades.length >= 2
        ? decades.map((e) => 10 ** e)
        : niceTicks(10 ** y0, 10 ** y1).filter((t) => t > 0);
  for (const t of xTicks) {
    const x = px(t);
    out.push(`<line x1="${x.toFixed(1)}" y1="${m.top}" x2="${x.toFixed(1)}" y2="${m.top + ph}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${x.toFixed(1)}" y="${m.top + ph + 16}" text-anchor="middle" fill="#444">${tickLabel(t)}</text>`);
  }
  for (const t of yTicks) {
    const y = py(t);
    out.push(`<line x1="${m.left}" y1="${y.toFixed(1)}" x2="${m.left + pw}" y2="${y.toFixed(1)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${m.left - 6}" y="${(y + 4).toFixed(1)}" text-anchor="end" fill="#444">${tickLabel(t)}</text>`);
  }
  out.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
  out.push(`<text x="${m.left + pw / 2}" y="${H - 12}" text-anchor="middle">${escapeXml(opts.xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle">${escapeXml(opts.yLabel)}</text>`);
  if (opts.reference && Number.isFinite(opts.reference.y)) {
    const y = py(opts.reference.y).toFixed(1);
    out.push(`<line x1="${m.left}" y1="${y}" x2="${m.left + pw}" y2="${y}" stroke="#888" stroke-dasharray="2 3"/>`);
    out.push(
      `<text x="${m.left + pw - 4}" y="${(Number(y) - 4).toFixed(1)}" text-anchor="end" fill="#666">${escapeXml(opts.reference.label)}</text>`,
    );
  }
  series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length];
    const ok = s.points.filter(finite);
    const band = ok.filter((p) => p.lo !== undefined && p.hi !== undefined && Number.isFinite(p.lo) && Number.isFinite(p.hi));
    if (band.length > 1) {
      const upper = band.map((p) => `${px(p.x).toFixed(1)},${py(p.hi as number).toFixed(1)}`);
      const lower = band.map((p) => `${px(p.x).toFixed(1)},${py(p.lo as number).toFixed(1)}`).reverse();
      out.push(`<polygon points="${[...upper, ...lower].join(" ")}" fill="${color}" fill-opacity="0.15" stroke="none"/>`);
    }
    const path = ok.map((p) => `${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(" ");
    out.push(`<polyline points="${path}" fill="none" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ""}/>`);
    for (const p of ok) out.push(`<circle cx="${px(p.x).toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="2.5" fill="${color}"/>`);
    const ly = m.top + 8 + i * 18;
    out.push(
      `<line x1="${W - m.right + 12}" y1="${ly}" x2="${W - m.right + 36}" y2="${ly}" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ""}/>`,
    );
    out.push(`<text x="${W - m.right + 42}" y="${ly + 4}">${escapeXml(s.name)}</text>`);
  });
  out.push("</svg>");
  return out.join("\n");
}
