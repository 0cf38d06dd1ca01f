/**
 * Argument checks shared by every layer. Every error names the public
 * function and the offending field with its value.
 */

export function fail(fn: string, message: string): never {
  throw new Error(`${fn}: ${message}`);
}

export function describe(value: unknown): string {
  if (typeof value === "number") return Number.isNaN(value) ? "NaN" : String(value);
  if (value === undefined) return "undefined";
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

/** A finite number (not NaN, not +-Infinity). */
export function finite(fn: string, field: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isFinite(value)) {
    fail(fn, `${field} must be a finite number, got ${describe(value)}`);
  }
  return value;
}

/** A finite number > 0. */
export function positive(fn: string, field: string, value: unknown): number {
  const v = finite(fn, field, value);
  if (v <= 0) fail(fn, `${field} must be > 0, got ${v}`);
  return v;
}

/** An integer >= min. */
export function integer(fn: string, field: string, value: unknown, min = 0): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min) {
    fail(fn, `${field} must be an integer >= ${min}, got ${describe(value)}`);
  }
  return value;
}

/** An even integer >= 2. */
export function evenDim(fn: string, field: string, value: unknown): number {
  const v = integer(fn, field, value, 2);
  if (v % 2 !== 0) fail(fn, `${field} must be even, got ${v}`);
  return v;
}

/** A list of finite numbers; returns it as a Float64Array. */
export function finiteArray(fn: string, field: string, values: ArrayLike<number>): Float64Array {
  const out = Float64Array.from(values);
  for (let i = 0; i < out.length; i++) {
    if (!Number.isFinite(out[i])) fail(fn, `${field}[${i}] must be finite, got ${describe(values[i])}`);
  }
  return out;
}

/** Positions given as a count n (meaning 0..n-1) or as explicit values. */
export function positionsOf(fn: string, positions: number | ArrayLike<number>): Float64Array {
  if (typeof positions === "number") {
    const n = integer(fn, "positions", positions, 0);
    return Float64Array.from({ length: n }, (_, i) => i);
  }
  return finiteArray(fn, "positions", positions);
}

/** A plain object (configs and specs arriving as JSON); `what` says what was expected. */
export function record(fn: string, field: string, value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) fail(fn, `${field} must be ${what}, got ${describe(value)}`);
  return value as Record<string, unknown>;
}

/** No field outside `known`: a typo in an options or settings object is an error, not an ignored key. */
export function knownFields(fn: string, field: string, value: object, known: readonly string[]): void {
  const extra = Object.keys(value).find((k) => !known.includes(k));
  if (extra !== undefined) fail(fn, `${field} has unknown field ${JSON.stringify(extra)}; known: ${known.join(", ")}`);
}

/** One of the `allowed` strings: an enum field, where a typo is an error, not a fallback. */
export function oneOf<T extends string>(fn: string, field: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== "string" || !allowed.includes(value as T))
    fail(fn, `${field} must be ${allowed.map((a) => JSON.stringify(a)).join(", ")}, got ${describe(value)}`);
  return value as T;
}

/** true or false. */
export function bool(fn: string, field: string, value: unknown): boolean {
  if (typeof value !== "boolean") fail(fn, `${field} must be true or false, got ${describe(value)}`);
  return value;
}
