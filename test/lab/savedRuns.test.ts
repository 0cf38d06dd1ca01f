/** Saved lab trainings: what is written comes back (non-finite numbers too), and what cannot be kept is refused by name. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readSaved, writeSaved } from "../../src/lab/savedRuns.js";

const dir = mkdtempSync(join(tmpdir(), "posenc-saved-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("saved runs", () => {
  const where = { runs: dir, resume: true };

  it("round-trips a record with NaN and infinities, which plain JSON turns into null", async () => {
    const record = {
      key: "k",
      run: { losses: [2.5, Number.NaN], norm: Number.POSITIVE_INFINITY, low: Number.NEGATIVE_INFINITY, text: "NaN" },
    };
    await writeSaved("f", where, "a.json", record);
    expect(await readSaved("f", where, "a.json", "k")).toEqual(record);
  });

  it("keeps nothing without a directory, without resume, or without the file", async () => {
    expect(await readSaved("f", { runs: null, resume: true }, "a.json", "k")).toBeNull();
    expect(await readSaved("f", { runs: dir, resume: false }, "a.json", "k")).toBeNull();
    expect(await readSaved("f", where, "missing.json", "k")).toBeNull();
    await writeSaved("f", { runs: null, resume: true }, "b.json", { key: "k" }); // nothing to write into
  });

  it("refuses a record of other settings and a half-written file, naming the file", async () => {
    await expect(readSaved("lab x", where, "a.json", "other")).rejects.toThrow(
      `lab x: --resume: ${join(dir, "a.json")} was made with other settings; use another --out or drop --resume`,
    );
    writeFileSync(join(dir, "c.json"), '{"key": "k", "run": [1,');
    await expect(readSaved("lab x", where, "c.json", "k")).rejects.toThrow(`lab x: --resume: ${join(dir, "c.json")} is not valid JSON`);
  });
});
