import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bucketMatrix, relativeBucket } from "../../src/pe/t5.js";

const configs = fc.record({
  bidirectional: fc.boolean(),
  numBuckets: fc.integer({ min: 4, max: 128 }),
  maxDistance: fc.integer({ min: 64, max: 2048 }),
});

describe("t5.relativeBucket", () => {
  it("T5's defaults: exact below 8, log-spaced above, capped at 15 per side (worked values)", () => {
    // bidirectional, 32 buckets, max distance 128: half = 16, exact for |r| < 8;
    // 8 + floor(log(|r|/8) / log(16) * 8): r = 16 -> 8 + 2 = 10, r = 127 -> 8 + 7 = 15.
    const o = { bidirectional: true, numBuckets: 32, maxDistance: 128 };
    expect(relativeBucket(0, o)).toBe(0);
    expect(relativeBucket(-7, o)).toBe(7);
    expect(relativeBucket(7, o)).toBe(16 + 7);
    expect(relativeBucket(-16, o)).toBe(10);
    expect(relativeBucket(-127, o)).toBe(15);
    expect(relativeBucket(1000, o)).toBe(31);
    // causal: keys after the query all share bucket 0
    expect(relativeBucket(5, { bidirectional: false })).toBe(0);
    expect(relativeBucket(-5, { bidirectional: false })).toBe(5);
  });

  it("is monotone in |relative| and within range on each side", () => {
    fc.assert(
      fc.property(configs, (o) => {
        const half = o.bidirectional ? Math.floor(o.numBuckets / 2) : o.numBuckets;
        fc.pre(Math.floor(half / 2) >= 1 && o.maxDistance > Math.floor(half / 2));
        let prevPast = -1;
        let prevFuture = -1;
        for (let d = 0; d <= o.maxDistance + 50; d++) {
          const past = relativeBucket(-d, o);
          if (past < prevPast || past < 0 || past >= half) return false;
          prevPast = past;
          if (o.bidirectional) {
            const future = relativeBucket(d, o);
            if (future < prevFuture || future >= o.numBuckets || (d > 0 && future < half)) return false;
            prevFuture = future;
          }
        }
        return relativeBucket(-(o.maxDistance + 50), o) === half - 1;
      }),
    );
  });

  it("bucketMatrix(L, S) holds relativeBucket(j - i)", () => {
    const o = { bidirectional: true };
    const m = bucketMatrix(5, 300, o);
    for (let i = 0; i < 5; i++) for (let j = 0; j < 300; j += 7) expect(m[i * 300 + j]).toBe(relativeBucket(j - i, o));
  });

  it("rejects bad options", () => {
    // @ts-expect-error bidirectional is required
    expect(() => relativeBucket(3, {})).toThrow(/t5.relativeBucket: options.bidirectional must be true or false/);
    expect(() => relativeBucket(1.5, { bidirectional: true })).toThrow(/t5.relativeBucket: relative must be an integer/);
    expect(() => relativeBucket(1, { bidirectional: true, numBuckets: 32, maxDistance: 4 })).toThrow(
      /options.maxDistance \(4\) must exceed the exact range 8/,
    );
    expect(() => relativeBucket(1, { bidirectional: true, numBuckets: NaN })).toThrow(
      /options.numBuckets must be an integer >= 2, got NaN/,
    );
  });
});
