/** safetensors bytes against the format, round trips, and a reloaded model giving the same outputs. "cpu" device. */

import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type JsTree, numpy as np, tree } from "@jax-js/jax";
import { beforeAll, describe, expect, it } from "vitest";
import { initLM, type LMConfig, type LMParams, lmForward } from "../../src/nn/lm.js";
import { init } from "../../src/runtime/init.js";
import {
  checkpointFiles,
  fromSafetensors,
  loadCheckpoint,
  readCheckpoint,
  saveCheckpoint,
  toSafetensors,
} from "../../src/train/checkpoint.js";
import { read } from "../gradcheck.js";

beforeAll(async () => {
  await init({ device: "cpu" });
});

describe("safetensors", () => {
  it("bytes follow the format: u64 LE header length, JSON header padded to 8, contiguous offsets, LE data", async () => {
    const params = {
      blocks: [{ w: np.array(Float64Array.of(1.5, -2, 3.25, 1e-300)).reshape([2, 2]) }],
      b: np.array(Float32Array.of(0.1, -7)),
      n: np.array(Int32Array.of(-3, 2, 1 << 30)),
    };
    const bytes = await toSafetensors(params, { note: "x" });
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const n = Number(view.getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    expect(text.trimEnd().length).toBeGreaterThan(n - 8); // only the padding is trailing space
    const header = JSON.parse(text);
    expect(header).toEqual({
      __metadata__: { note: "x" },
      "blocks.0.w": { dtype: "F64", shape: [2, 2], data_offsets: [0, 32] },
      b: { dtype: "F32", shape: [2], data_offsets: [32, 40] },
      n: { dtype: "I32", shape: [3], data_offsets: [40, 52] },
    });
    expect(bytes.length).toBe(8 + n + 52);
    const data = 8 + n;
    expect(Object.keys(header)).toEqual(["__metadata__", "blocks.0.w", "b", "n"]); // the tree's order
    expect([0, 1, 2, 3].map((i) => view.getFloat64(data + 8 * i, true))).toEqual([1.5, -2, 3.25, 1e-300]);
    expect([view.getFloat32(data + 32, true), view.getFloat32(data + 36, true)]).toEqual([Math.fround(0.1), -7]);
    expect([0, 1, 2].map((i) => view.getInt32(data + 40 + 4 * i, true))).toEqual([-3, 2, 1 << 30]);
    // float64 1.5 = 0x3FF8000000000000, little-endian: lowest byte first
    expect(Array.from(bytes.subarray(data, data + 8))).toEqual([0, 0, 0, 0, 0, 0, 0xf8, 0x3f]);

    const back = fromSafetensors(bytes);
    expect(back.metadata).toEqual({ note: "x" });
    const p = back.params as { blocks: { w: np.Array }[]; b: np.Array; n: np.Array };
    expect(Array.isArray(p.blocks)).toBe(true);
    expect(p.blocks[0].w.shape).toEqual([2, 2]);
    expect(Array.from(await read(p.blocks[0].w))).toEqual([1.5, -2, 3.25, 1e-300]);
    expect(p.b.dtype).toBe(np.float32);
    expect(Array.from(await p.n.data())).toEqual([-3, 2, 1 << 30]);
    tree.dispose(params as unknown as JsTree<np.Array>);
  });

  it("refuses offsets that do not match the shape", async () => {
    const bytes = await toSafetensors({ a: np.array(Float64Array.of(1, 2)) });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const broken = new TextEncoder().encode(new TextDecoder().decode(bytes.subarray(8, 8 + n)).replace("[0,16]", "[0,24]"));
    const copy = Uint8Array.from(bytes);
    copy.set(broken, 8);
    expect(() => fromSafetensors(copy)).toThrow(
      "fromSafetensors: a: data_offsets [0, 24] do not hold shape (2) of F64 inside the 16 data bytes",
    );
  });

  it("a saved model reloads with the same structure and gives the same logits (float32 and float64)", async () => {
    const config: LMConfig = {
      vocabSize: 9,
      width: 8,
      depth: 2,
      heads: 2,
      mlp: { kind: "gelu", hidden: 16, approximate: false },
      norm: { type: "layer", eps: 1e-5 },
      pe: { type: "fire", hidden: 4 },
      absolute: { kind: "learned", maxPositions: 8 },
      tied: false,
      bias: true,
      embedStd: 0.3,
    };
    const dir = await mkdtemp(join(tmpdir(), "posenc-ckpt-"));
    try {
      for (const dtype of [np.float32, np.float64]) {
        const params = initLM(config, 21, dtype);
        const tokens = () => np.array(Int32Array.of(3, 1, 4, 1, 5, 8)).reshape([1, 6]);
        const before = await lmForward(params, config, tokens()).data();
        await saveCheckpoint(dir, params, config);
        const loaded = await loadCheckpoint<LMParams, LMConfig>(dir);
        expect(loaded.config).toEqual(config);
        expect(JSON.parse(await readFile(join(dir, "config.json"), "utf8"))).toEqual(config);
        expect(
          tree.structure(loaded.params as unknown as JsTree<np.Array>).equals(tree.structure(params as unknown as JsTree<np.Array>)),
        ).toBe(true);
        const after = await lmForward(loaded.params, loaded.config, tokens()).data();
        expect(Array.from(after)).toEqual(Array.from(before)); // bit-identical
        tree.dispose(params as unknown as JsTree<np.Array>);
        tree.dispose(loaded.params as unknown as JsTree<np.Array>);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("browser form: checkpointFiles gives the files saveCheckpoint writes, as Blobs; readCheckpoint reads them back", async () => {
    const params = { w: np.array(Float32Array.of(1.5, -2, 0.25)), blocks: [{ b: np.array(Int32Array.of(7)) }] };
    const config = { width: 3, pe: { type: "rope" } };
    const files = await checkpointFiles(params, config);
    const dir = await mkdtemp(join(tmpdir(), "posenc-ckpt-"));
    try {
      await saveCheckpoint(dir, params, config);
      expect(new Uint8Array(await files.model.arrayBuffer())).toEqual(new Uint8Array(await readFile(join(dir, "model.safetensors"))));
      expect(await files.config.text()).toBe(await readFile(join(dir, "config.json"), "utf8"));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    for (const model of [files.model, await files.model.arrayBuffer(), new Uint8Array(await files.model.arrayBuffer())]) {
      const loaded = await readCheckpoint<{ w: np.Array; blocks: { b: np.Array }[] }>({ model, config: files.config });
      expect(loaded.config).toEqual(config);
      expect(Array.from(await loaded.params.w.data())).toEqual([1.5, -2, 0.25]);
      expect(Array.from(await loaded.params.blocks[0].b.data())).toEqual([7]);
    }
    await expect(readCheckpoint({ model: "x" as unknown as Blob, config: "{}" })).rejects.toThrow(
      'readCheckpoint: files.model must be an ArrayBuffer, a Uint8Array or a Blob, got "x"',
    );
    await expect(readCheckpoint({ model: files.model, config: 3 as unknown as string })).rejects.toThrow(
      "readCheckpoint: files.config must be a string or a Blob, got 3",
    );
    await expect(readCheckpoint({ model: files.model, config: "{" })).rejects.toThrow("readCheckpoint: files.config is not valid JSON");
    await expect(readCheckpoint({ model: new Uint8Array(4), config: "{}" })).rejects.toThrow("readCheckpoint: files.model: ");
    await expect(saveCheckpoint("", params, config)).rejects.toThrow('saveCheckpoint: dir must be a non-empty string, got ""');
  });
});
