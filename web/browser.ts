/**
 * The built site in Debian's Chromium, for the browser tests and the
 * screenshot script: a static file server for the build output and a
 * headless Chromium started through puppeteer-core (no browser download).
 *
 * Chromium is `$CHROMIUM` or /usr/bin/chromium. `webgpu: true` adds the flags
 * under which headless Chromium offers WebGPU on SwiftShader (its software
 * Vulkan; it never uses lavapipe), whose sin and cos are accurate to ~1e-4.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join, normalize, resolve } from "node:path";
import puppeteer, { type Browser } from "puppeteer-core";
import { build } from "vite";

export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
export const WEBGPU_FLAGS = ["--enable-unsafe-webgpu", "--enable-features=Vulkan", "--use-angle=vulkan"];

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript",
  ".css": "text/css",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".wasm": "application/wasm",
  ".png": "image/png",
};

/** Builds the site into `outDir` with web/vite.config.ts. */
export async function buildSite(outDir: string): Promise<void> {
  await build({ configFile: resolve(import.meta.dirname, "vite.config.ts"), logLevel: "warn", build: { outDir, emptyOutDir: true } });
}

/** Serves the files of `dir` on a free local port; answers 404 for anything outside it. */
export async function serve(dir: string): Promise<{ url: string; server: Server }> {
  const root = resolve(dir);
  const server = createServer(async (req, res) => {
    const path = normalize(join(root, decodeURIComponent(new URL(req.url ?? "/", "http://localhost").pathname)));
    try {
      if (!path.startsWith(root)) throw new Error("outside");
      const body = await readFile(path.endsWith("/") ? join(path, "index.html") : path);
      res.writeHead(200, { "content-type": TYPES[extname(path)] ?? "application/octet-stream" });
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

/** Whether Chromium is installed where `launch` looks. */
export function haveChromium(): boolean {
  return existsSync(CHROMIUM);
}

/** Headless Chromium; with `webgpu`, the SwiftShader WebGPU flags. */
export function launch(opts: { webgpu?: boolean } = {}): Promise<Browser> {
  return puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-dev-shm-usage", ...(opts.webgpu ? WEBGPU_FLAGS : ["--disable-gpu"])],
  });
}
