/**
 * Screenshots of the built lab's pages for the README (docs/figures/web-*.png),
 * taken in Debian's Chromium on WebAssembly. The live page trains RoPE,
 * ALiBi and NoPE for 150 steps first. Run: `npx tsx scripts/web/screenshots.ts`.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { buildSite, launch, serve } from "../../web/browser.js";

const OUT = resolve(import.meta.dirname, "../../docs/figures");
const SHOTS: { page: string; query: string; height: number }[] = [
  { page: "rope", query: "", height: 1500 },
  { page: "bias", query: "", height: 1300 },
  { page: "grid", query: "", height: 1500 },
  { page: "train", query: "&variants=nope,rope,alibi&seeds=1&steps=150&autostart", height: 1500 },
  { page: "reports", query: "", height: 1300 },
];

const dir = await mkdtemp(join(tmpdir(), "posenc-web-"));
const { url, server } = await serve(dir);
const browser = await launch();
try {
  await buildSite(dir);
  for (const { page: name, query, height } of SHOTS) {
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height });
    await page.goto(`${url}/${name}.html?device=wasm${query}`);
    await page.waitForSelector("body[data-ready]", { timeout: 300_000 });
    const file = join(OUT, `web-${name}.png`);
    await page.screenshot({ path: file as `${string}.png` });
    console.log(file);
    await page.close();
  }
} finally {
  await browser.close();
  server.close();
  await rm(dir, { recursive: true, force: true });
}
