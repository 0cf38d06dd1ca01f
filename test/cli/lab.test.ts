/** `posenc lab` as a command: a tiny run end to end (table, report files) and clear usage errors. */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const root = resolve(import.meta.dirname, "../..");
const bin = join(root, "dist/cli/main.js");
const scratch = mkdtempSync(join(tmpdir(), "posenc-lab-cli-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const posenc = (...args: string[]) =>
  spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 120_000, env: { ...process.env, CI: "true" } });

describe("posenc lab", () => {
  it("runs lab length at the tiny size, prints the table and writes the report", () => {
    const out = join(scratch, "report");
    const r = posenc("lab", "length", "--preset", "tiny", "--variants", "rope,alibi", "--out", out);
    expect(r.stderr).toMatch(/length 100% 12\/12/); // progress lines without a terminal: 2 x 4 steps + 2 x 2 evaluations
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Answer token accuracy, mean over 1 seed/);
    expect(r.stdout).toMatch(/^RoPE( \(did not fit\))?\s+[\d.]+\s+[\d.]+/m);
    for (const f of ["index.html", "length.json", "length-1.svg"]) expect(existsSync(join(out, f))).toBe(true);
    expect(JSON.parse(readFileSync(join(out, "length.json"), "utf8")).command).toBe(
      `posenc lab length --preset tiny --variants rope,alibi --out ${out}`,
    );
  });

  it("refuses what it does not know, naming it, with the usage", () => {
    const cases: Array<[string[], RegExp]> = [
      [["lab"], /posenc: lab needs an experiment/],
      [["lab", "size"], /posenc: unknown experiment "size"; known: length, stability, accuracy, speed, resolution, cswin/],
      [["lab", "length", "--preset", "huge"], /--preset must be one of tiny, quick, full, got "huge"/],
      [["lab", "length", "--variants", "rope,xpos9"], /unknown variant "xpos9" for lab length; known: nope, sinusoidal/],
      [["lab", "length", "--seeds", "0"], /--seeds must be a positive integer, got "0"/],
      [["lab", "speed", "--steps", "3"], /lab speed takes no --seeds or --steps/],
      [["lab", "length", "--device"], /--device needs a value/],
      [["lab", "length", "--workers", "0"], /--workers must be a positive integer, got "0"/],
      [["lab", "stability", "--lrs", "0.1,0.01"], /posenc: --lrs must increase, got 0.1 then 0.01/],
      [["lab", "stability", "--lrs", "0.1,,1"], /posenc: --lrs must be positive numbers, got ""/],
      [["lab", "length", "--features", "8"], /posenc: lab length takes no --features \(only stability has it\)/],
      [["lab", "cswin", "--heads", "2"], /posenc: lab cswin takes no --heads \(only stability has it\)/],
      [["lab", "stability", "--depth", "0"], /--depth must be a positive integer, got "0"/],
      [
        ["lab", "cswin", "--resume"],
        /lab cswin takes no --resume \(only stability, accuracy, resolution and handwriting save their trainings as they finish\)/,
      ],
      [
        ["lab", "cswin", "--workers", "2"],
        /lab cswin takes no --workers \(only length, stability, accuracy and resolution run their trainings in worker threads\)/,
      ],
    ];
    for (const [args, message] of cases) {
      const r = posenc(...args);
      expect(r.status, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toMatch(/usage: posenc <command>/);
    }
  });
});
