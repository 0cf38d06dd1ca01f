/**
 * The built lab in a real Chromium (Debian's, through puppeteer-core; see
 * web/browser.ts). Every page loads on WebAssembly with no console error and
 * no page error; the RoPE explorer's report equals `posenc rope` for every
 * bundled config; the live page trains and its loss falls, and "stop"
 * holds the training until "resume"; WebGPU is tried with SwiftShader's
 * flags and either computes, within SwiftShader's accuracy, or the page
 * says it fell back. Needs dist/ (the CLI) and Chromium; in CI a missing
 * Chromium fails the file.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import type { Browser, Page } from "puppeteer-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildSite, haveChromium, launch, serve } from "../../web/browser.js";
import { PAGES } from "../../web/vite.config.js";

const ROOT = resolve(import.meta.dirname, "../..");
/** Relativity on the RoPE page: the largest change of a float32 score when both positions shift (angles rounded in float32). */
const WASM_SHIFT_TOLERANCE = 1e-3;
/** The same on SwiftShader, whose sin and cos are accurate to ~1e-4 (DESIGN.md, "Browser"). */
const SWIFTSHADER_SHIFT_TOLERANCE = 5e-3;
const READY_MS = 60_000;
const TRAIN_MS = 180_000;

const skip = !haveChromium() && process.env.CI === undefined;
if (!haveChromium() && process.env.CI !== undefined)
  throw new Error("test/browser/site.test.ts: CI needs Debian's chromium (apt-get install chromium)");

let dir: string;
let url: string;
let server: Server;
let browser: Browser;

beforeAll(async () => {
  if (skip) return;
  dir = await mkdtemp(join(tmpdir(), "posenc-web-"));
  await buildSite(dir);
  ({ url, server } = await serve(dir));
  browser = await launch();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Opens `path`, records console errors and warnings and page errors, waits for the page's data-ready. */
async function open(b: Browser, path: string, timeout = READY_MS): Promise<{ page: Page; problems: string[] }> {
  const page = await b.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  const problems: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warn") problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${(e as Error).message}`));
  await page.goto(`${url}/${path}`);
  await page.waitForSelector("body[data-ready]", { timeout }).catch((e: Error) => {
    throw new Error(`${path} did not become ready: ${e.message} (${problems.join("; ")})`);
  });
  const error = await page.$eval("#error", (e) => ((e as HTMLElement).hidden ? null : e.textContent)).catch(() => null);
  if (error) problems.push(`error box: ${error}`);
  return { page, problems };
}

const text = (page: Page, selector: string) => page.$eval(selector, (e) => e.textContent ?? "");

describe.skipIf(skip)("the lab in Chromium", () => {
  it("every page loads on WebAssembly with no error", async () => {
    const built = (await readdir(dir)).filter((f) => f.endsWith(".html")).sort();
    expect(built).toEqual(PAGES.map((p) => `${p}.html`).sort());
    for (const p of PAGES) {
      const { page, problems } = await open(browser, `${p}.html?device=wasm`);
      expect(problems, p).toEqual([]);
      if (p !== "reports") expect(await page.$eval("#device", (e) => (e as HTMLElement).dataset.device), p).toBe("wasm");
      await page.close();
    }
  }, 300_000);

  it("the RoPE explorer's report equals posenc rope's for every bundled config", async () => {
    const { page, problems } = await open(browser, "rope.html?device=wasm");
    const configs = await page.$$eval("#config option", (os) => os.map((o) => (o as HTMLOptionElement).value));
    expect(configs.length).toBeGreaterThanOrEqual(6);
    for (const config of configs) {
      await page.evaluate(() => delete document.body.dataset.ready);
      await page.select("#config", config);
      await page.waitForSelector("body[data-ready]", { timeout: READY_MS });
      const layers = await page.$$eval("#layer option", (os) => os.map((o) => (o as HTMLOptionElement).value));
      for (const layer of layers) {
        if (layer !== (await page.$eval("#layer", (e) => (e as HTMLSelectElement).value))) {
          await page.evaluate(() => delete document.body.dataset.ready);
          await page.select("#layer", layer);
          await page.waitForSelector("body[data-ready]", { timeout: READY_MS });
        }
        const args = ["dist/cli/main.js", "rope", "--config", config, ...(layer ? ["--layer-type", layer] : [])];
        const { stdout } = await promisify(execFile)(process.execPath, args, { cwd: ROOT });
        expect(await text(page, "#report"), `${config} ${layer}`).toBe(stdout.replace(/\n$/, ""));
      }
    }
    const shift = Number((await text(page, "#decay-caption")).match(/by at most ([0-9.e+-]+)/)?.[1]);
    expect(shift).toBeLessThan(WASM_SHIFT_TOLERANCE);
    expect(problems).toEqual([]);
    await page.close();
  }, 300_000);

  it(
    "the live page trains on WebAssembly: the loss falls, stop holds the steps, resume finishes",
    async () => {
      const { page, problems } = await open(browser, "train.html?device=wasm&variants=rope&seeds=1&steps=150");
      await page.evaluate(() => delete document.body.dataset.ready);
      await page.click("#start");
      const steps = () => page.$eval('tr[data-run="rope seed 0"] td:nth-child(2)', (e) => Number(e.textContent)).catch(() => 0);
      await page.waitForFunction(() => Number(document.querySelector('tr[data-run="rope seed 0"] td:nth-child(2)')?.textContent) >= 20, {
        timeout: TRAIN_MS,
      });
      await page.click("#pause");
      await new Promise((r) => setTimeout(r, 1500)); // the step in flight and its read finish
      const held = await steps();
      await new Promise((r) => setTimeout(r, 2000));
      expect(await steps()).toBe(held);
      expect(held).toBeLessThan(150);
      await page.click("#pause");
      await page.waitForSelector("body[data-ready]", { timeout: TRAIN_MS });
      const [count, first, last] = await page.$$eval('tr[data-run="rope seed 0"] td', (tds) =>
        tds.slice(1).map((td) => Number(td.textContent)),
      );
      expect(count).toBe(150);
      expect(last).toBeLessThan(0.5 * first);
      expect(await text(page, "#report")).toContain("Length generalisation");
      expect(problems).toEqual([]);
      await page.close();
    },
    TRAIN_MS + 60_000,
  );

  it("WebGPU with SwiftShader's flags either computes within its accuracy or the page says it fell back", async () => {
    const gpu = await launch({ webgpu: true });
    try {
      const { page, problems } = await open(gpu, "rope.html?device=auto");
      const device = await page.$eval("#device", (e) => ({ kind: (e as HTMLElement).dataset.device, text: e.textContent ?? "" }));
      if (device.kind === "webgpu") {
        const shift = Number((await text(page, "#decay-caption")).match(/by at most ([0-9.e+-]+)/)?.[1]);
        expect(shift).toBeLessThan(SWIFTSHADER_SHIFT_TOLERANCE);
      } else {
        expect(device.kind).toBe("wasm");
        expect(device.text).toMatch(/WebAssembly \((this browser exposes no WebGPU|WebGPU found no adapter)\)/);
      }
      expect(problems).toEqual([]);
      await page.close();
    } finally {
      await gpu.close();
    }
  }, 120_000);
});
