/**
 * T5 relative position buckets. The relative position is
 * `relative = keyPosition - queryPosition`. Bidirectional: half the buckets
 * for keys after the query (offset numBuckets/2), half before; causal: keys
 * after the query share bucket 0. Within a half of n buckets, distances below
 * n/2 get a bucket each, larger ones log-spaced up to maxDistance:
 *
 *   bucket(d) = d                                                       d < n/2
 *             = min(n-1, n/2 + floor(log(d/(n/2)) / log(maxDistance/(n/2)) * (n - n/2)))   otherwise
 *
 * The log branch is evaluated with float32 roundings at the same steps as
 * transformers' `T5Attention._relative_position_bucket`, so buckets match it
 * exactly, including at the boundaries.
 *
 * Reference: Raffel et al. (JMLR 2020), https://arxiv.org/abs/1910.10683;
 * HF transformers models/t5/modeling_t5.py.
 */
import { fail, integer } from "../core/validate.js";

export interface BucketOptions {
  /** true for encoders (keys on both sides), false for causal decoders. */
  bidirectional: boolean;
  /** Number of buckets (default 32, T5's). */
  numBuckets?: number;
  /** Distance at and beyond which all positions share the last bucket (default 128). */
  maxDistance?: number;
}

const f32 = Math.fround;

/** The bucket of one relative position `keyPosition - queryPosition`. */
export function relativeBucket(relative: number, options: BucketOptions): number {
  const fn = "t5.relativeBucket";
  if (!Number.isInteger(relative)) fail(fn, `relative must be an integer (keyPosition - queryPosition), got ${relative}`);
  const { bidirectional, numBuckets, maxDistance } = resolve(fn, options);
  return bucketOf(relative, bidirectional, numBuckets, maxDistance);
}

/** Validates the options once and returns relative -> bucket (relative = keyPosition - queryPosition, an integer). */
export function bucketer(options: BucketOptions): (relative: number) => number {
  const { bidirectional, numBuckets, maxDistance } = resolve("t5.bucketer", options);
  return (relative) => bucketOf(relative, bidirectional, numBuckets, maxDistance);
}

/** The (L, S) matrix of buckets for query positions 0..L-1 and key positions 0..S-1 (row-major, Int32). */
export function bucketMatrix(queryLength: number, keyLength: number, options: BucketOptions): Int32Array {
  const fn = "t5.bucketMatrix";
  integer(fn, "queryLength", queryLength, 0);
  integer(fn, "keyLength", keyLength, 0);
  const { bidirectional, numBuckets, maxDistance } = resolve(fn, options);
  const out = new Int32Array(queryLength * keyLength);
  for (let i = 0; i < queryLength; i++) {
    for (let j = 0; j < keyLength; j++) out[i * keyLength + j] = bucketOf(j - i, bidirectional, numBuckets, maxDistance);
  }
  return out;
}

function resolve(fn: string, options: BucketOptions): Required<BucketOptions> {
  if (typeof options?.bidirectional !== "boolean") {
    fail(fn, `options.bidirectional must be true or false, got ${JSON.stringify(options?.bidirectional)}`);
  }
  const numBuckets = integer(fn, "options.numBuckets", options.numBuckets ?? 32, 2);
  const maxDistance = integer(fn, "options.maxDistance", options.maxDistance ?? 128, 1);
  const half = options.bidirectional ? Math.floor(numBuckets / 2) : numBuckets;
  const maxExact = Math.floor(half / 2);
  if (maxExact < 1) fail(fn, `options.numBuckets (${numBuckets}) leaves no exact buckets`);
  if (maxDistance <= maxExact) {
    fail(fn, `options.maxDistance (${maxDistance}) must exceed the exact range ${maxExact} implied by numBuckets ${numBuckets}`);
  }
  return { bidirectional: options.bidirectional, numBuckets, maxDistance };
}

function bucketOf(relative: number, bidirectional: boolean, numBuckets: number, maxDistance: number): number {
  let offset = 0;
  let n = numBuckets;
  let d: number;
  if (bidirectional) {
    n = Math.floor(numBuckets / 2);
    if (relative > 0) offset = n;
    d = Math.abs(relative);
  } else {
    d = -Math.min(relative, 0);
  }
  const maxExact = Math.floor(n / 2);
  if (d < maxExact) return offset + d;
  // float32 at each step, as torch: log(d.float() / maxExact) / log(maxDistance / maxExact) * (n - maxExact)
  const ratio = f32(f32(d) / maxExact);
  const scaled = f32(f32(f32(Math.log(ratio)) / f32(Math.log(maxDistance / maxExact))) * (n - maxExact));
  const large = Math.min(maxExact + Math.trunc(scaled), n - 1);
  return offset + large;
}
