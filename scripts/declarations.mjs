// After tsc: adds to dist/index.d.ts the lib reference its types need but posenc's own
// build must not see (jax-js names Float16Array; with TypeScript's esnext.float16 lib in
// posenc's program, jax-js's strict typed-array types would apply to posenc's sources too).
// The declaration map is shifted by the added line, so it stays exact.
import { readFileSync, writeFileSync } from "node:fs";

const REFERENCE = '/// <reference lib="esnext.float16" />\n';
const dts = "dist/index.d.ts";
const text = readFileSync(dts, "utf8");
if (!text.startsWith(REFERENCE)) {
  writeFileSync(dts, REFERENCE + text);
  const map = JSON.parse(readFileSync(`${dts}.map`, "utf8"));
  map.mappings = `;${map.mappings}`;
  writeFileSync(`${dts}.map`, JSON.stringify(map));
}
