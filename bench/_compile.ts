import { getWebGPUDevice } from "@jax-js/jax";
import { readFileSync } from "node:fs";
import { init, teardown } from "../src/runtime/init.js";
await init({ device: "webgpu" });
const d = getWebGPUDevice();
for (const f of process.argv.slice(2)) {
  const t0 = performance.now();
  const module = d.createShaderModule({ code: readFileSync(f, "utf8") });
  const info = await module.getCompilationInfo();
  for (const m of info.messages) if (m.type === "error") console.log(m.lineNum, m.message);
  await d.createComputePipelineAsync({ layout: "auto", compute: { module, entryPoint: "main" } });
  console.log(f, (performance.now() - t0).toFixed(0), "ms");
}
await teardown();
