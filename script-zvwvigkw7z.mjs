
import { init } from "posenc";
try { await init({ device: "webgpu" }); console.log("started"); } catch (e) { console.log(e.message); }
