/**
 * `posenc handwrite` (the built CLI): with a checkpoint of the lab's tiny
 * model (random weights: what is tested is the command, not legibility) it
 * writes a grey PNG 32 px high from a synthetic writer or a style image, and
 * it refuses a missing model, a style image of the wrong size, text it cannot
 * write and ambiguous style flags, by name.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeGrayPng, encodeGrayPng } from "../../src/core/grayPng.js";
import { HANDWRITING_PRESETS } from "../../src/lab/handwriting.js";
import { initWriteVit, type WriteVitConfig } from "../../src/nn/writeVit.js";
import { init } from "../../src/runtime/init.js";
import { saveCheckpoint } from "../../src/train/checkpoint.js";
import { HANDWRITING_ALPHABET } from "../../src/train/data/handwriting.js";

const root = resolve(import.meta.dirname, "../..");
const bin = join(root, "dist/cli/main.js");
const scratch = mkdtempSync(join(tmpdir(), "posenc-handwrite-"));
const model = join(scratch, "model");
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const posenc = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 120_000 });

beforeAll(async () => {
  await init({ device: "wasm" });
  const config: WriteVitConfig = { ...HANDWRITING_PRESETS.tiny.model, characters: HANDWRITING_ALPHABET.length, writers: 4, pe: "peg" };
  const p = initWriteVit(config, 1);
  await saveCheckpoint(model, { generator: p.generator, writer: p.writer }, { writeVit: config });
});

describe("posenc handwrite", () => {
  it("writes text in the style of a synthetic writer and of a style image", { timeout: 240_000 }, () => {
    const out = join(scratch, "hello.png");
    const r = posenc("handwrite", "--model", model, "--writer", "205", "--text", "hello you", "--out", out);
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/^wrote .*hello\.png \(32 x \d+ px\): "hello you" in the style of synthetic writer 205/);
    const image = decodeGrayPng(readFileSync(out));
    expect(image.height).toBe(32);

    const style = join(scratch, "style.png");
    writeFileSync(style, encodeGrayPng({ data: new Float32Array(32 * 40).fill(1), height: 32, width: 40 }));
    const s = posenc("handwrite", "--model", model, "--style", style, "--text", "ab", "--out", join(scratch, "ab.png"));
    expect([s.status, s.stderr]).toEqual([0, ""]);
    expect(s.stdout).toMatch(/in the style of .*style\.png/);
  });

  it("refuses what it cannot do, naming the argument", { timeout: 240_000 }, () => {
    const wide = join(scratch, "wide.png");
    writeFileSync(wide, encodeGrayPng({ data: new Float32Array(32 * 200).fill(1), height: 32, width: 200 }));
    const cases: [string[], RegExp][] = [
      [["--writer", "1", "--text", "hi"], /handwrite needs --model DIR/],
      [["--model", model, "--text", "hi"], /handwrite needs one of --style FILE\.png and --writer N/],
      [["--model", model, "--text", "hi", "--writer", "1", "--style", wide], /handwrite needs one of --style/],
      [["--model", model, "--text", "hi", "--writer", "-1"], /--writer must be an integer >= 0, got "-1"/],
      [["--model", model, "--text", "hi!", "--writer", "1"], /text holds characters the model cannot write: "!"/],
      [
        ["--model", model, "--text", "hi", "--style", wide],
        /style must be a grey image 32 px high and 1 to 48 px wide \(one word\), got 32 x 200/,
      ],
      [["--model", join(scratch, "nothing"), "--text", "hi", "--writer", "1"], /loadCheckpoint: cannot read .*nothing.*config\.json/],
    ];
    for (const [args, message] of cases) {
      const r = posenc("handwrite", ...args);
      expect(r.status, args.join(" ")).not.toBe(0);
      expect(r.stderr).toMatch(message);
    }
  });
});
