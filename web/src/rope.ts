/**
 * The RoPE explorer. For a bundled or pasted Hugging Face config.json:
 * - the text of `posenc rope` (cli/ropeReport.ts's `ropeReport`, the same
 *   function), so the page's table equals the command's;
 * - each band's wavelength before and after the scaling (`ropeBands`), drawn
 *   with the lab's line charts (lab/svg.ts);
 * - the score q . R(m + d)^T R(m) k of all-ones q and k against the distance
 *   d for plain RoPE, position interpolation (linear), NTK (transformers'
 *   dynamic NTK at the extended length s L0) and YaRN, each at the config's
 *   base and rotary dims with extension factor s: rotary tables and the
 *   rotation by posenc's `rotaryTables` / `applyRotary` on the page's device;
 * - relativity: the same scores with both positions shifted by m, and the
 *   largest difference (float32 rounding of the angles, not a change).
 */
import { type Band, ropeBands, ropeReport } from "../../src/cli/ropeReport.js";
import { lineChart, type Series } from "../../src/lab/svg.js";
import type { HFConfig, RopeFrequencies, RopeParameters } from "../../src/pe/rope/index.js";
import { fromHFConfig, layerTypes, ropeFrequencies } from "../../src/pe/rope/index.js";
import { byId, guarded, header, type Posenc, start } from "./page.js";

const BUNDLED = import.meta.glob<HFConfig>("../../examples/rope/*.json", { eager: true, import: "default" });
/** The configs, by the path `posenc rope --config` is given in the repository. */
const CONFIGS = new Map(Object.entries(BUNDLED).map(([path, config]) => [path.replace(/^\.\.\/\.\.\//, ""), config]));
/** Distances sampled, geometrically from 1 to s L0. */
const SAMPLES = 256;

header("rope.html");
const select = byId<HTMLSelectElement>("config");
const layer = byId<HTMLSelectElement>("layer");
const seqLen = byId<HTMLInputElement>("seqlen");
const factor = byId<HTMLInputElement>("factor");
const shift = byId<HTMLInputElement>("shift");
let current: { config: HFConfig; source: string } = { config: {}, source: "" };

select.innerHTML = [...CONFIGS.keys()].map((p) => `<option value="${p}">${p.replace(/^examples\/rope\//, "")}</option>`).join("");
select.value = [...CONFIGS.keys()].find((p) => p.includes("llama-3.1")) ?? select.value;

function choose(config: HFConfig, source: string): void {
  current = { config, source };
  const types = layerTypes(config);
  layer.innerHTML = types.length
    ? types.map((t) => `<option value="${t}">${t}</option>`).join("")
    : '<option value="">(one RoPE for every layer)</option>';
  layer.disabled = types.length === 0;
}

function options(): { seqLen?: number; layerType?: string } {
  const text = seqLen.value.trim();
  const n = Number(text);
  if (text !== "" && (!Number.isInteger(n) || n < 1))
    throw new Error(`sequence length must be a positive integer, got ${JSON.stringify(text)}`);
  return { ...(text !== "" && { seqLen: n }), ...(layer.value !== "" && { layerType: layer.value }) };
}

function drawBands(bands: Band[], source: string): void {
  const series: Series[] = [
    { name: "before scaling", points: bands.filter((b) => Number.isFinite(b.wavelength)).map((b) => ({ x: b.index, y: b.wavelength })) },
    {
      name: "after scaling",
      dashed: true,
      points: bands.filter((b) => Number.isFinite(b.scaledWavelength)).map((b) => ({ x: b.index, y: b.scaledWavelength })),
    },
  ];
  byId("bands-chart").innerHTML = lineChart(series, {
    title: "wavelength per band",
    xLabel: "band i",
    yLabel: "wavelength (positions)",
    yScale: "log10",
    width: 460,
    height: 300,
  });
  const counts = new Map<string, number>();
  for (const b of bands) counts.set(b.regime, (counts.get(b.regime) ?? 0) + 1);
  byId("bands-caption").textContent =
    `${source}: ${[...counts].map(([r, n]) => `${n} ${r}`).join(", ")} bands. Wavelength 2π/θ_i in positions, log scale.`;
}

/** Scores q . k after rotating q at positions m + d and k at m, per distance d, divided by the rotary dims. */
async function scores(posenc: Posenc, freqs: RopeFrequencies, pairing: "halves" | "interleaved", distances: Float64Array, m: number) {
  const { numpy: np } = await import("@jax-js/jax");
  const R = freqs.rotaryDim;
  const opts = { pairing, attentionFactor: freqs.attentionFactor };
  const q = posenc.rotaryTables(np.array(Float32Array.from(distances, (d) => d + m)), freqs.invFreq, opts);
  const k = posenc.rotaryTables(np.full([distances.length], m, { dtype: np.float32 }), freqs.invFreq, opts);
  const ones = () => np.ones([distances.length, R], { dtype: np.float32 });
  const qr = posenc.applyRotary(ones(), q.cos, q.sin, pairing);
  const kr = posenc.applyRotary(ones(), k.cos, k.sin, pairing);
  return Float64Array.from(await np.sum(np.multiply(qr, kr), -1).data(), (v) => Number(v) / R);
}

async function drawDecay(): Promise<void> {
  const { posenc } = await start();
  const rope = fromHFConfig(current.config, options());
  const p = rope.parameters;
  const s = Number(factor.value);
  const m = Number(shift.value);
  byId("factor-out").textContent = String(s);
  byId("shift-out").textContent = String(m);
  const context = "originalMaxPositions" in p ? p.originalMaxPositions : Number(current.config.max_position_embeddings ?? 4096);
  const common = { base: p.base, rotaryDim: p.rotaryDim };
  const variants: [string, RopeParameters][] = [
    ["plain RoPE", { ...common, type: "default" }],
    [`PI (linear, x${s})`, { ...common, type: "linear", factor: s }],
    [`NTK (dynamic, x${s})`, { ...common, type: "dynamic", factor: s, maxPositions: context }],
    [
      `YaRN (x${s})`,
      {
        ...common,
        type: "yarn",
        factor: s,
        originalMaxPositions: context,
        betaFast: 32,
        betaSlow: 1,
        mscale: null,
        mscaleAllDim: null,
        attentionFactor: null,
        truncate: true,
      },
    ],
  ];
  const top = Math.log2(s * context);
  const distances = Float64Array.from(new Set(Array.from({ length: SAMPLES }, (_, i) => Math.round(2 ** ((i * top) / (SAMPLES - 1))))));
  const series: Series[] = [];
  let plain: Float64Array | undefined;
  for (const [name, params] of variants) {
    const y = await scores(posenc, ropeFrequencies(params, s * context), rope.pairing, distances, 0);
    plain ??= y;
    series.push({ name, points: Array.from(distances, (d, i) => ({ x: d, y: y[i] })) });
  }
  const shifted = await scores(posenc, ropeFrequencies(variants[0][1]), rope.pairing, distances, m);
  series.push({
    name: `plain RoPE, both shifted by ${m}`,
    dashed: true,
    color: "#000000",
    points: Array.from(distances, (d, i) => ({ x: d, y: shifted[i] })),
  });
  const worst = plain ? Math.max(...shifted.map((v, i) => Math.abs(v - (plain as Float64Array)[i]))) : 0;
  byId("decay-chart").innerHTML = lineChart(series, {
    title: "score of all-ones q and k against distance",
    xLabel: "distance d (positions, log scale)",
    yLabel: "q·k / rotary dims",
    xScale: "log2",
    width: 720,
    height: 340,
  });
  byId("decay-caption").textContent =
    `Base ${p.base}, ${p.rotaryDim} rotary dims, original context L0 = ${context}, distances 1..s·L0 = ${s * context}. ` +
    `Shifting both positions by ${m} changes the plain-RoPE score by at most ${worst.toExponential(2)} (float32 angles): the score depends on the distance only.`;
}

async function render(): Promise<void> {
  delete document.body.dataset.ready;
  await guarded(async () => {
    const opts = options();
    byId("report").textContent = ropeReport(current.config, current.source, opts);
    drawBands(ropeBands(fromHFConfig(current.config, opts)), current.source);
    await drawDecay();
  });
  document.body.dataset.ready = "1";
}

select.addEventListener("change", () => {
  choose(CONFIGS.get(select.value) ?? {}, select.value);
  void render();
});
byId("use-pasted").addEventListener("click", () =>
  guarded(() => {
    let config: HFConfig;
    try {
      config = JSON.parse(byId<HTMLTextAreaElement>("pasted").value) as HFConfig;
    } catch (e) {
      throw new Error(`the pasted config is not valid JSON: ${(e as Error).message}`);
    }
    choose(config, "pasted config.json");
    return render();
  }),
);
for (const el of [layer, seqLen, factor, shift]) el.addEventListener("change", () => void render());
for (const el of [factor, shift]) el.addEventListener("input", () => void render());
choose(CONFIGS.get(select.value) ?? {}, select.value);
void render();
