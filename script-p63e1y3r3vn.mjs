
import { init, teardown } from "posenc";
import { numpy as np } from "@jax-js/jax";
await init({ device: "webgpu" });
const x = np.arange(4).astype("float32");
console.log(Array.from(await np.multiply(x.ref, x).data()).join(","));
await teardown();
