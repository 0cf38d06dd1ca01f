/**
 * Train live: `posenc lab length` (preset quick, lab/length.ts's runLength,
 * the same code as the command) trained in the page for the encodings the
 * user picks. The progress sink's live hooks draw each model's losses as
 * they are read and each accuracy row as it is measured; "stop" holds the
 * next training step until "resume". At the end the lab's own report
 * (lengthReport) is shown.
 *
 * The URL may preset the controls: ?variants=rope,alibi&seeds=1&steps=100.
 */
import {
  describeTask,
  inputLength,
  LENGTH_PRESETS,
  LENGTH_VARIANTS,
  type LengthRow,
  type LengthSettings,
  lengthReport,
  lengthWork,
  runLength,
} from "../../src/lab/length.js";
import { FIT_ACCURACY } from "../../src/lab/lmRun.js";
import type { ProgressSink } from "../../src/lab/progress.js";
import { reportHtml } from "../../src/lab/report.js";
import { lineChart } from "../../src/lab/svg.js";
import { byId, guarded, header, start } from "./page.js";

header("train.html");
const QUICK = LENGTH_PRESETS.quick;
const params = new URLSearchParams(location.search);
const seeds = byId<HTMLInputElement>("seeds");
const steps = byId<HTMLInputElement>("steps");
const startButton = byId<HTMLButtonElement>("start");
const pauseButton = byId<HTMLButtonElement>("pause");
const status = byId("status");

const picked = new Set(params.get("variants")?.split(",") ?? QUICK.variants);
for (const v of picked)
  if (!(v in LENGTH_VARIANTS))
    throw new Error(`?variants: unknown ${JSON.stringify(v)}; known: ${Object.keys(LENGTH_VARIANTS).join(", ")}`);
byId("variants").innerHTML = Object.entries(LENGTH_VARIANTS)
  .map(
    ([key, v]) =>
      `<label><span><input type="checkbox" name="variant" value="${key}"${picked.has(key) ? " checked" : ""} /> ${v.label}</span></label>`,
  )
  .join("");
seeds.value = params.get("seeds") ?? String(QUICK.seeds);
steps.value = params.get("steps") ?? String(QUICK.steps);
byId("question").textContent =
  `Each model (${QUICK.depth} layers, width ${QUICK.width}) is trained on ${describeTask(QUICK.task)} at input length ${inputLength(QUICK.task)}, then answers at ${QUICK.multiples.join(", ")}x that length. ` +
  "The PI, NTK and YaRN rows are the trained RoPE model with that scaling at test time. " +
  `Each model's learning rate and steps (a multiple of the steps set here) were chosen on validation data at the training length: ${Object.entries(
    QUICK.schedule,
  )
    .map(([key, k]) => `${LENGTH_VARIANTS[key].label} ${k.lr}, ${k.stepScale}x`)
    .join("; ")}. ` +
  `A PE below ${FIT_ACCURACY} accuracy at the training length did not fit, and its longer lengths say nothing about extrapolation.`;

let paused: { promise: Promise<void>; resume: () => void } | null = null;

/** A macrotask turn, so that clicks and drawing happen between training steps (jax-js's wasm work runs in microtasks). */
const yieldToPage = () =>
  new Promise<void>((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => resolve();
    channel.port2.postMessage(null);
  });
const losses = new Map<string, readonly number[]>();
const rows: LengthRow[] = [];

function settings(): LengthSettings {
  const variants = [...document.querySelectorAll<HTMLInputElement>('input[name="variant"]:checked')].map((i) => i.value);
  if (variants.length === 0) throw new Error("pick at least one positional encoding");
  const n = Number(seeds.value);
  const k = Number(steps.value);
  if (!Number.isInteger(n) || n < 1 || n > 5) throw new Error(`seeds must be an integer in 1..5, got ${JSON.stringify(seeds.value)}`);
  if (!Number.isInteger(k) || k < 10 || k > 5000)
    throw new Error(`training steps must be an integer in 10..5000, got ${JSON.stringify(steps.value)}`);
  return { ...QUICK, variants, seeds: n, steps: k };
}

function drawLosses(): void {
  const series = [...losses].map(([name, ls]) => ({
    name,
    points: ls.map((y, i) => ({ x: i + 1, y })).filter((p) => Number.isFinite(p.y)),
  }));
  byId("loss-chart").innerHTML = lineChart(series, {
    title: "training loss",
    xLabel: "step",
    yLabel: "cross-entropy",
    yScale: "log10",
    width: 460,
    height: 300,
  });
  byId("runs").querySelector("tbody")!.innerHTML = [...losses]
    .map(
      ([name, ls]) =>
        `<tr data-run="${name}"><td>${name}</td><td>${ls.length}</td><td>${ls[0]?.toFixed(4) ?? ""}</td><td>${ls[ls.length - 1]?.toFixed(4) ?? ""}</td></tr>`,
    )
    .join("");
}

function drawAccuracy(s: LengthSettings, meta: { seconds: number; device: string }): void {
  // the lab's figure over the variants measured at every length so far
  const complete = s.variants.filter((v) => s.multiples.every((m) => rows.some((r) => r.variant === v && r.multiple === m)));
  if (complete.length === 0) return;
  const report = lengthReport({ ...s, variants: complete }, rows, { command: "train live", date: new Date().toISOString(), ...meta });
  byId("accuracy-chart").innerHTML = report.figures[0].svg;
}

async function train(): Promise<void> {
  const s = settings();
  const { device } = await start();
  losses.clear();
  rows.length = 0;
  byId("report").innerHTML = "";
  byId("accuracy-chart").innerHTML = "";
  delete document.body.dataset.ready;
  startButton.disabled = true;
  pauseButton.disabled = false;
  const total = lengthWork(s);
  let done = 0;
  const t0 = performance.now();
  const elapsed = () => (performance.now() - t0) / 1000;
  const sink: ProgressSink = {
    tick(n = 1, note = "") {
      done += n;
      if (!paused) status.textContent = `${Math.round((100 * done) / total)}% (${done}/${total}), ${elapsed().toFixed(0)} s ${note}`;
    },
    done() {},
    losses(run, ls) {
      losses.set(run, [...ls]);
      drawLosses();
    },
    row(row) {
      rows.push(row as LengthRow);
      drawAccuracy(s, { seconds: elapsed(), device });
    },
    async gate() {
      await yieldToPage();
      while (paused) await paused.promise;
    },
  };
  try {
    await runLength(s, sink);
    const report = lengthReport(s, rows, {
      command: `train live ${location.search}`,
      device,
      date: new Date(Date.now() - elapsed() * 1000).toISOString(),
      seconds: elapsed(),
    });
    byId("report").innerHTML = reportHtml(report);
    status.textContent = `done in ${elapsed().toFixed(0)} s on ${device}`;
  } finally {
    startButton.disabled = false;
    pauseButton.disabled = true;
    paused?.resume();
    paused = null;
    document.body.dataset.ready = "1";
  }
}

startButton.addEventListener("click", () => void guarded(train));
pauseButton.addEventListener("click", () => {
  if (paused) {
    paused.resume();
    paused = null;
    pauseButton.textContent = "stop";
    status.textContent = "resumed";
  } else {
    let resume = () => {};
    const promise = new Promise<void>((r) => {
      resume = r;
    });
    paused = { promise, resume };
    pauseButton.textContent = "resume";
    status.textContent = "stopped after the current step; resume continues from it";
  }
});
void guarded(async () => {
  await start();
  if (params.has("autostart")) await train();
  else document.body.dataset.ready = "1";
});
