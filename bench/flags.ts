/**
 * Command-line flags of the per-kernel bench scripts (bench/flashAttention.ts,
 * bench/kernelizedAttention.ts, bench/kernelizedMemory.ts): every flag must be
 * declared, numbers must be positive integers, and a bad flag or value exits
 * with a message naming it and the script's flags, never a silent default.
 */

/** A flag's kind and default: positive integers, a list of them, a list of names, or a switch. */
export type FlagSpec =
  | { kind: "int"; default: number | undefined }
  | { kind: "ints"; default: number[] }
  | { kind: "names"; default: string[]; allowed: string[] }
  | { kind: "switch" };

type Value<F extends FlagSpec> = F extends { kind: "int"; default: infer D }
  ? number | D
  : F extends { kind: "ints" }
    ? number[]
    : F extends { kind: "names" }
      ? string[]
      : boolean;

/** Parses `argv` against `spec` (keys are flag names without `--`); throws an Error naming the flag and the value. */
export function parseFlags<S extends Record<string, FlagSpec>>(script: string, argv: string[], spec: S): { [K in keyof S]: Value<S[K]> } {
  const out: Record<string, unknown> = {};
  for (const [name, f] of Object.entries(spec)) out[name] = f.kind === "switch" ? false : f.default;
  const usage = () =>
    Object.keys(spec)
      .map((n) => `--${n}`)
      .join(", ");
  const positive = (flag: string, v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${script}: ${flag} takes positive integers, got ${JSON.stringify(v)}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const name = flag.startsWith("--") ? flag.slice(2) : "";
    const f = spec[name];
    if (!f) throw new Error(`${script}: unknown option ${JSON.stringify(flag)}; known: ${usage()}`);
    if (f.kind === "switch") {
      out[name] = true;
      continue;
    }
    const v = argv[++i];
    if (v === undefined || v.startsWith("--")) throw new Error(`${script}: ${flag} needs a value`);
    if (f.kind === "int") out[name] = positive(flag, v);
    else if (f.kind === "ints") out[name] = v.split(",").map((x) => positive(flag, x));
    else {
      const names = v.split(",");
      for (const n of names)
        if (!f.allowed.includes(n)) throw new Error(`${script}: ${flag} takes ${f.allowed.join(", ")}, got ${JSON.stringify(n)}`);
      out[name] = names;
    }
  }
  return out as { [K in keyof S]: Value<S[K]> };
}
