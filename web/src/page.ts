/**
 * What every page of the lab shares: the navigation, the device line (which
 * backend computes, and why when WebGPU is not used), and the lazy start of
 * posenc's array engine, so that a page's static parts render before the
 * engine's code loads.
 *
 * The device is `?device=auto|webgpu|wasm` (default auto: WebGPU when the
 * browser has an adapter, otherwise WebAssembly, said on the page).
 */
import "./style.css";

export const PAGES: { file: string; title: string }[] = [
  { file: "index.html", title: "posenc lab" },
  { file: "rope.html", title: "RoPE explorer" },
  { file: "bias.html", title: "Bias explorer" },
  { file: "grid.html", title: "2-D positions" },
  { file: "train.html", title: "Train live" },
  { file: "reports.html", title: "Reports" },
];

export type Posenc = typeof import("../../src/index.js");

export interface Engine {
  posenc: Posenc;
  device: "webgpu" | "wasm" | "cpu";
  description: string;
}

const DEVICES = ["auto", "webgpu", "wasm"] as const;
let engine: Promise<Engine> | undefined;

/** The page's header: navigation with the current page marked, and the device line (`computes`: whether the page runs posenc's arrays). */
export function header(current: string, computes = true): void {
  const nav = document.createElement("nav");
  nav.setAttribute("aria-label", "lab pages");
  const search = location.search;
  nav.innerHTML = PAGES.map((p) => `<a href="./${p.file}${search}"${p.file === current ? ' aria-current="page"' : ""}>${p.title}</a>`).join(
    "",
  );
  const device = document.createElement("p");
  device.id = "device";
  device.setAttribute("role", "status");
  device.textContent = computes ? "device: not started" : "device: none (this page only shows committed results)";
  document.body.prepend(nav, device);
}

/** The requested device, from `?device=`; an unknown value is an error shown on the page. */
export function requestedDevice(): (typeof DEVICES)[number] {
  const asked = new URLSearchParams(location.search).get("device") ?? "auto";
  if (!(DEVICES as readonly string[]).includes(asked))
    throw new Error(`?device must be one of ${DEVICES.join(", ")}, got ${JSON.stringify(asked)}`);
  return asked as (typeof DEVICES)[number];
}

/** posenc, loaded and started once per page on the requested device; the device line says which. */
export function start(): Promise<Engine> {
  engine ??= (async () => {
    const line = document.getElementById("device");
    const asked = requestedDevice();
    if (line) line.textContent = `device: starting (${asked})...`;
    const posenc: Posenc = await import("../../src/index.js");
    const rt = await posenc.init({ device: asked });
    let why = "";
    if (rt.device !== "webgpu") {
      why = !("gpu" in navigator) || !navigator.gpu ? " (this browser exposes no WebGPU)" : " (WebGPU found no adapter)";
      if (asked === "wasm") why = " (asked for)";
    }
    const text = rt.device === "webgpu" ? `WebGPU: ${rt.description}` : `WebAssembly${why}`;
    if (line) {
      line.textContent = `device: ${text}`;
      line.dataset.device = rt.device;
    }
    return { posenc, device: rt.device, description: rt.description };
  })();
  return engine;
}

/** Shows an error in the page's error box (and rethrows nothing: the page stays usable). */
export function showError(e: unknown): void {
  let box = document.getElementById("error");
  if (!box) {
    box = document.createElement("p");
    box.id = "error";
    box.setAttribute("role", "alert");
    document.querySelector("main")?.prepend(box);
  }
  box.textContent = e instanceof Error ? e.message : String(e);
  box.hidden = false;
}

/** Hides the error box. */
export function clearError(): void {
  const box = document.getElementById("error");
  if (box) box.hidden = true;
}

/** Runs `f`, showing its error on the page instead of throwing. */
export async function guarded(f: () => Promise<void> | void): Promise<void> {
  try {
    await f();
    clearError();
  } catch (e) {
    showError(e);
  }
}

/** The element with this id, typed; throws when the page lacks it. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no #${id}`);
  return el as T;
}

/** A number input's value, checked against its min, max and (integer) step; the error names the input. */
export function num(id: string): number {
  const el = byId<HTMLInputElement>(id);
  const v = Number(el.value);
  const [lo, hi] = [Number(el.min), Number(el.max)];
  const integer = Number.isInteger(Number(el.step));
  if (el.value === "" || !Number.isFinite(v) || v < lo || v > hi || (integer && !Number.isInteger(v)))
    throw new Error(`#${id} must be ${integer ? "an integer" : "a number"} in [${lo}, ${hi}], got ${JSON.stringify(el.value)}`);
  return v;
}

/** A select's value, checked against the values the page offers. */
export function choice<T extends string>(id: string, allowed: readonly T[]): T {
  const v = byId<HTMLSelectElement>(id).value;
  if (!(allowed as readonly string[]).includes(v)) throw new Error(`#${id} must be one of ${allowed.join(", ")}, got ${JSON.stringify(v)}`);
  return v as T;
}

/** A colour for v in [0, 1] on a perceptual blue-white-red scale (v = 0.5 white). */
export function diverging(v: number): string {
  const t = Math.max(0, Math.min(1, v));
  const [r0, g0, b0] = t < 0.5 ? [33, 102, 172] : [255, 255, 255];
  const [r1, g1, b1] = t < 0.5 ? [255, 255, 255] : [178, 24, 43];
  const s = t < 0.5 ? t / 0.5 : (t - 0.5) / 0.5;
  const mix = (a: number, b: number) => Math.round(a + (b - a) * s);
  return `rgb(${mix(r0, r1)},${mix(g0, g1)},${mix(b0, b1)})`;
}

/** A colour for v in [0, 1] on a sequential white-to-dark-blue scale. */
export function sequential(v: number): string {
  const t = Math.max(0, Math.min(1, v));
  const mix = (a: number, b: number) => Math.round(a + (b - a) * t);
  return `rgb(${mix(247, 8)},${mix(251, 48)},${mix(255, 107)})`;
}

/**
 * Draws a (rows, cols) matrix of values into a canvas as cells coloured by
 * `color(value)`; NaN and -Infinity (masked) cells are drawn grey.
 */
export function heatmap(
  canvas: HTMLCanvasElement,
  values: ArrayLike<number>,
  rows: number,
  cols: number,
  color: (v: number) => string,
): void {
  const cell = Math.max(1, Math.floor(Math.min(canvas.width / cols, canvas.height / rows)));
  const ctx = canvas.getContext("2d");
  if (!ctx) return;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  for (let i = 0; i < rows; i++)
    for (let j = 0; j < cols; j++) {
      const v = values[i * cols + j];
      ctx.fillStyle = Number.isFinite(v) ? color(v) : "#bbb";
      ctx.fillRect(j * cell, i * cell, cell, cell);
    }
}
