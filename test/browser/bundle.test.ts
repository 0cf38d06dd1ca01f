/**
 * The package bundles for the browser as published: esbuild, as a page's
 * build would run it, bundles `import * as posenc from "posenc"` with no
 * error, and nothing in the bundle is Node's (`node:*`, Dawn's `webgpu`
 * package, host.ts). Needs dist/ (npm test builds it first).
 */
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../..");
let dir: string;

beforeAll(async () => {
  if (!existsSync(join(ROOT, "dist/index.js"))) throw new Error("test/browser/bundle.test.ts needs dist/: run npm run build");
  dir = await mkdtemp(join(tmpdir(), "posenc-bundle-"));
  await mkdir(join(dir, "node_modules"));
  await symlink(ROOT, join(dir, "node_modules/posenc"), "dir");
  await writeFile(join(dir, "page.js"), 'import * as posenc from "posenc";\nglobalThis.posenc = posenc;\n');
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Bundles `entry` for the browser; returns the errors, the bundle's inputs and its text. */
async function bundle(entry: string) {
  const result = await build({
    absWorkingDir: dir,
    entryPoints: [entry],
    bundle: true,
    platform: "browser",
    format: "esm",
    splitting: true,
    outdir: "out",
    write: false,
    metafile: true,
    logLevel: "silent",
  }).catch((e: { errors: { text: string }[] }) => ({ errors: e.errors, metafile: { inputs: {} }, outputFiles: [] }));
  return {
    errors: result.errors.map((e) => e.text),
    inputs: Object.keys(result.metafile?.inputs ?? {}),
    text: (result.outputFiles ?? []).map((f) => f.text).join("\n"),
  };
}

const NODE_IMPORT = /["'](node:[a-z/_]+)["']/g;

describe("browser bundle of the package", () => {
  it("bundles with no error and no Node import", async () => {
    const { errors, inputs, text } = await bundle("page.js");
    expect(errors).toEqual([]);
    expect(inputs.some((p) => p.endsWith("dist/index.js"))).toBe(true);
    expect(inputs.filter((p) => p.endsWith("dist/runtime/host.js") || p.includes("node_modules/webgpu/"))).toEqual([]);
    expect(inputs.some((p) => p.endsWith("dist/runtime/host.browser.js"))).toBe(true);
    expect([...text.matchAll(NODE_IMPORT)].map((m) => m[1])).toEqual([]);
    expect(text).not.toMatch(/createRequire|fileURLToPath/);
  }, 120_000);

  it("the same build fails on host.ts, the Node module the browser map replaces", async () => {
    const { errors } = await bundle(join(ROOT, "dist/runtime/host.js"));
    expect(errors.some((e) => e.includes('"node:fs"'))).toBe(true);
  }, 120_000);
});
