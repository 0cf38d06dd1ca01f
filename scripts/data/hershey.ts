/**
 * Writes data/hershey.json, the stroke glyphs of the synthetic handwriting
 * (src/train/data/handwriting.ts), from the npm package `hersheytext` 2.0.0
 * (a devDependency): the letters a-z A-Z of eight legible Hershey fonts, two
 * script and six print ones (no gothic, symbol or non-Latin fonts).
 * Run: `npx tsx scripts/data/hershey.ts`.
 *
 * The package's `hersheytext.json` maps a font key to `{ name, chars }`, where
 * `chars[code - 33]` is `{ d, o }`: `d` an SVG path of moves and lines only
 * ("M x,y L x,y x,y M ..."), in Hershey units with y down (cap top 1,
 * lowercase top 8 in print, 13 in script, baseline 22, descenders to 29 in
 * print, 34 in script). Its `o` is not the advance (script letters joined at
 * o or 2 o leave gaps or overlap): the advance comes from the same face in
 * the package's `svg_fonts/` (EMSL's 2019 SVG fonts, 31.5 font units per
 * Hershey unit, y up, baseline 0), `horiz-adv-x / 31.5`. This script checks
 * that the two agree point by point, the JSON being the SVG glyph shifted by
 * a constant per font (x_json = x_svg - shift, y_json = 22 - y_svg), and
 * writes the JSON's strokes shifted by +shift, so that x = 0 is the glyph's
 * origin (the pen position) and the next glyph starts at x = advance: script
 * letters then join (script 'a' ends at (17, 17), 'x' starts at (1, 17),
 * advance of 'a' 16).
 *
 * Output, compact JSON: `{ source, license, fonts: { key: { name, glyphs:
 * { char: { advance, strokes } } } } }`, each stroke a flat polyline
 * [x0, y0, x1, y1, ...] of at least two points.
 *
 * Reference: https://github.com/techninja/hersheytextjs; A. V. Hershey,
 * "Calligraphy for computers", NWL Report 2101 (1967).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { resolve } from "node:path";

/** The fonts kept: key -> family (the runtime mixes script and print writers) and the same face's SVG font. */
const FONTS = {
  scripts: { family: "script", svg: "HersheyScript1" }, // Script 1-stroke
  scriptc: { family: "script", svg: "HersheyScriptMed" }, // Script medium
  futural: { family: "print", svg: "HersheySans1" }, // Sans 1-stroke
  futuram: { family: "print", svg: "HersheySansMed" }, // Sans bold
  timesr: { family: "print", svg: "HersheySerifMed" }, // Serif medium
  timesi: { family: "print", svg: "HersheySerifMedItalic" }, // Serif medium italic
  timesib: { family: "print", svg: "HersheySerifBoldItalic" }, // Serif bold italic
  timesrb: { family: "print", svg: "HersheySerifBold" }, // Serif bold
} as const;
const LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
/** First character code of the package's `chars` (space has no entry). */
const FIRST_CODE = 33;
/** SVG font units per Hershey unit in svg_fonts/ (units-per-em 1000). */
const SVG_UNIT = 31.5;
/** The JSON's baseline (y down); the SVG fonts' is 0 (y up). */
const BASELINE = 22;
/** How far an SVG coordinate / 31.5 may be from the JSON's integer (the SVG rounds to 3 digits: 158 / 31.5 = 5.016). */
const AGREE = 0.05;
const OUT = resolve(import.meta.dirname, "../../data/hershey.json");

interface PackageFont {
  name: string;
  chars: { d: string; o: number }[];
}

/** An SVG path of M and L commands as polylines; anything else is an error. */
function strokesOf(d: string, where: string): number[][] {
  const strokes: number[][] = [];
  for (const part of d.trim().split(/(?=M)/)) {
    const m = /^M\s*(.*)$/.exec(part.trim());
    if (!m) throw new Error(`hershey: ${where}: path ${JSON.stringify(d)} has a command other than M and L`);
    const coords = m[1]
      .replace(/L/g, " ")
      .trim()
      .split(/[\s,]+/)
      .map(Number);
    if (coords.length < 4 || coords.length % 2 !== 0 || coords.some((v) => !Number.isFinite(v)))
      throw new Error(`hershey: ${where}: stroke ${JSON.stringify(part)} is not a polyline of two or more points`);
    strokes.push(coords);
  }
  return strokes;
}

const require = createRequire(import.meta.url);
const packageDir = resolve(require.resolve("hersheytext/package.json"), "..");
const version = (JSON.parse(readFileSync(resolve(packageDir, "package.json"), "utf8")) as { version: string }).version;
if (version !== "2.0.0") throw new Error(`hershey: expected hersheytext 2.0.0, found ${version}`);
const all = JSON.parse(readFileSync(resolve(packageDir, "hersheytext.json"), "utf8")) as Record<string, PackageFont>;

/** Advance and coordinates (Hershey units, SVG frame) of each letter of an SVG font. */
function svgGlyphs(file: string): Map<string, { advance: number; coords: number[] }> {
  const svg = readFileSync(resolve(packageDir, "svg_fonts", `${file}.svg`), "utf8");
  const out = new Map<string, { advance: number; coords: number[] }>();
  for (const m of svg.matchAll(/<glyph unicode="([^"]*)" glyph-name="[^"]*" horiz-adv-x="([\d.]+)"(?: d="([^"]*)")?/g))
    if (LETTERS.includes(m[1]) && m[1].length === 1)
      out.set(m[1], { advance: Number(m[2]) / SVG_UNIT, coords: (m[3] ?? "").match(/-?[\d.]+/g)?.map((v) => Number(v) / SVG_UNIT) ?? [] });
  return out;
}

const fonts: Record<string, { name: string; family: string; glyphs: Record<string, { advance: number; strokes: number[][] }> }> = {};
for (const [key, { family, svg }] of Object.entries(FONTS)) {
  const font = all[key];
  if (!font) throw new Error(`hershey: the package has no font ${key}`);
  const faces = svgGlyphs(svg);
  const glyphs: (typeof fonts)[string]["glyphs"] = {};
  let shift: number | undefined;
  for (const c of LETTERS) {
    const char = font.chars[c.charCodeAt(0) - FIRST_CODE];
    const face = faces.get(c);
    if (!char || typeof char.d !== "string") throw new Error(`hershey: ${key} has no glyph for ${c}`);
    if (!face) throw new Error(`hershey: svg_fonts/${svg}.svg has no glyph for ${c}`);
    const strokes = strokesOf(char.d, `${key} ${c}`);
    const flat = strokes.flat();
    shift ??= Math.round(face.coords[0] - flat[0]);
    if (
      flat.length !== face.coords.length ||
      flat.some((v, i) => Math.abs((i % 2 ? BASELINE - face.coords[i] : face.coords[i] - shift!) - v) > AGREE)
    )
      throw new Error(`hershey: ${key} ${c} differs from svg_fonts/${svg}.svg beyond a shift of ${shift} units`);
    const advance = Math.round(face.advance);
    if (Math.abs(advance - face.advance) > AGREE) throw new Error(`hershey: ${key} ${c}: advance ${face.advance} is not whole`);
    glyphs[c] = { advance, strokes: strokes.map((s) => s.map((v, i) => (i % 2 ? v : v + shift!))) };
  }
  fonts[key] = { name: font.name.trim(), family, glyphs };
}

const data = {
  source: `npm hersheytext ${version} hersheytext.json`,
  license:
    "The Hershey Fonts were originally created by Dr. A. V. Hershey while working at the U. S. National Bureau of Standards. " +
    "The format of the Font data in this distribution was originally created by James Hurt, Cognition, Inc., 900 Technology Park Drive, Billerica, MA 01821. " +
    "Converted from the npm package hersheytext (MIT, Copyright (c) 2014 James T; its README: JSON data Public Domain). See data/README.md for the use condition.",
  fonts,
};
const text = JSON.stringify(data);
writeFileSync(OUT, text);
console.log(
  `hershey: wrote ${OUT}: ${Object.keys(fonts).length} fonts x ${LETTERS.length} letters, ${(text.length / 1024).toFixed(1)} KiB`,
);
