import { numpy as np } from "@jax-js/jax";
import { flashAttention } from "../src/kernels/webgpu/flashAttention.js";
import { init, teardown } from "../src/runtime/init.js";
await init({ device: "webgpu" });
import { getWebGPUDevice } from "@jax-js/jax";
import { writeFileSync } from "node:fs";
{ const d = getWebGPUDevice(); const orig = d.createShaderModule.bind(d); (d as any).createShaderModule = (x: any) => { writeFileSync("/tmp/dbg/shader.wgsl", x.code); return orig(x); }; }
const [H, L, S, D, Dv] = [1, Number(process.argv[2] ?? 5), Number(process.argv[3] ?? 5), Number(process.argv[4] ?? 8), Number(process.argv[5] ?? 8)];
const rnd = (n: number, s: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 1.7 + s * 3.1) );
const qd = rnd(H * L * D, 1), kd = rnd(H * S * D, 2), vd = rnd(H * S * Dv, 3);
const t0 = performance.now();
const out = await flashAttention(np.array(qd).reshape([1, H, L, D]), np.array(kd).reshape([1, H, S, D]), np.array(vd).reshape([1, H, S, Dv]), {});
const got = await out.data();
console.log("ms", performance.now() - t0);
let worst = 0;
for (let i = 0; i < L; i++) {
  const lg = [];
  for (let j = 0; j < S; j++) { let d = 0; for (let c = 0; c < D; c++) d += qd[i * D + c] * kd[j * D + c]; lg.push(d / Math.sqrt(D)); }
  const m = Math.max(...lg); const p = lg.map((x) => Math.exp(x - m)); const z = p.reduce((a, b) => a + b);
  for (let c = 0; c < Dv; c++) { let o = 0; for (let j = 0; j < S; j++) o += p[j] * vd[j * Dv + c]; o /= z; const e = Math.abs(o - got[i * Dv + c]); if (e > worst) worst = e; if (i < 2 && c < 4) console.log(i, c, o, got[i * Dv + c]); }
}
console.log("worst", worst);
await teardown();
