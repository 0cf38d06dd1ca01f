/**
 * `posenc handwrite`: a line of text in the handwriting of one word image
 * (or of a synthetic writer), written by a WriteViT checkpoint as
 * `posenc lab handwriting --out DIR` saves it (DIR/handwriting-model).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { decodeGrayPng, encodeGrayPng, type GrayImage } from "../core/grayPng.js";
import { checkWriteVit, type WriteVitConfig, type WriteVitParams, wordWidth } from "../nn/writeVit.js";
import { rng } from "../pe/random.js";
import { init, teardown } from "../runtime/init.js";
import { loadCheckpoint } from "../train/checkpoint.js";
import { handwritingWords, renderWord, writerStyle } from "../train/data/handwriting.js";
import { handwrite } from "../train/handwrite.js";
import { deviceFlag, intFlag, parseFlags, UsageError } from "./lab.js";

export const HANDWRITE_USAGE = `  handwrite --model DIR --text TEXT (--style FILE.png | --writer N) [--out FILE.png]
      [--seed N] [--device wasm|webgpu|cpu|auto]
      Writes TEXT (letters and spaces) in the handwriting of one word image, a grey or
      colour PNG 32 px high and at most 16 px per character of the model wide (one word),
      or of synthetic writer N (the lab trains on writers 0 to K-1 of its preset, K <= 200),
      with the WriteViT checkpoint in DIR (\`lab handwriting --out OUT\` saves one in
      OUT/handwriting-model). Default out: handwriting.png.`;
/** The word a synthetic writer's style reference shows. */
const WRITER_WORD = "morning";

/** A synthetic writer's rendering of `WRITER_WORD` (or a shorter lexicon word where the model is narrower), as grey. */
function writerReference(writer: number, config: WriteVitConfig): GrayImage {
  const W = wordWidth(config);
  const word =
    WRITER_WORD.length <= config.maxChars ? WRITER_WORD : handwritingWords(config.maxChars).reduce((a, b) => (b.length > a.length ? b : a)); // the longest that fits
  const ink = renderWord(word, writerStyle(writer), rng(writer), W);
  return { data: Float32Array.from(ink, (v) => 1 - v), height: 32, width: W };
}

export async function handwriteCommand(args: string[]): Promise<void> {
  const flags = parseFlags(args, ["--text", "--style", "--writer", "--out", "--model", "--seed", "--device"]);
  const text = flags.get("--text");
  if (text === undefined) throw new UsageError("handwrite needs --text");
  const stylePath = flags.get("--style");
  const writer = intFlag("--writer", flags.get("--writer"), 0);
  if ((stylePath === undefined) === (writer === undefined)) throw new UsageError("handwrite needs one of --style FILE.png and --writer N");
  const seed = intFlag("--seed", flags.get("--seed"), 0) ?? 0;
  const device = deviceFlag(flags.get("--device"));
  const out = flags.get("--out") ?? "handwriting.png";
  const modelDir = flags.get("--model");
  if (modelDir === undefined) throw new UsageError("handwrite needs --model DIR (a checkpoint of posenc lab handwriting --out)");

  let style: GrayImage | undefined;
  if (stylePath !== undefined) {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(stylePath);
    } catch (err) {
      throw new Error(`cannot read ${stylePath}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    style = decodeGrayPng(bytes, stylePath);
  }
  await init({ device });
  try {
    const { params, config } = await loadCheckpoint<Pick<WriteVitParams, "generator" | "writer">, { writeVit: WriteVitConfig }>(modelDir);
    const model = checkWriteVit("posenc handwrite", `${modelDir}/config.json writeVit`, config?.writeVit);
    const reference = style ?? writerReference(writer as number, model);
    const image = await handwrite(params, model, reference, text, { seed });
    writeFileSync(out, encodeGrayPng(image));
    const from = stylePath !== undefined ? `the style of ${stylePath}` : `the style of synthetic writer ${writer}`;
    console.log(`wrote ${out} (${image.height} x ${image.width} px): ${JSON.stringify(text)} in ${from}, model ${modelDir}`);
  } finally {
    await teardown();
  }
}
