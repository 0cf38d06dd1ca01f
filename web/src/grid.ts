/**
 * 2-D positions: four views of positions on an image's token grid, each
 * computed by posenc in the page.
 * - Axial RoPE bands: cos of one band's angle over an H x W grid for the row
 *   (y) and column (x) axes, from the tables of `axialRope.axialRope`; the
 *   band's frequency from `axialRope.bands`, its cells per position unit
 *   from `axialRope.axisPositions`.
 * - RPE-2D: the row and column positions `rpe2d.rpe2dPositions` gives a
 *   training grid (randomized, three seeds) and at inference, drawn against
 *   the test grid's positions (inference mode of the test grid).
 * - CSWin stripes: which tokens the selected token attends to in each
 *   branch, probed with `crossShapedWindowAttention` (q = k = 0, v one-hot
 *   at the selected token, LePE zero) on the page's device.
 * - PEG: the tokens the selected token reaches through stacked PEGs, from
 *   the host `peg` (float64) applied to a one-hot input.
 */
import type { AxialOptions, Positions2d } from "../../src/index.js";
import { byId, choice, diverging, guarded, header, heatmap, num, type Posenc, sequential, start } from "./page.js";

/** Target size in CSS pixels of a grid canvas. */
const SIZE = 264;
/** Seeds drawn per "draw again". */
const SEEDS = 3;
/** The PEG's 3x3 weights (one channel, row-major over dy, dx = -1..1). */
const KERNELS = { ones: [1, 1, 1, 1, 1, 1, 1, 1, 1], cross: [0, 1, 0, 1, 1, 1, 0, 1, 0], corner: [0, 0, 0, 0, 1, 0, 0, 0, 1] };
const OUTSIDE = "#f1f1f1";
const SELECTED = "#e69f00";

header("grid.html");

let engine: Promise<{ posenc: Posenc; np: typeof import("@jax-js/jax").numpy }> | undefined;
const lab = () => {
  engine ??= Promise.all([start(), import("@jax-js/jax")]).then(([{ posenc }, { numpy }]) => ({ posenc, np: numpy }));
  return engine;
};

const fmt = (v: number) => String(Number(v.toPrecision(3)));

/** Sizes a canvas for an (H, W) grid of square cells and draws it; a selected cell gets an outline. */
function drawGrid(canvas: HTMLCanvasElement, values: ArrayLike<number>, H: number, W: number, color: (v: number) => string, at?: number) {
  const cell = Math.max(2, Math.floor(SIZE / Math.max(H, W)));
  [canvas.width, canvas.height] = [W * cell, H * cell];
  heatmap(canvas, values, H, W, color);
  const ctx = canvas.getContext("2d");
  if (at === undefined || !ctx) return;
  const line = Math.max(1, Math.min(3, cell / 6));
  ctx.strokeStyle = "#1a1a1a";
  ctx.lineWidth = line;
  ctx.strokeRect((at % W) * cell + line / 2, Math.floor(at / W) * cell + line / 2, cell - line, cell - line);
}

async function bands(): Promise<void> {
  const { posenc } = await lab();
  const [H, W, dim] = [num("rope-h"), num("rope-w"), num("rope-dim")];
  const K = dim / 4;
  const bandInput = byId<HTMLInputElement>("rope-band");
  bandInput.max = String(K - 1);
  if (Number(bandInput.value) > K - 1) bandInput.value = String(K - 1);
  syncOutput(bandInput);
  const k = num("rope-band");
  const convention = choice("rope-convention", ["lang", "pixel"]);
  const gridIndexing = choice("rope-indexing", ["ij", "xy"]);
  const ref = num("rope-ref");
  for (const id of ["rope-temperature", "rope-offset"]) byId<HTMLInputElement>(id).disabled = convention !== "lang";
  for (const id of ["rope-maxres", "rope-linear"]) byId<HTMLInputElement>(id).disabled = convention !== "pixel";
  const options: AxialOptions =
    convention === "lang"
      ? { convention, temperature: num("rope-temperature"), gridOffset: num("rope-offset"), gridIndexing }
      : { convention, maxRes: num("rope-maxres"), linearBands: byId<HTMLInputElement>("rope-linear").checked, gridIndexing };
  if (ref > 0) options.refShape = [ref, ref];
  const { cos } = posenc.axialRope.axialRope([H, W], dim, options);
  const omega = posenc.axialRope.bands(K, options)[k];
  const wavelength = (2 * Math.PI) / omega;
  const parts: string[] = [];
  for (const [axis, name, size] of [
    [0, "y", H],
    [1, "x", W],
  ] as const) {
    // Channel block b holds axis a ("ij": b = a; "xy": b = 1 - a), band k at its channels 2k, 2k + 1.
    const channel = (gridIndexing === "ij" ? axis : 1 - axis) * 2 * K + 2 * k;
    const values = Float64Array.from({ length: H * W }, (_, n) => cos[n * dim + channel]);
    const canvas = byId<HTMLCanvasElement>(`band-${name}`);
    drawGrid(canvas, values, H, W, (v) => diverging((v + 1) / 2));
    canvas.setAttribute("aria-label", `cos of band ${k} of the ${name} axis over the ${H} by ${W} grid, blue -1 to red +1`);
    const t = posenc.axialRope.axisPositions(size, options, ref > 0 ? ref : undefined);
    const cells = size > 1 ? `${fmt(wavelength / (t[1] - t[0]))} cells along ${name}` : `no period visible along ${name} (one cell)`;
    parts.push(cells);
  }
  byId("band-caption").textContent =
    `cos(t ω_k) of band k = ${k} of K = ${K} per axis (head dim ${dim} = 2 axes × ${K} bands × 2 channels), from the cos table of ` +
    `axialRope.axialRope([${H}, ${W}], ${dim}, ${JSON.stringify(options)}): blue −1, white 0, red +1. ` +
    `ω_k = ${fmt(omega)} (axialRope.bands), wavelength 2π/ω_k = ${fmt(wavelength)} position units: ${parts.join(", ")}. ` +
    (convention === "lang"
      ? "lang: ω_k = T^(−k/K) on positions index + offset."
      : "pixel: π-scaled bands on positions linspace(−1, 1, size).") +
    (ref > 0 ? ` Positions scaled by ${ref}/size (reference grid ${ref}×${ref}).` : "");
}

/** An SVG scatter of the test grid's positions (grey) and the drawn ones (blue) over [0, X) x [0, Y). */
function scatter(title: string, test: Positions2d, drawn: Positions2d, X: number, Y: number): HTMLElement {
  const pad = Math.max(X, Y) * 0.08;
  const dots = (p: Positions2d, r: number, fill: string) =>
    Array.from(p.rows, (y) => Array.from(p.cols, (x) => `<circle cx="${x}" cy="${y}" r="${r}" fill="${fill}"/>`).join("")).join("");
  const font = Math.max(X, Y) / 16;
  const fig = document.createElement("figure");
  fig.className = "figure tile";
  fig.innerHTML =
    `<svg role="img" viewBox="${-pad} ${-pad} ${X + 1 + 2 * pad} ${Y + 1 + 2 * pad}" aria-label="${title}: ${drawn.rows.length} rows by ${drawn.cols.length} columns of positions over the ${Y} by ${X} test grid">` +
    `<rect x="-0.5" y="-0.5" width="${X}" height="${Y}" fill="none" stroke="#bbb" stroke-dasharray="0.4"/>` +
    dots(test, 0.12, "#b5b5b5") +
    dots(drawn, 0.32, "#2166ac") +
    `<text x="-0.5" y="${-pad / 3}" font-size="${font}" fill="#555">0</text>` +
    `<text x="${X - 0.5}" y="${-pad / 3}" font-size="${font}" fill="#555" text-anchor="end">x ${X - 1}</text>` +
    `<text x="${-pad / 2}" y="${Y - 0.5}" font-size="${font}" fill="#555" text-anchor="middle" dominant-baseline="middle" transform="rotate(-90 ${-pad / 2} ${Y - 0.5})">y ${Y - 1}</text>` +
    `</svg>`;
  const caption = document.createElement("span");
  caption.textContent = `${title}: rows ${fmt(drawn.rows[0])}..${fmt(drawn.rows[drawn.rows.length - 1])}, columns ${fmt(drawn.cols[0])}..${fmt(drawn.cols[drawn.cols.length - 1])}`;
  fig.append(caption);
  return fig;
}

async function rpe(): Promise<void> {
  const { posenc } = await lab();
  const [h, w, maxHeight, maxWidth, seed0] = [num("rpe-h"), num("rpe-w"), num("rpe-test-h"), num("rpe-test-w"), num("rpe-seed")];
  const training = { height: h, width: w, maxHeight, maxWidth };
  const test = posenc.rpe2d.rpe2dPositions({ height: maxHeight, width: maxWidth, maxHeight, maxWidth }, { training: false });
  const seen = { rows: new Set<number>(), cols: new Set<number>() };
  const figures = Array.from({ length: SEEDS }, (_, i) => {
    const drawn = posenc.rpe2d.rpe2dPositions(training, { training: true, seed: seed0 + i });
    for (const r of drawn.rows) seen.rows.add(r);
    for (const c of drawn.cols) seen.cols.add(c);
    return scatter(`training, seed ${seed0 + i}`, test, drawn, maxWidth, maxHeight);
  });
  figures.push(scatter("inference", test, posenc.rpe2d.rpe2dPositions(training, { training: false }), maxWidth, maxHeight));
  byId("rpe").replaceChildren(...figures);
  byId("rpe-caption").textContent =
    `Blue: the positions (column, row) rpe2d.rpe2dPositions gives the ${h}×${w} training grid; grey: those of the ${maxHeight}×${maxWidth} ` +
    `test grid (inference mode), which is also the training range [0, ${maxHeight}) × [0, ${maxWidth}). Training mode ({ training: true, seed }) draws ` +
    `the rows and the columns independently as sorted distinct integers from the wider range (randomized.positions2d), so the model learns ` +
    `the order of patches rather than their distances and every position of the larger test grid is seen in training; inference mode ` +
    `({ training: false }) gives the exact grid 0..H−1 × 0..W−1. Over seeds ${seed0}..${seed0 + SEEDS - 1} the training rows took ` +
    `${seen.rows.size} of the ${maxHeight} row positions and the columns ${seen.cols.size} of ${maxWidth}. The positions feed an axial 2-D RoPE.`;
}

/** The token selected in the CSWin and PEG grids, row-major, and the grid it lies on. */
const selection = { row: 5, col: 5 };

function tokenGrid(): { H: number; W: number; at: number } {
  const [H, W] = [num("tok-h"), num("tok-w")];
  selection.row = Math.min(selection.row, H - 1);
  selection.col = Math.min(selection.col, W - 1);
  return { H, W, at: selection.row * W + selection.col };
}

async function cswin(): Promise<void> {
  const { posenc, np } = await lab();
  const { H, W, at } = tokenGrid();
  const sw = num("cswin-sw");
  const N = H * W;
  const onehot = new Float32Array(N * 2);
  onehot[at * 2] = onehot[at * 2 + 1] = 1;
  const zeros = (shape: number[]) => np.zeros(shape, { dtype: np.float32 });
  const v = np.array(onehot, { shape: [1, N, 2] });
  const opts = { mode: "cross", height: H, width: W, heads: 2, stripeWidth: sw } as const;
  const out = await posenc.crossShapedWindowAttention(zeros([1, N, 2]), zeros([1, N, 2]), v, zeros([2, 3, 3]), zeros([2]), opts).data(); // (1, N, 2)
  const counts: number[] = [];
  for (const [c, id, name] of [
    [0, "cswin-v", "vertical"],
    [1, "cswin-h", "horizontal"],
  ] as const) {
    const member = Float64Array.from({ length: N }, (_, n) => (n === at ? 2 : out[n * 2 + c] > 0 ? 1 : 0));
    counts.push(member.reduce((a, m) => a + (m > 0 ? 1 : 0), 0));
    const canvas = byId<HTMLCanvasElement>(id);
    drawGrid(canvas, member, H, W, (m) => (m === 2 ? SELECTED : m === 1 ? sequential(0.6) : OUTSIDE), at);
    canvas.setAttribute(
      "aria-label",
      `${H} by ${W} token grid, token row ${selection.row}, column ${selection.col} selected: the ${counts[c]} tokens of its ${name} stripe highlighted`,
    );
  }
  const pad = W % sw !== 0 || H % sw !== 0 ? ` sw does not divide ${H}×${W}: posenc zero-pads the last stripe, which is narrower.` : "";
  byId("cswin-caption").textContent =
    `Token (row ${selection.row}, column ${selection.col}) attends to ${counts[0]} tokens in its vertical stripe (sw = ${sw} columns, full height; ` +
    `the first half of the heads) and ${counts[1]} in its horizontal stripe (sw rows, full width; the other half).${pad} ` +
    `Probe: crossShapedWindowAttention(q = 0, k = 0, v, LePE weights and bias 0, ${JSON.stringify(opts)}) with v one-hot at the selected ` +
    `token in both channels (one per branch). Zero logits give uniform softmax weights inside each stripe, so a token's output is ` +
    `1/(stripe size) exactly when the selected token shares its stripe, and 0 otherwise; stripes are symmetric, so these are also ` +
    `the tokens the selected one attends to.`;
}

async function peg(): Promise<void> {
  const { posenc } = await lab();
  const { H, W, at } = tokenGrid();
  const steps = num("peg-steps");
  const kernel = choice("peg-kernel", ["ones", "cross", "corner"]);
  let x: Float64Array = new Float64Array(H * W);
  x[at] = 1;
  for (let s = 0; s < steps; s++) x = posenc.peg(x, KERNELS[kernel], [0], { height: H, width: W });
  const max = Math.max(...x);
  const reached = x.reduce((a, v) => a + (v !== 0 ? 1 : 0), 0);
  const rows = Array.from({ length: H }, (_, r) => r).filter((r) => x.subarray(r * W, (r + 1) * W).some((v) => v !== 0));
  const cols = Array.from({ length: W }, (_, c) => c).filter((c) => rows.some((r) => x[r * W + c] !== 0));
  const canvas = byId<HTMLCanvasElement>("peg-map");
  drawGrid(canvas, x, H, W, (v) => (v === 0 ? OUTSIDE : sequential(0.15 + (0.85 * Math.log1p(v)) / Math.log1p(max))), at);
  canvas.setAttribute(
    "aria-label",
    `${H} by ${W} token grid, token row ${selection.row}, column ${selection.col} selected: ${reached} tokens reached after ${steps} PEG applications`,
  );
  byId("peg-caption").textContent =
    `After ${steps} PEG application${steps > 1 ? "s" : ""} (depthwise 3×3 convolution, zero padding, bias 0, plus the residual), a one-hot ` +
    `input at token (row ${selection.row}, column ${selection.col}) is nonzero at ${reached} tokens, rows ${rows[0]}..${rows[rows.length - 1]} and ` +
    `columns ${cols[0]}..${cols[cols.length - 1]}: those whose output depends on the selected token. Weights ${JSON.stringify(KERNELS[kernel])} ` +
    `(row-major over dy, dx = −1..1: output n reads its neighbour n + (dy, dx)), so the field grows by one cell per application in each ` +
    `direction opposite a nonzero weight. Computed by posenc's host peg (float64), applied ${steps} times; colour log(1 + value), largest ${fmt(max)}.`;
}

type Section = "bands" | "rpe" | "cswin" | "peg";
const SECTIONS: Record<Section, () => Promise<void>> = { bands, rpe, cswin, peg };
const errors = new Map<Section, string>();
const dirty = new Set<Section>();
let rendering = false;

/** Redraws the sections (one after another); data-ready is "1" once nothing is left to draw. Failing sections are hidden. */
function schedule(...sections: Section[]): void {
  delete document.body.dataset.ready;
  for (const s of sections) dirty.add(s);
  if (rendering) return;
  rendering = true;
  void (async () => {
    while (dirty.size) {
      const next = [...dirty];
      dirty.clear();
      for (const s of next) {
        try {
          await SECTIONS[s]();
          errors.delete(s);
        } catch (e) {
          errors.set(s, `${s}: ${e instanceof Error ? e.message : String(e)}`);
        }
        byId(s).hidden = errors.has(s);
      }
      await guarded(() => {
        if (errors.size) throw new Error([...errors.values()].join("\n"));
      });
    }
    rendering = false;
    document.body.dataset.ready = "1";
  })();
}

/** Shows a control's value (a select's option text) in its <output>. */
function syncOutput(el: HTMLInputElement | HTMLSelectElement): void {
  const out = document.querySelector<HTMLOutputElement>(`output[for="${el.id}"]`);
  if (out) out.value = el instanceof HTMLSelectElement ? (el.selectedOptions[0]?.text ?? el.value) : el.value;
}

const OWNER: [string, Section[]][] = [
  ["rope-", ["bands"]],
  ["rpe-", ["rpe"]],
  ["tok-", ["cswin", "peg"]],
  ["cswin-", ["cswin"]],
  ["peg-", ["peg"]],
];
for (const el of document.querySelectorAll<HTMLInputElement | HTMLSelectElement>(".controls input, .controls select")) {
  const owners = OWNER.find(([prefix]) => el.id.startsWith(prefix))?.[1] ?? [];
  syncOutput(el);
  el.addEventListener(el instanceof HTMLSelectElement || el.type === "checkbox" ? "change" : "input", () => {
    syncOutput(el);
    schedule(...owners);
  });
}

byId("rpe-again").addEventListener("click", () => {
  const seed = byId<HTMLInputElement>("rpe-seed");
  seed.value = String((Number(seed.value) + SEEDS) % (Number(seed.max) + 1 - SEEDS));
  schedule("rpe");
});

const ARROWS: Record<string, [number, number]> = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
for (const canvas of document.querySelectorAll<HTMLCanvasElement>(".tokens canvas")) {
  canvas.addEventListener("click", (e) => {
    void guarded(() => {
      const { H, W } = tokenGrid();
      selection.row = Math.max(0, Math.min(H - 1, Math.floor((e.offsetY / canvas.clientHeight) * H)));
      selection.col = Math.max(0, Math.min(W - 1, Math.floor((e.offsetX / canvas.clientWidth) * W)));
      schedule("cswin", "peg");
    });
  });
  canvas.addEventListener("keydown", (e) => {
    const step = ARROWS[e.key];
    if (!step) return;
    e.preventDefault();
    void guarded(() => {
      const { H, W } = tokenGrid();
      selection.row = Math.max(0, Math.min(H - 1, selection.row + step[0]));
      selection.col = Math.max(0, Math.min(W - 1, selection.col + step[1]));
      schedule("cswin", "peg");
    });
  });
}

schedule("bands", "rpe", "cswin", "peg");
