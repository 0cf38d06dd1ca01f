/**
 * The bias explorer: heatmaps of the additive attention bias b_h(i, j) of
 * query i and key j in head h, and of the masks attention applies, for the
 * page's heads, length and parameters. What computes each map:
 * - ALiBi: `alibi.slopes` and `alibi.bias` (host, float64);
 * - T5: the bucket of each (i, j) from `t5.bucketMatrix`; the bias from the
 *   table `initPE` draws (seeded, untrained), looked up by posenc's composite
 *   `positionalBias` (attention/biases.ts) on the device, float32;
 * - KERPLE: `kerple.bias` (host, float64), with r1, r2 from the sliders or
 *   from `initPE` through `peSpec` (which clamps them as a model uses them);
 * - FIRE: the MLP's input from `fire.transform`; the bias of the MLP, c and
 *   threshold `initPE` draws (the threshold may be set) by `positionalBias`;
 * - masks: posenc's `attention` with q = k = 0 and v = I, whose output rows
 *   are the softmax weights: a key is allowed where its weight is > 0
 *   (masked logits take float32's lowest value, whose weight is exactly 0).
 * `positionalBias` is not among posenc's public exports: it is imported from
 * its module, lazily, once `start()` has started the engine.
 */
import type { BiasPE } from "../../src/attention/spec.js";
import { byId, choice, diverging, guarded, header, heatmap, num, sequential, start } from "./page.js";

/** Head dimension of the model the learned parameters are initialised for (width C = H x 64). */
const HEAD_DIM = 64;
/** Target size in CSS pixels of a map drawn alone and of one map of the small multiples. */
const BIG = 256;
const SMALL = 120;

header("bias.html");

async function engine() {
  const { posenc } = await start();
  const [{ numpy: np }, { positionalBias }] = await Promise.all([import("@jax-js/jax"), import("../../src/attention/biases.js")]);
  return { posenc, np, positionalBias };
}
type Lab = Awaited<ReturnType<typeof engine>>;

/** The controls' values; the head select is rebuilt for the current head count first. */
function settings() {
  const H = num("heads");
  const select = byId<HTMLSelectElement>("head");
  if (select.options.length !== H + 1) {
    const keep = select.value;
    select.innerHTML = `<option value="all">all heads</option>${Array.from({ length: H }, (_, h) => `<option value="${h}">head ${h}</option>`).join("")}`;
    select.value = Number(keep) < H ? keep : "all";
    syncOutput(select);
  }
  const head = choice("head", ["all", ...Array.from({ length: H }, (_, h) => String(h))]);
  return {
    H,
    L: num("length"),
    seed: num("seed"),
    /** Heads drawn: all (small multiples) or the one chosen. */
    shown: head === "all" ? Array.from({ length: H }, (_, h) => h) : [Number(head)],
    t5: {
      numBuckets: num("t5-buckets"),
      maxDistance: num("t5-max"),
      bidirectional: choice("t5-direction", ["bidirectional", "causal"]) === "bidirectional",
    },
    kerple: {
      kind: choice("kerple-kind", ["log", "power"]),
      source: choice("kerple-source", ["init", "sliders"]),
      r1: num("kerple-r1"),
      r2: num("kerple-r2"),
    },
    fire: { width: num("fire-width"), threshold: num("fire-threshold") },
    window: num("window"),
  };
}
type Settings = ReturnType<typeof settings>;

interface Tile {
  label: string;
  values: ArrayLike<number>;
}
interface Scale {
  lo: number;
  hi: number;
  color: (v: number) => string;
  /** Legend texts at the two ends (default: lo and hi). */
  ends?: [string, string];
}

const fmt = (v: number) => String(Number(v.toPrecision(3)));

/** Smallest and largest finite value of the maps. */
function extent(maps: Tile[]): [number, number] {
  let [min, max] = [Infinity, -Infinity];
  for (const { values } of maps)
    for (let i = 0; i < values.length; i++)
      if (Number.isFinite(values[i])) [min, max] = [Math.min(min, values[i]), Math.max(max, values[i])];
  return [min, max];
}

/**
 * Signed values: blue-white-red with 0 white; one-signed values: white at the
 * value nearest 0 to dark blue at the farthest (so an offset map keeps its contrast).
 */
function scaleOf([min, max]: [number, number]): Scale {
  if (min < 0 && max > 0) {
    const m = Math.max(-min, max);
    return { lo: -m, hi: m, color: (v) => diverging((v + m) / (2 * m)) };
  }
  const span = max - min || 1;
  return { lo: min, hi: max, color: (v) => sequential(max <= 0 ? (max - v) / span : (v - min) / span) };
}

const MASK: Scale = { lo: 0, hi: 1, color: (v) => (v > 0 ? sequential(0.85) : "#e6e6e6"), ends: ["blocked", "allowed"] };

/**
 * Appends a figure of square (L, L) maps drawn with one colour scale (by default
 * from the maps' values), a legend, and the caption followed by the value range.
 */
function figure(parent: ParentNode, name: string, maps: Tile[], L: number, px: number, caption: string, scale?: Scale): void {
  const range = extent(maps);
  const s = scale ?? scaleOf(range);
  const fig = document.createElement("figure");
  fig.className = "figure";
  const tiles = document.createElement("div");
  tiles.className = "tiles";
  for (const map of maps) {
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = L * Math.max(1, Math.floor(px / L));
    canvas.setAttribute("aria-label", `${name}${map.label ? `, ${map.label}` : ""}: ${L} queries by ${L} keys`);
    heatmap(canvas, map.values, L, L, s.color);
    const tile = document.createElement("div");
    tile.className = "tile";
    tile.style.maxWidth = `${Math.max(canvas.width, 96) + 2}px`;
    tile.append(canvas);
    if (map.label) tile.append(map.label);
    tiles.append(tile);
  }
  const legend = document.createElement("div");
  legend.className = "legend";
  const bar = document.createElement("canvas");
  [bar.width, bar.height] = [128, 1];
  bar.setAttribute("aria-label", `colour legend of ${name}, ${fmt(s.lo)} to ${fmt(s.hi)}`);
  const steps = Float64Array.from({ length: 128 }, (_, k) => s.lo + ((s.hi - s.lo) * k) / 127);
  heatmap(bar, steps, 1, 128, s.color);
  const [left, right] = s.ends ?? [fmt(s.lo), fmt(s.hi)];
  legend.append(left, bar, right);
  const cap = document.createElement("figcaption");
  cap.textContent = `${caption} Values ${fmt(range[0])}..${fmt(range[1])}.`;
  fig.append(tiles, legend, cap);
  parent.append(fig);
}

/** The shown heads' (L, L) maps of an (H, L, L) array, labelled by `label(h)`. */
function perHead(values: Float64Array, s: Settings, label: (h: number) => string): Tile[] {
  const n = s.L * s.L;
  return s.shown.map((h) => ({ label: label(h), values: values.subarray(h * n, (h + 1) * n) }));
}

const tileSize = (s: Settings) => (s.shown.length === 1 ? BIG : SMALL);
const headName = (h: number) => `head ${h}`;
const heads = (s: Settings) => (s.shown.length === 1 ? `head ${s.shown[0]} of ${s.H}` : `all ${s.H} heads, one colour scale`);

/** The (H, L, L) bias posenc's attention adds for `pe`, computed by `positionalBias` at positions 0..L-1. */
async function deviceBias(lab: Lab, pe: BiasPE, s: Settings): Promise<Float64Array> {
  const idx = Float64Array.from({ length: s.L }, (_, i) => i);
  const positions = () => lab.np.array(Float32Array.from(idx));
  const heads: [number, number] = [0, s.H];
  const ctx = { queryPositions: positions(), keyPositions: positions(), staticQuery: idx, staticKey: idx, heads };
  return Float64Array.from(await lab.positionalBias(pe, ctx).data());
}

const dims = (s: Settings) => ({ width: s.H * HEAD_DIM, heads: s.H, headDim: HEAD_DIM });

async function alibi(lab: Lab, s: Settings, parent: ParentNode): Promise<void> {
  const slopes = lab.posenc.alibi.slopes(s.H);
  const maps = perHead(lab.posenc.alibi.bias(slopes, s.L, s.L), s, (h) => `h${h} · m ${fmt(slopes[h])}`);
  const caption = `ALiBi bias −m_h |i − j|, ${heads(s)}: slopes m_h from alibi.slopes(${s.H}) (BLOOM's float32 slopes), bias from alibi.bias (float64). Nothing is learned.`;
  figure(parent, "ALiBi bias", maps, s.L, tileSize(s), caption);
}

async function t5(lab: Lab, s: Settings, parent: ParentNode): Promise<void> {
  const opts = s.t5;
  const buckets = lab.posenc.t5.bucketMatrix(s.L, s.L, opts);
  const dir = opts.bidirectional ? "bidirectional" : "causal";
  const setting = `${dir}, ${opts.numBuckets} buckets, max distance ${opts.maxDistance}`;
  const table = lab.posenc.initPE(lab.posenc.rng(s.seed), { type: "t5", ...opts }, dims(s)).table!;
  let bias: Float64Array;
  try {
    bias = await deviceBias(lab, { type: "bias", kind: "t5", table, ...opts }, s);
  } finally {
    table.dispose();
  }
  const bucketCaption = `Bucket of each (i, j) from t5.bucketMatrix (${setting}): the same for every head, needs no training.`;
  figure(parent, "T5 bucket index", [{ label: "", values: buckets }], s.L, BIG, bucketCaption);
  const caption =
    `T5 bias table[bucket(j − i), h], ${heads(s)}: the (${opts.numBuckets}, ${s.H}) table is initPE's initial, untrained draw ` +
    `N(0, 1/C) for width C = ${s.H} × ${HEAD_DIM}, seed ${s.seed}, looked up by positionalBias on the device (float32).`;
  figure(parent, "T5 bias", perHead(bias, s, headName), s.L, tileSize(s), caption);
}

async function kerple(lab: Lab, s: Settings, parent: ParentNode): Promise<void> {
  const { kind, source } = s.kerple;
  byId<HTMLInputElement>("kerple-r1").disabled = byId<HTMLInputElement>("kerple-r2").disabled = source === "init";
  let r1: ArrayLike<number> = new Float64Array(s.H).fill(s.kerple.r1);
  let r2: ArrayLike<number> = new Float64Array(s.H).fill(s.kerple.r2);
  if (source === "init") {
    const config = { type: "kerple", variant: kind } as const;
    const params = lab.posenc.initPE(lab.posenc.rng(s.seed), config, dims(s));
    const spec = lab.posenc.peSpec(config, params, dims(s));
    params.r1!.dispose();
    params.r2!.dispose();
    if (spec.type !== "bias" || spec.kind !== "kerple") throw new Error(`peSpec gave a ${spec.type} spec for KERPLE`);
    [r1, r2] = await Promise.all([spec.r1.data(), spec.r2.data()]);
  }
  const formula = kind === "log" ? "−r1 log(1 + r2 |i − j|)" : "−r1 |i − j|^r2";
  const from =
    source === "init"
      ? `initPE's initial, untrained draws (r1 ~ U(0, 2), r2 ~ U(0, 1), seed ${s.seed}) as peSpec clamps them (≥ 0.01${kind === "power" ? ", r2 ≤ 2" : ""})`
      : "the sliders, the same for every head";
  const maps = perHead(lab.posenc.kerple.bias({ kind, r1, r2 }, s.L, s.L), s, (h) => `h${h} · r1 ${fmt(r1[h])}, r2 ${fmt(r2[h])}`);
  const caption = `KERPLE ${kind} bias ${formula}, ${heads(s)}, from kerple.bias (float64); r1, r2 from ${from}.`;
  figure(parent, `KERPLE ${kind} bias`, maps, s.L, tileSize(s), caption);
}

async function fire(lab: Lab, s: Settings, parent: ParentNode): Promise<void> {
  const { np, posenc } = lab;
  const { FIRE_INIT } = posenc.fire;
  const threshold = s.fire.threshold;
  const input = posenc.fire.transform({ ...FIRE_INIT, threshold }, s.L, s.L);
  const p = posenc.initPE(posenc.rng(s.seed), { type: "fire", hidden: s.fire.width }, dims(s));
  p.threshold!.dispose();
  const mlp = { w1: p.fc!.w, b1: p.fc!.b!, w2: p.proj!.w, b2: p.proj!.b! };
  const thr = np.full([], threshold, { dtype: np.float32 });
  let bias: Float64Array;
  try {
    bias = await deviceBias(lab, { type: "bias", kind: "fire", mlp, c: p.c!, threshold: thr, eps: FIRE_INIT.eps }, s);
  } finally {
    for (const a of [...Object.values(mlp), p.c!, thr]) a.dispose();
  }
  const normaliser = threshold >= s.L - 1 ? `; with L_thr ≥ every i the normaliser is the constant ψ(${threshold})` : "";
  figure(
    parent,
    "FIRE MLP input",
    [{ label: "", values: input }],
    s.L,
    BIG,
    `FIRE's MLP input ψ(i − j) / (ψ(max(i, L_thr)) + ε), ψ(x) = log(|c x| + 1), from fire.transform with the initial c = ${FIRE_INIT.c}, ` +
      `ε = ${FIRE_INIT.eps} and L_thr = ${threshold}${normaliser}. The same for every head.`,
  );
  const caption =
    `FIRE bias MLP(input)_h, ${heads(s)}: Linear(1, ${s.fire.width}) → ReLU → Linear(${s.fire.width}, ${s.H}) with initPE's initial, ` +
    `untrained weights (torch Linear init, seed ${s.seed}), computed by positionalBias on the device (float32).`;
  figure(parent, "FIRE bias", perHead(bias, s, headName), s.L, tileSize(s), caption);
}

async function masks(lab: Lab, s: Settings, parent: ParentNode): Promise<void> {
  const { np, posenc } = lab;
  const w = s.window;
  const cases: [string, { causal?: boolean; window?: number }, string][] = [
    ["causal", { causal: true }, "causal: key j ≤ query i"],
    [`window ${w}`, { window: w }, `window ${w} without causal ([w, w]): |i − j| ≤ ${w}`],
    [`causal + window ${w}`, { causal: true, window: w }, `causal with window ${w} ([w − 1, 0]): i − ${w} < j ≤ i`],
  ];
  for (const [name, options, rule] of cases) {
    const zeros = () => np.zeros([1, 1, s.L, 1], { dtype: np.float32 });
    const v = np.eye(s.L, undefined, { dtype: np.float32 }).reshape([1, 1, s.L, s.L]);
    const weights: ArrayLike<number> = await posenc.attention(zeros(), zeros(), v, options).data(); // (1, 1, L, L) softmax weights
    const allowed = Float64Array.from(weights, (x) => (x > 0 ? 1 : 0));
    const counts = Array.from({ length: s.L }, (_, i) => allowed.subarray(i * s.L, (i + 1) * s.L).reduce((a, b) => a + b, 0));
    const caption =
      `${rule}. From attention(q = 0, k = 0, v = I, ${JSON.stringify(options)}): allowed where the softmax weight is > 0. ` +
      `Each query sees ${Math.min(...counts)} to ${Math.max(...counts)} keys; the same for every head.`;
    figure(parent, `${name} mask`, [{ label: name, values: allowed }], s.L, BIG, caption, MASK);
  }
}

const SECTIONS = { alibi, t5, kerple, fire, masks };

/** Recomputes and redraws every section; a section that fails is emptied and its error shown with the others'. */
async function render(): Promise<void> {
  const s = settings();
  const lab = await engine();
  const failed: string[] = [];
  for (const [id, draw] of Object.entries(SECTIONS)) {
    const figures = document.createDocumentFragment();
    try {
      await draw(lab, s, figures);
      byId(id).replaceChildren(figures);
    } catch (e) {
      byId(id).replaceChildren();
      failed.push(`${id}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  if (failed.length) throw new Error(failed.join("\n"));
}

let again = false;
let rendering = false;

/** Renders now, or once more after the render in progress; data-ready is "1" when the last render is done. */
function schedule(): void {
  delete document.body.dataset.ready;
  again = true;
  if (rendering) return;
  rendering = true;
  void (async () => {
    while (again) {
      again = false;
      await guarded(render);
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

for (const el of document.querySelectorAll<HTMLInputElement | HTMLSelectElement>(".controls input, .controls select")) {
  syncOutput(el);
  el.addEventListener(el instanceof HTMLSelectElement ? "change" : "input", () => {
    syncOutput(el);
    schedule();
  });
}
schedule();
