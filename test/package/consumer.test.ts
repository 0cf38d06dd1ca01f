/**
 * The package as users install it: `npm pack` of the built tree (npm test
 * builds first), unpacked into a fresh project beside its dependencies, and
 * type-checked there with strict and skipLibCheck false; then imported and
 * run from that project by Node, as ESM.
 */
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../..");
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  dependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
};

/** A consumer that names public types and calls across the API. */
const CONSUMER = `import { attention, init, initLM, rope, type HFConfig, type LMConfig, type AttentionPE, type GpuTensor } from "posenc";
await init({ device: "cpu" });
const config: LMConfig = {
  vocabSize: 9, width: 16, depth: 1, heads: 2, mlp: { kind: "gelu", hidden: 32, approximate: false },
  norm: { type: "layer", eps: 1e-5 }, pe: { type: "rotary", pairing: "halves", base: 10000 }, tied: true, bias: true, embedStd: 0.02,
};
const params = initLM(config, 0);
const hf: HFConfig = { hidden_size: 64, num_attention_heads: 4, rope_scaling: { rope_type: "linear", factor: 2 } };
const r = rope.fromHFConfig(hf);
const pe: AttentionPE = { type: "rotary", pairing: "halves", frequencies: { invFreq: r.invFreq } };
const gpu: GpuTensor | null = null;
console.log(JSON.stringify({ blocks: params.blocks.length, rotaryDim: r.rotaryDim, pe: pe.type, gpu, attention: typeof attention }));
`;

describe("the packed package in a consumer project", () => {
  it("type-checks with strict and skipLibCheck false, and runs as ESM", () => {
    const dir = mkdtempSync(join(tmpdir(), "posenc-consumer-"));
    execFileSync("npm", ["pack", "--pack-destination", dir, "--silent"], { cwd: ROOT, stdio: "pipe" });
    const tarball = readdirSync(dir).find((f) => f.endsWith(".tgz"));
    expect(tarball).toBeDefined();
    const modules = join(dir, "node_modules");
    mkdirSync(join(modules, "posenc"), { recursive: true });
    execFileSync("tar", ["-xzf", join(dir, tarball!), "-C", dir]);
    cpSync(join(dir, "package"), join(modules, "posenc"), { recursive: true });
    // what npm would install beside it: the dependencies, the peer, Node's types and the compiler
    const beside = [...Object.keys(pkg.dependencies), ...Object.keys(pkg.peerDependencies), "@types/node", "typescript"];
    for (const name of beside) {
      if (name.includes("/")) mkdirSync(join(modules, name.split("/")[0]), { recursive: true });
      symlinkSync(join(ROOT, "node_modules", name), join(modules, name), "dir");
    }
    writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module", private: true }));
    writeFileSync(join(dir, "consumer.ts"), CONSUMER);
    const compilerOptions = {
      strict: true,
      skipLibCheck: false,
      module: "nodenext",
      moduleResolution: "nodenext",
      target: "es2022",
      lib: ["es2022", "dom"],
      types: ["node"],
      outDir: "out",
    };
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions, files: ["consumer.ts"] }));
    const tsc = join(modules, "typescript", "bin", "tsc");
    let output = "";
    try {
      execFileSync(process.execPath, [tsc, "-p", dir], { cwd: dir, stdio: "pipe" });
    } catch (e) {
      output = String((e as { stdout?: Buffer }).stdout ?? e);
    }
    expect(output).toBe("");
    const run = execFileSync(process.execPath, [join(dir, "out", "consumer.js")], { cwd: dir, encoding: "utf8" });
    expect(JSON.parse(run.trim().split("\n").pop()!)).toEqual({ blocks: 1, rotaryDim: 16, pe: "rotary", gpu: null, attention: "function" });
  }, 120_000);
});
