import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ropeBands } from "../../src/cli/ropeReport.js";
import { fromHFConfig } from "../../src/pe/rope/hfConfig.js";
import { yarnCorrectionRange } from "../../src/pe/rope/scaling.js";

const root = resolve(import.meta.dirname, "../..");
const bin = join(root, "dist/cli/main.js");
const scratch = mkdtempSync(join(tmpdir(), "posenc-cli-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const posenc = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 30_000 });

describe("posenc rope", () => {
  it("reports the bundled YaRN example", () => {
    const r = posenc("rope");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/rope_type: yarn\s+head_dim: 128\s+rotary dims: 128\s+rope_theta: 500000/);
    expect(r.stdout).toMatch(/attention factor: 1.1386 /);
    expect(r.stdout).toMatch(/64 bands: 19 extrapolated, 16 blended, 29 interpolated/);
  });

  it("prints every factor a family needs: DeepSeek's softmax scale, M-RoPE sections, GPT-J's pairing", () => {
    const write = (name: string, config: object) => {
      const file = join(scratch, name);
      writeFileSync(file, JSON.stringify(config));
      return posenc("rope", "--config", file).stdout;
    };
    const deepseek = write("deepseek.json", {
      model_type: "deepseek_v3",
      hidden_size: 7168,
      num_attention_heads: 128,
      qk_rope_head_dim: 64,
      max_position_embeddings: 163840,
      rope_scaling: { type: "yarn", factor: 40, original_max_position_embeddings: 4096, mscale: 1, mscale_all_dim: 1 },
    });
    expect(deepseek).toMatch(/head_dim: 64\s+rotary dims: 64/);
    expect(deepseek).toContain("softmax scale: x 1.8739 (mscale(factor, mscale_all_dim)^2, DeepSeek)");
    const qwen = write("qwen2vl.json", {
      hidden_size: 128,
      num_attention_heads: 4,
      rope_scaling: { type: "mrope", mrope_section: [4, 6, 6] },
    });
    expect(qwen).toContain("M-RoPE: frequencies per axis (temporal, height, width) 4, 6, 6, sectioned (Qwen2-VL)");
    expect(write("gptj.json", { model_type: "gptj", n_embd: 256, n_head: 4, rotary_dim: 16 })).toMatch(
      /rotary dims: 16\s+rope_theta: 10000\s+pairing: interleaved/,
    );
  });

  it("classifies bands by YaRN's correction range", () => {
    const rope = fromHFConfig({
      head_dim: 128,
      num_attention_heads: 32,
      max_position_embeddings: 32768,
      rope_parameters: { rope_type: "yarn", rope_theta: 500000, factor: 4, original_max_position_embeddings: 8192 },
    });
    const [low, high] = yarnCorrectionRange(rope.parameters as Parameters<typeof yarnCorrectionRange>[0]);
    for (const b of ropeBands(rope)) {
      expect(b.regime).toBe(b.index <= low ? "extrapolated" : b.index >= high ? "interpolated" : "blended");
      expect(b.scaledWavelength / b.wavelength).toBeCloseTo(b.ratio, 12);
    }
  });

  it("reads the user's config.json, with --seq-len for dynamic NTK", () => {
    const file = join(scratch, "config.json");
    writeFileSync(
      file,
      JSON.stringify({
        hidden_size: 64,
        num_attention_heads: 4,
        max_position_embeddings: 2048,
        rope_scaling: { type: "dynamic", factor: 2 },
      }),
    );
    const atInit = posenc("rope", "--config", file);
    expect(atInit.status).toBe(0);
    expect(atInit.stdout).toMatch(/8 bands: 8 extrapolated/);
    const long = posenc("rope", "--config", file, "--seq-len", "5000");
    expect(long.stdout).toMatch(/sequence length: 5000/);
    expect(long.stdout).toMatch(/8 bands: 1 extrapolated, 7 rescaled/);
  });

  it("fails clearly on a malformed or missing config and on bad flags", () => {
    const bad = join(scratch, "bad.json");
    writeFileSync(bad, '{ "rope_scaling": ');
    const r1 = posenc("rope", "--config", bad);
    expect(r1.status).toBe(1);
    expect(r1.stderr).toMatch(/posenc rope: .*bad.json is not valid JSON/);
    const r2 = posenc("rope", "--config", join(scratch, "absent.json"));
    expect(r2.stderr).toMatch(/posenc rope: cannot read .*absent.json: ENOENT/);
    const invalid = join(scratch, "invalid.json");
    writeFileSync(invalid, JSON.stringify({ hidden_size: 64, num_attention_heads: 4, rope_scaling: { type: "linear" } }));
    expect(posenc("rope", "--config", invalid).stderr).toMatch(/rope.fromHFConfig: rope_type "linear" needs rope_parameters.factor/);
    const r3 = posenc("rope", "--seq-len", "-3");
    expect(r3.status).toBe(2);
    expect(r3.stderr).toMatch(/--seq-len must be a positive integer, got "-3"/);
    expect(posenc("rope", "--bogus", "1").stderr).toMatch(/posenc: unknown option "--bogus"/);
    expect(posenc("train").stderr).toMatch(/posenc: unknown command "train"/);
  });
});
