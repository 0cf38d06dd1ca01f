/** Renamed config fields: the old name is read as the new one (warning once), and giving both is refused. */
import { type JsTree, numpy as np, tree } from "@jax-js/jax";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { renamedField } from "../../src/core/renamed.js";
import { type DitConfig, ditFlops, initDit } from "../../src/nn/dit.js";
import { ditTrainingPositions } from "../../src/nn/ditDiffusion.js";
import { initVit, vitForward } from "../../src/nn/vit.js";
import { init } from "../../src/runtime/init.js";
import { TINY_DIT, tinyVit } from "../configs.js";
import { read } from "../gradcheck.js";

beforeAll(async () => {
  await init({ device: "cpu" });
});
afterEach(() => {
  vi.restoreAllMocks();
});

const vit = tinyVit({ type: "sincos2d" });
const dit = TINY_DIT;
/** The config as JSON written before the rename: the PE tagged `kind`. */
const legacy = <T extends { pe: { type: string } }>(c: T): T => {
  const { type, ...rest } = c.pe;
  return { ...c, pe: { kind: type, ...rest } } as unknown as T;
};

describe("renamedField", () => {
  it("returns the object itself without the old name, a renamed copy with it, and refuses both", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const current = { type: "a", n: 1 };
    expect(renamedField("f", "x", current, "kind", "type")).toBe(current);
    const old = { kind: "a", n: 1 };
    expect(renamedField("f", "x.test1", old, "kind", "type")).toEqual({ type: "a", n: 1 });
    expect(old).toEqual({ kind: "a", n: 1 });
    renamedField("f", "x.test1", old, "kind", "type");
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0][0]).toMatch(/posenc: x.test1.kind is deprecated .* use x.test1.type/);
    expect(() => renamedField("f", "x", { kind: "a", type: "a" }, "kind", "type")).toThrow(
      "f: x.kind is the old name of x.type: give one of them, got both",
    );
  });
});

describe("VitPE and DitPE read under their old tag `kind`", () => {
  it("give the same ViT, the same logits, the same DiT FLOPs and training positions", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const x = () => np.linspace(-1, 1, 32).reshape([2, 4, 4, 1]);
    const pNew = initVit(vit, 3);
    const pOld = initVit(legacy(vit), 3);
    expect(await read(vitForward(pOld, legacy(vit), x()))).toEqual(await read(vitForward(pNew, vit, x())));
    tree.dispose([pNew, pOld] as unknown as JsTree<np.Array>);
    expect(ditFlops(legacy(dit), { height: 4, width: 4 })).toBe(ditFlops(dit, { height: 4, width: 4 }));
    const a = ditTrainingPositions(legacy(dit), { height: 4, width: 4 }, 2, 5);
    const b = ditTrainingPositions(dit, { height: 4, width: 4 }, 2, 5);
    expect(await read(a.rows)).toEqual(await read(b.rows));
    expect(await read(a.cols)).toEqual(await read(b.cols));
    tree.dispose(initDit(legacy(dit), 0) as unknown as JsTree<np.Array>);
    expect(() => initDit({ ...dit, pe: { ...dit.pe, kind: "rpe2d" } as unknown as DitConfig["pe"] }, 0)).toThrow(
      "initDit: config.pe.kind is the old name of config.pe.type: give one of them, got both",
    );
  });
});

describe("renamed exports", () => {
  it("keep their old names as the same functions and values", async () => {
    const posenc = await import("../../src/index.js");
    expect(posenc.initKernel).toBe(posenc.initKernelizedLayer);
    expect(posenc.kernelAttention).toBe(posenc.kernelizedLayer);
    expect(posenc.KERNEL_EPS).toBe(posenc.KERNELIZED_EPS);
  });
});
