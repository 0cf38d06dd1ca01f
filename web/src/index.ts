/** The lab's home page: links to the pages, and the device this browser gives posenc. */
import { guarded, header, start } from "./page.js";

header("index.html");
void guarded(async () => {
  await start();
}).then(() => {
  document.body.dataset.ready = "1";
});
