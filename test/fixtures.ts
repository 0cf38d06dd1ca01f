/** Loads a committed reference fixture (see scripts/fixtures/ for how each was generated). */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export interface Fixture<C> {
  provenance: { generator: string; library: string; versions: Record<string, string>; seed: number | null; note: string };
  cases: C[];
}

export function fixture<C>(name: string): Fixture<C> {
  const path = fileURLToPath(new URL(`./fixtures/${name}.json`, import.meta.url));
  return JSON.parse(readFileSync(path, "utf8")) as Fixture<C>;
}
