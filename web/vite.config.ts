/**
 * The browser lab, built by Vite from posenc's TypeScript sources. Each page
 * is an HTML file here with its module in src/. package.json's `"browser"`
 * map (which bundlers apply to the published dist/) is applied to the
 * sources too, so the site runs exactly the code a browser bundle of the
 * package runs.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { defineConfig, type Plugin } from "vite";

const ROOT = resolve(import.meta.dirname, "..");
export const PAGES = ["index", "rope", "bias", "grid", "train", "reports"];

/** package.json's browser map, from dist/*.js to the src/*.ts they are built from. */
function browserMap(): Plugin {
  const map = JSON.parse(readFileSync(resolve(ROOT, "package.json"), "utf8")).browser as Record<string, string>;
  const source = (p: string) => resolve(ROOT, p.replace(/^\.\/dist\//, "src/").replace(/\.js$/, ".ts"));
  const swap = new Map(Object.entries(map).map(([from, to]) => [source(from), source(to)]));
  return {
    name: "posenc-browser-map",
    enforce: "pre",
    async resolveId(id, importer, options) {
      const resolved = await this.resolve(id, importer, { ...options, skipSelf: true });
      const to = resolved && swap.get(resolved.id);
      return to ? { ...resolved, id: to } : resolved;
    },
  };
}

export default defineConfig({
  root: import.meta.dirname,
  base: "./",
  plugins: [browserMap()],
  build: {
    outDir: resolve(ROOT, "dist-web"),
    emptyOutDir: true,
    target: "es2022",
    rolldownOptions: { input: Object.fromEntries(PAGES.map((p) => [p, resolve(import.meta.dirname, `${p}.html`)])) },
  },
  server: { fs: { allow: [ROOT] } },
});
