import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    // Two cores: heavy suites (mediasoup + Chromium) must not all run at once.
    maxWorkers: 2,
  },
});
