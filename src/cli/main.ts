#!/usr/bin/env node
/**
 * The `posenc` command.
 *
 *   posenc rope [--config FILE] [--seq-len N] [--layer-type NAME]
 *   posenc lab <experiment> [options]
 *   posenc handwrite --text TEXT (--style FILE.png | --writer N) [options]
 *
 * Without --config it reads the bundled example, a Llama-style YaRN config.
 */
import "../runtime/polyfill.js";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { errorText } from "./errorText.js";
import { HANDWRITE_USAGE, handwriteCommand } from "./handwrite.js";
import { intFlag, LAB_USAGE, lab, parseFlags, UsageError } from "./lab.js";
import { ropeReport } from "./ropeReport.js";

const USAGE = `usage: posenc <command> [options]

commands:
  rope [--config FILE] [--seq-len N] [--layer-type NAME]
      RoPE of a Hugging Face config.json: type, rotary dims, attention factor,
      and the wavelength of every frequency band before and after scaling.
      Without --config: the bundled Llama-style YaRN example.
${LAB_USAGE}
${HANDWRITE_USAGE}
  help   this text`;

const EXAMPLE = fileURLToPath(new URL("../../examples/llama-yarn.json", import.meta.url));

function readConfig(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new Error(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${path} is not valid JSON: ${(err as Error).message}`);
  }
}

function rope(args: string[]): void {
  const flags = parseFlags(args, ["--config", "--seq-len", "--layer-type"]);
  const path = flags.get("--config");
  const seqLen = intFlag("--seq-len", flags.get("--seq-len"));
  const config = readConfig(path ?? EXAMPLE);
  const source = path ?? "bundled example examples/llama-yarn.json";
  console.log(ropeReport(config as Record<string, unknown>, source, { seqLen, layerType: flags.get("--layer-type") }));
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case "rope":
        rope(rest);
        return 0;
      case "lab":
        await lab(rest);
        return 0;
      case "handwrite":
        await handwriteCommand(rest);
        return 0;
      case undefined:
      case "help":
      case "--help":
      case "-h":
        console.log(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`posenc: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    console.error(`posenc ${command}: ${errorText(err)}`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
