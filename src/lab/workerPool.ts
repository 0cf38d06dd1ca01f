/**
 * A `UnitPool` of worker threads (Node): each worker starts its own engine
 * on the device (WebAssembly or the cpu backend, which run on one core
 * each) and takes the next unit as soon as it is free, so n workers on n
 * cores train n models at once. Results come back in the units' order; the
 * first failure stops every worker and rejects with the unit's error.
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { fail } from "../core/validate.js";
import type { DeviceKind } from "../runtime/init.js";
import type { UnitExperiment, UnitFinished, UnitPool } from "./pool.js";
import type { ProgressSink } from "./progress.js";
import type { UnitMessage, UnitRequest } from "./unitWorker.js";

/** The file of tsx's ESM API (its `import` export; resolving the name from here would pick its `require` one). */
function tsxEsmApi(): string {
  const manifest = createRequire(import.meta.url).resolve("tsx/package.json");
  const pkg = JSON.parse(readFileSync(manifest, "utf8")) as { exports: Record<string, { import: { default: string } }> };
  return join(dirname(manifest), pkg.exports["./esm/api"].import.default);
}

/**
 * The worker: the compiled script next to this module or, where this module
 * runs from its TypeScript source (the tests), that source imported through
 * tsx's loader, which `--import` does not carry into worker threads on Node 20.
 */
function workerThread(device: DeviceKind): Worker {
  const js = new URL("./unitWorker.js", import.meta.url);
  if (existsSync(fileURLToPath(js))) return new Worker(js, { workerData: { device } });
  const ts = new URL("./unitWorker.ts", import.meta.url).href;
  const tsx = pathToFileURL(tsxEsmApi()).href;
  const source = `import(${JSON.stringify(tsx)}).then((m) => m.tsImport(${JSON.stringify(ts)}, ${JSON.stringify(ts)}))`;
  return new Worker(source, { eval: true, workerData: { device } });
}

/** A pool of `workers` threads on `device` ("wasm" or "cpu"; WebGPU has one device, which one thread drives). */
export function workerPool(workers: number, device: DeviceKind): UnitPool {
  const fn = "workerPool";
  if (!Number.isInteger(workers) || workers < 1) fail(fn, `workers must be an integer >= 1, got ${workers}`);
  if (device !== "wasm" && device !== "cpu")
    fail(fn, `device must be "wasm" or "cpu" (one thread drives the GPU), got ${JSON.stringify(device)}`);
  return {
    run<U, R>(experiment: UnitExperiment, settings: unknown, units: U[], progress: ProgressSink, finished?: UnitFinished<R>): Promise<R[]> {
      const results: R[] = new Array(units.length);
      if (units.length === 0) return Promise.resolve(results);
      const threads: Worker[] = [];
      const retired = new Set<Worker>();
      return new Promise<R[]>((resolve, reject) => {
        let next = 0;
        let done = 0;
        const settled: Promise<void>[] = [];
        let failed = false;
        const stop = (e: Error) => {
          if (failed) return;
          failed = true;
          for (const t of threads) void t.terminate();
          reject(e);
        };
        const give = (t: Worker) => {
          if (next < units.length) t.postMessage({ experiment, settings, unit: units[next], index: next++ } satisfies UnitRequest);
          else {
            retired.add(t);
            void t.terminate();
          }
        };
        for (let w = 0; w < Math.min(workers, units.length); w++) {
          const t = workerThread(device);
          threads.push(t);
          t.on("message", (m: UnitMessage) => {
            if (failed) return;
            switch (m.type) {
              case "ready":
                return give(t);
              case "tick":
                return progress.tick(m.n, m.note);
              case "row":
                return progress.row?.(m.row);
              case "losses":
                return progress.losses?.(m.run, m.losses);
              case "result":
                results[m.index] = m.result as R;
                if (finished) {
                  const call = finished(m.index, m.result as R);
                  call.catch(stop);
                  settled.push(call);
                }
                if (++done === units.length) Promise.all(settled).then(() => resolve(results), stop);
                return give(t);
              case "error": {
                const e = new Error(m.message);
                if (m.stack) e.stack = m.stack;
                return stop(e);
              }
            }
          });
          t.on("error", stop);
          t.on("exit", (code) => {
            if (!retired.has(t))
              stop(new Error(`${fn}: a worker of lab ${experiment} exited with code ${code} before its units were done`));
          });
        }
      });
    },
  };
}
