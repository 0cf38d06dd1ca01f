
import { init } from "posenc";
console.log((await init({ device: "auto" })).device);
