/** host.browser.ts is host.ts's twin: the same functions and types, and Node-only ones throw naming the caller's browser form. */
import { describe, expect, it } from "vitest";
import * as browser from "../../src/runtime/host.browser.js";
import * as node from "../../src/runtime/host.js";

// The browser twin must be assignable to the Node module's type (a typecheck failure otherwise).
const same: typeof node = browser;

describe("host.browser.ts", () => {
  it("exports the functions host.ts does", () => {
    expect(Object.keys(browser).sort()).toEqual(Object.keys(node).sort());
    expect(same.runningInNode()).toBe(false);
    expect(node.runningInNode()).toBe(true);
  });

  it("names the caller and what a browser calls instead", async () => {
    expect(() => browser.shippedText("sonnets", "sonnets.txt")).toThrow(
      "sonnets: reading the shipped data/sonnets.txt needs Node; in a browser, load the corpus with `await loadSonnets(url)`",
    );
    expect(() => browser.requirePackage("loadDigits", "mnist")).toThrow(
      "loadDigits: loading the package mnist with require needs Node; in a browser, pass the dataset",
    );
    await expect(browser.writeFilesIn("saveCheckpoint", "ck", {})).rejects.toThrow(
      "saveCheckpoint: writing into ck on disk needs Node; in a browser, `await checkpointFiles(params, config)`",
    );
    await expect(browser.readBytes("loadCheckpoint", "ck/config.json")).rejects.toThrow(
      "loadCheckpoint: reading ck/config.json from disk needs Node; in a browser, `await readCheckpoint({ model, config })`",
    );
    await expect(browser.installNodeGpu()).rejects.toThrow("posenc.init: Dawn (the webgpu package) is Node-only");
    expect(browser.pathIn("a", "b")).toBe("a/b");
    expect(browser.pathIn("a/", "b")).toBe("a/b");
  });

  it("host.ts reads the shipped files", () => {
    expect(node.shippedText("sonnets", "sonnets.txt")).toContain("From fairest creatures we desire increase");
  });
});
