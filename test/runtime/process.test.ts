/**
 * The built package in separate Node processes: import by name (self-reference
 * and from a consumer project), the clear error when no WebGPU adapter exists,
 * and a clean exit after teardown.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const root = resolve(import.meta.dirname, "../..");
// Scripts that import "posenc" by self-reference must live inside the package.
const inside = mkdtempSync(join(root, ".test-scratch-"));
const scratch = mkdtempSync(join(tmpdir(), "posenc-"));
afterAll(() => {
  rmSync(inside, { recursive: true, force: true });
  rmSync(scratch, { recursive: true, force: true });
});

function runModule(dir: string, source: string, env: NodeJS.ProcessEnv = {}) {
  const file = join(dir, `script-${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(file, source);
  return spawnSync(process.execPath, [file], { cwd: dir, env: { ...process.env, ...env }, encoding: "utf8", timeout: 60_000 });
}

const PROBE = `
import { rope, alibi, t5, init, teardown } from "posenc";
const r = rope.fromHFConfig({ hidden_size: 64, num_attention_heads: 4, rope_parameters: { rope_type: "linear", factor: 2 } });
console.log(JSON.stringify({ type: r.type, rotaryDim: r.rotaryDim, slopes: Array.from(alibi.slopes(2)), bucket: t5.relativeBucket(-20, { bidirectional: true }) }));
`;
const EXPECTED = { type: "linear", rotaryDim: 16, slopes: [1 / 16, 1 / 256], bucket: 10 };

describe("the built package", () => {
  it("imports as posenc from the repository root (self-reference)", () => {
    const r = runModule(inside, PROBE);
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout)).toEqual(EXPECTED);
  });

  it("imports as posenc from a consumer project", () => {
    const consumer = join(scratch, "consumer");
    mkdirSync(join(consumer, "node_modules"), { recursive: true });
    writeFileSync(join(consumer, "package.json"), JSON.stringify({ name: "consumer", type: "module", dependencies: { posenc: "*" } }));
    symlinkSync(root, join(consumer, "node_modules", "posenc"), "dir");
    const r = runModule(consumer, PROBE);
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout)).toEqual(EXPECTED);
  });

  it("fails clearly when WebGPU is asked for and no adapter exists", () => {
    const r = runModule(
      inside,
      `
import { init } from "posenc";
try { await init({ device: "webgpu" }); console.log("started"); } catch (e) { console.log(e.message); }
`,
      { VK_ICD_FILENAMES: join(scratch, "no-such-icd.json") },
    );
    expect(r.stdout).toMatch(/posenc.init: device "webgpu" was requested but Dawn found no WebGPU adapter/);
  });

  it("'auto' falls back to wasm without an adapter", () => {
    const r = runModule(
      inside,
      `
import { init } from "posenc";
console.log((await init({ device: "auto" })).device);
`,
      { VK_ICD_FILENAMES: join(scratch, "no-such-icd.json") },
    );
    expect(r.stdout.trim()).toBe("wasm");
  });

  it("exits by itself after a WebGPU computation and teardown", () => {
    const r = runModule(
      inside,
      `
import { init, teardown } from "posenc";
import { numpy as np } from "@jax-js/jax";
await init({ device: "webgpu" });
const x = np.arange(4).astype("float32");
console.log(Array.from(await np.multiply(x.ref, x).data()).join(","));
await teardown();
`,
    );
    expect(r.error).toBeUndefined();
    expect(r.signal).toBeNull();
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe("0,1,4,9");
  });

  it("the posenc bin runs", () => {
    const out = execFileSync(process.execPath, [join(root, "dist/cli/main.js"), "help"], { encoding: "utf8" });
    expect(out).toMatch(/usage: posenc <command>/);
  });
});
