/**
 * Checkpoints: parameters as safetensors, the model config as JSON.
 *
 * safetensors layout (all integers little-endian):
 *
 *   bytes 0..8       N, the header length, unsigned 64-bit
 *   bytes 8..8+N     UTF-8 JSON: { name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__": {...} },
 *                    padded with spaces to a multiple of 8 bytes
 *   bytes 8+N..      the tensors' raw little-endian data; offsets are relative to this buffer
 *
 * Names are the pytree paths joined by "." ("blocks.0.qkv.w"); arrays in the
 * tree (the blocks) use their indices. Tensors are written in sorted name
 * order, contiguous, so the byte buffer is fully covered.
 *
 * Reference: https://github.com/huggingface/safetensors (README "Format")
 */
import { type DType, numpy as np } from "@jax-js/jax";
import { describe, fail } from "../core/validate.js";
import { pathIn, readBytes, writeFilesIn } from "../runtime/host.js";

type Tree = np.Array | Tree[] | { [key: string]: Tree };

const DTYPES: Record<string, { code: string; bytes: number }> = {
  float64: { code: "F64", bytes: 8 },
  float32: { code: "F32", bytes: 4 },
  int32: { code: "I32", bytes: 4 },
};

export interface TensorEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** "a.b.0.c" -> array for every leaf of a parameter pytree. */
export function flattenNamed(params: unknown, prefix = ""): Map<string, np.Array> {
  const out = new Map<string, np.Array>();
  const walk = (node: unknown, path: string) => {
    if (node === undefined) return;
    if (typeof node === "object" && node !== null && "dtype" in node && "shape" in node) {
      out.set(path, node as np.Array);
      return;
    }
    if (Array.isArray(node)) node.forEach((child, i) => walk(child, path ? `${path}.${i}` : String(i)));
    else if (typeof node === "object" && node !== null)
      for (const [k, child] of Object.entries(node)) walk(child, path ? `${path}.${k}` : k);
    else fail("flattenNamed", `parameter trees hold arrays, objects and lists only, got ${typeof node} at "${path}"`);
  };
  walk(params, prefix);
  return out;
}

/** Nested objects from dotted names; an object whose keys are exactly 0..n-1 becomes a list. */
export function unflattenNamed(named: Map<string, np.Array>): Tree {
  const root: Record<string, unknown> = {};
  for (const [name, array] of named) {
    const parts = name.split(".");
    let node = root;
    for (const part of parts.slice(0, -1)) node = (node[part] ??= {}) as Record<string, unknown>;
    node[parts[parts.length - 1]] = array;
  }
  const listify = (node: unknown): Tree => {
    if (typeof node !== "object" || node === null || "dtype" in node) return node as Tree;
    const entries = Object.entries(node as Record<string, unknown>).map(([k, v]) => [k, listify(v)] as const);
    const isList = entries.length > 0 && entries.every(([k]) => /^\d+$/.test(k)) && entries.every((_, i) => Object.hasOwn(node, String(i)));
    return isList ? entries.sort((a, b) => +a[0] - +b[0]).map(([, v]) => v) : Object.fromEntries(entries);
  };
  return listify(root);
}

/**
 * The safetensors bytes of a parameter pytree (float64, float32, int32
 * arrays). Borrows the parameters; reads them back from the device.
 */
export async function toSafetensors(params: unknown, metadata: Record<string, string> = {}): Promise<Uint8Array<ArrayBuffer>> {
  const named = [...flattenNamed(params)];
  const header: Record<string, TensorEntry | Record<string, string>> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, array] of named) {
    const kind = DTYPES[array.dtype];
    if (!kind) fail("toSafetensors", `${name}: dtype ${array.dtype} is not supported (float64, float32, int32)`);
    const values = await array.ref.data();
    const bytes = new Uint8Array(values.length * kind.bytes);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < values.length; i++) {
      if (kind.code === "F64") view.setFloat64(i * 8, values[i], true);
      else if (kind.code === "F32") view.setFloat32(i * 4, values[i], true);
      else view.setInt32(i * 4, values[i], true);
    }
    header[name] = { dtype: kind.code, shape: [...array.shape], data_offsets: [offset, offset + bytes.length] };
    chunks.push(bytes);
    offset += bytes.length;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) json = new TextEncoder().encode(JSON.stringify(header) + " ".repeat(padded - json.length));
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Parses safetensors bytes: the header entries and the arrays, as a pytree. */
export function fromSafetensors(bytes: Uint8Array): {
  params: Tree;
  header: Record<string, TensorEntry>;
  metadata: Record<string, string>;
} {
  const fn = "fromSafetensors";
  if (bytes.length < 8) fail(fn, `need at least 8 bytes, got ${bytes.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  if (8 + n > bytes.length) fail(fn, `header length ${n} runs past the ${bytes.length} bytes`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    fail(fn, `the header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    fail(fn, `the header must be a JSON object, got ${describe(parsed)}`);
  const { __metadata__: given, ...entries } = parsed as Record<string, unknown>;
  const meta = given ?? {};
  if (typeof meta !== "object" || meta === null || Array.isArray(meta)) fail(fn, `__metadata__ must be an object, got ${describe(meta)}`);
  const metadata = meta as Record<string, string>;
  const header = entries as Record<string, TensorEntry>;
  const dataStart = 8 + n;
  // every entry checked before any array is made: a refused file leaves nothing allocated
  const plans = Object.entries(header).map(([name, entry]) => {
    if (typeof entry !== "object" || entry === null)
      fail(fn, `${name}: the entry must be { dtype, shape, data_offsets }, got ${describe(entry)}`);
    const kind = Object.entries(DTYPES).find(([, k]) => k.code === entry.dtype);
    if (!kind) fail(fn, `${name}: dtype ${describe(entry.dtype)} is not supported (F64, F32, I32)`);
    const { shape, data_offsets: offsets } = entry;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0))
      fail(fn, `${name}: shape must be a list of integers >= 0, got ${describe(shape)}`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o) && o >= 0) || offsets[0] > offsets[1])
      fail(fn, `${name}: data_offsets must be [begin, end] with 0 <= begin <= end, got ${describe(offsets)}`);
    const [begin, end] = offsets;
    const count = shape.reduce((a, b) => a * b, 1);
    if (end - begin !== count * kind[1].bytes || dataStart + end > bytes.length) {
      fail(
        fn,
        `${name}: data_offsets [${begin}, ${end}] do not hold shape (${shape.join(", ")}) of ${entry.dtype} inside the ${bytes.length - dataStart} data bytes`,
      );
    }
    return { name, dtype: kind[0] as DType, shape, begin, end, count };
  });
  const named = new Map<string, np.Array>();
  for (const { name, dtype, shape, begin, end, count } of plans) {
    const dv = new DataView(bytes.buffer, bytes.byteOffset + dataStart + begin, end - begin);
    let data: Float64Array | Float32Array | Int32Array;
    if (dtype === "float64") data = Float64Array.from({ length: count }, (_, i) => dv.getFloat64(i * 8, true));
    else if (dtype === "float32") data = Float32Array.from({ length: count }, (_, i) => dv.getFloat32(i * 4, true));
    else data = Int32Array.from({ length: count }, (_, i) => dv.getInt32(i * 4, true));
    named.set(name, np.array(data).reshape(shape));
  }
  return { params: unflattenNamed(named), header, metadata };
}

/** A checkpoint's two files: `model.safetensors` and `config.json`. */
export interface CheckpointFiles {
  model: Blob;
  config: Blob;
}

/** The two files of a checkpoint as Blobs (a browser saves or uploads them). Borrows the parameters. */
export async function checkpointFiles(params: unknown, config: unknown): Promise<CheckpointFiles> {
  return {
    model: new Blob([await toSafetensors(params, { format: "posenc" })], { type: "application/octet-stream" }),
    config: new Blob([configText(config)], { type: "application/json" }),
  };
}

/** Writes `model.safetensors` and `config.json` into `dir` (Node). Borrows the parameters. */
export async function saveCheckpoint(dir: string, params: unknown, config: unknown): Promise<void> {
  const fn = "saveCheckpoint";
  if (typeof dir !== "string" || dir === "") fail(fn, `dir must be a non-empty string, got ${describe(dir)}`);
  const model = await toSafetensors(params, { format: "posenc" });
  await writeFilesIn(fn, dir, { "model.safetensors": model, "config.json": configText(config) });
}

/** Reads a checkpoint written by `saveCheckpoint` (Node). */
export async function loadCheckpoint<P = Tree, C = unknown>(dir: string): Promise<{ params: P; config: C }> {
  const fn = "loadCheckpoint";
  if (typeof dir !== "string" || dir === "") fail(fn, `dir must be a non-empty string, got ${describe(dir)}`);
  const read = async (file: string) => {
    try {
      return await readBytes(fn, pathIn(dir, file));
    } catch (e) {
      return fail(fn, `cannot read ${pathIn(dir, file)} (${(e as Error).message})`);
    }
  };
  const config = parseConfig<C>(fn, new TextDecoder().decode(await read("config.json")), pathIn(dir, "config.json"));
  return { params: parseModel<P>(fn, await read("model.safetensors"), pathIn(dir, "model.safetensors")), config };
}

/** A checkpoint from its two files' contents, as a browser has them (a fetch, a file input). */
export async function readCheckpoint<P = Tree, C = unknown>(files: {
  model: ArrayBuffer | Uint8Array | Blob;
  config: string | Blob;
}): Promise<{ params: P; config: C }> {
  const fn = "readCheckpoint";
  if (typeof files !== "object" || files === null) fail(fn, `files must be { model, config }, got ${describe(files)}`);
  const { model, config } = files;
  let bytes: Uint8Array;
  if (model instanceof Uint8Array) bytes = model;
  else if (model instanceof ArrayBuffer) bytes = new Uint8Array(model);
  else if (model instanceof Blob) bytes = new Uint8Array(await model.arrayBuffer());
  else return fail(fn, `files.model must be an ArrayBuffer, a Uint8Array or a Blob, got ${describe(model)}`);
  let text: string;
  if (typeof config === "string") text = config;
  else if (config instanceof Blob) text = await config.text();
  else return fail(fn, `files.config must be a string or a Blob, got ${describe(config)}`);
  const parsed = parseConfig<C>(fn, text, "files.config");
  return { params: parseModel<P>(fn, bytes, "files.model"), config: parsed };
}

function configText(config: unknown): string {
  return `${JSON.stringify(config, null, 2)}\n`;
}

function parseConfig<C>(fn: string, text: string, name: string): C {
  try {
    return JSON.parse(text) as C;
  } catch (e) {
    return fail(fn, `${name} is not valid JSON (${(e as Error).message})`);
  }
}

function parseModel<P>(fn: string, bytes: Uint8Array, name: string): P {
  try {
    return fromSafetensors(bytes).params as P;
  } catch (e) {
    return fail(fn, `${name}: ${(e as Error).message}`);
  }
}
