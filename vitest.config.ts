import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Dawn (WebGPU) must live in a process of its own, not a worker thread.
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
