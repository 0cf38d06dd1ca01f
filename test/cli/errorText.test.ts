/** What the command line prints for an unexpected error: never an empty line, and the wasm memory error explained. */
import { describe, expect, it } from "vitest";
import { errorText } from "../../src/cli/errorText.js";

describe("errorText", () => {
  it("is the message of an error that has one", () => {
    expect(errorText(new Error("lab stability: lrs must increase"))).toBe("lab stability: lrs must increase");
  });

  it("names an error without a message, and where it was thrown", () => {
    const text = errorText(new TypeError(""));
    expect(text).toMatch(/^TypeError without a message \(at .*errorText\.test\.ts:\d+:\d+\)$/);
    expect(errorText("device lost")).toBe("string thrown: device lost");
  });

  it("says what the engine's WebAssembly out-of-memory error means", () => {
    expect(errorText(new RangeError("Allocation exceeds the 4 GiB memory32 limit"))).toBe(
      "Allocation exceeds the 4 GiB memory32 limit: the arrays this run needs at once do not fit WebAssembly's memory; use --device webgpu, or a smaller model, batch or length",
    );
  });
});
