/**
 * Grey PNG encoding: a round trip keeps every 8-bit level, colour and alpha
 * inputs reduce to the mean grey composited on white, and bad inputs are
 * refused with the function's name.
 */
import { encode } from "fast-png";
import { describe, expect, it } from "vitest";
import { base64, decodeGrayPng, encodeGrayPng } from "../../src/core/grayPng.js";

describe("grey PNG", () => {
  it("round-trips every 8-bit level, clamping values outside [0, 1]", () => {
    const levels = Float32Array.from({ length: 256 }, (_, i) => i / 255);
    const back = decodeGrayPng(encodeGrayPng({ data: levels, height: 16, width: 16 }));
    expect([back.height, back.width]).toEqual([16, 16]);
    back.data.forEach((v, i) => expect(Math.abs(v - levels[i])).toBeLessThan(1e-7));
    const clamped = decodeGrayPng(encodeGrayPng({ data: Float32Array.from([-1, 2, Number.NaN]), height: 1, width: 3 }));
    expect(Array.from(clamped.data)).toEqual([0, 1, 0]);
  });

  it("reads RGB as the mean of its channels and RGBA composited on white", () => {
    const rgb = encode({ width: 2, height: 1, channels: 3, depth: 8, data: Uint8Array.from([255, 0, 0, 30, 60, 90]) });
    const g = decodeGrayPng(rgb);
    expect(g.data[0]).toBeCloseTo(1 / 3, 6);
    expect(g.data[1]).toBeCloseTo(60 / 255, 6);
    const rgba = encode({ width: 1, height: 1, channels: 4, depth: 8, data: Uint8Array.from([0, 0, 0, 51]) });
    expect(decodeGrayPng(rgba).data[0]).toBeCloseTo(1 - 51 / 255, 6); // black at 20% on white
  });

  it("refuses bytes that are not a PNG and data of the wrong length", () => {
    expect(() => decodeGrayPng(Uint8Array.from([1, 2, 3]), "style.png")).toThrow(/decodeGrayPng: style.png is not a PNG file/);
    expect(() => encodeGrayPng({ data: new Float32Array(5), height: 2, width: 3 })).toThrow(
      /encodeGrayPng: image.data must be a Float32Array of height \* width = 6 values/,
    );
  });

  it("encodes base64 as RFC 4648 does", () => {
    const text = (s: string) => base64(new TextEncoder().encode(s));
    expect([text(""), text("f"), text("fo"), text("foo"), text("foobar")]).toEqual(["", "Zg==", "Zm8=", "Zm9v", "Zm9vYmFy"]);
  });
});
