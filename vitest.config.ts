import { defineConfig } from "vitest/config";

// Three tiers (vitest projects; `npm test` runs all, `npm run test:<tier>` one):
//   unit         pure functions, no processes
//   e2e          headless Chromium, whole local clusters, the bench and reliability smoke runs
//   integration  everything else: real redis-server, Miniflare, media node processes, the bridge
// A new test file lands in `integration` unless it matches a glob below.
const UNIT = [
  "test/docs/**/*.test.ts",
  "test/**/units.test.ts",
  "test/control-plane/dashboard.test.ts",
  "test/media-node/protocol.test.ts",
  "test/selector/selector.test.ts",
  "test/selector/reservation.test.ts",
  "test/infra/dns-sync.test.ts",
  "test/infra/config.test.ts",
];
const E2E = [
  "test/e2e/**/*.test.ts",
  "test/distributed/**/*.test.ts",
  "test/dev-cluster/**/*.test.ts",
  "test/reliability/**/*.test.ts",
  "test/bench/**/*.test.ts",
  "test/mediasoup/webrtc.test.ts",
];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    // Two cores: heavy suites (mediasoup + Chromium) must not all run at once.
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: "unit", include: UNIT } },
      { extends: true, test: { name: "integration", include: ["test/**/*.test.ts"], exclude: [...UNIT, ...E2E] } },
      { extends: true, test: { name: "e2e", include: E2E } },
    ],
  },
});
