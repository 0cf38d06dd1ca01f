/**
 * Grey-level images as PNG bytes and back, through fast-png (pure
 * JavaScript, so in Node and in browsers alike): values in [0, 1] with 0
 * black and 1 white, row-major (H, W). Colour and alpha inputs are reduced
 * to grey as the mean of R, G and B, composited on white by their alpha.
 *
 * Reference: PNG (ISO/IEC 15948), https://www.w3.org/TR/png-3/;
 * https://github.com/image-js/fast-png
 */
import { decode, encode } from "fast-png";
import { describe, fail, integer } from "./validate.js";

/** A grey image, row-major, values in [0, 1] (0 black, 1 white). */
export interface GrayImage {
  data: Float32Array;
  height: number;
  width: number;
}

/** `image` checked as a GrayImage (height and width integers >= 1, height * width float32 values); errors name `fn` and `field`. */
export function checkGrayImage(fn: string, field: string, image: GrayImage): GrayImage {
  const h = integer(fn, `${field}.height`, image?.height, 1);
  const w = integer(fn, `${field}.width`, image.width, 1);
  if (!(image.data instanceof Float32Array) || image.data.length !== h * w)
    fail(fn, `${field}.data must be a Float32Array of height * width = ${h * w} values, got ${describe(image.data)}`);
  return image;
}

/** 8-bit grey PNG bytes of `image`, values clamped to [0, 1]. */
export function encodeGrayPng(image: GrayImage): Uint8Array {
  const { data, height: h, width: w } = checkGrayImage("encodeGrayPng", "image", image);
  const bytes = Uint8Array.from(data, (v) => Math.round(255 * Math.min(1, Math.max(0, Number.isNaN(v) ? 0 : v))));
  return encode({ width: w, height: h, data: bytes, channels: 1, depth: 8 });
}

/** The grey image of PNG `bytes`; `name` names the file in errors. */
export function decodeGrayPng(bytes: Uint8Array, name = "the image"): GrayImage {
  const fn = "decodeGrayPng";
  let png: ReturnType<typeof decode>;
  try {
    png = decode(bytes);
  } catch (e) {
    return fail(fn, `${name} is not a PNG file (${(e as Error).message})`);
  }
  const { width, height, channels, depth } = png;
  const max = 2 ** depth - 1;
  const data = new Float32Array(width * height);
  const src = png.data as ArrayLike<number>;
  const colour = channels >= 3;
  const alpha = channels === 2 || channels === 4;
  if (png.palette) fail(fn, `${name} is a palette PNG; save it as grey or RGB`);
  for (let i = 0; i < width * height; i++) {
    const p = i * channels;
    const grey = colour ? (src[p] + src[p + 1] + src[p + 2]) / (3 * max) : src[p] / max;
    const a = alpha ? src[p + channels - 1] / max : 1;
    data[i] = a * grey + (1 - a);
  }
  return { data, height, width };
}

/** Standard base64 of bytes (RFC 4648), for data: URLs. */
export function base64(bytes: Uint8Array): string {
  const abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const [a, b, c] = [bytes[i], bytes[i + 1] ?? 0, bytes[i + 2] ?? 0];
    const n = (a << 16) | (b << 8) | c;
    out +=
      abc[n >> 18] + abc[(n >> 12) & 63] + (i + 1 < bytes.length ? abc[(n >> 6) & 63] : "=") + (i + 2 < bytes.length ? abc[n & 63] : "=");
  }
  return out;
}
