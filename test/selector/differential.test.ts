// The placement Lua re-implements the TS selector's pick step. Random clusters through both, on a
// real redis-server, must pick the same node for every deterministic setting (sort_by ≠ random,
// algorithm lowest), including the reservations successive placements add.
import fc from "fast-check";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NodeSelectorConfig } from "../../shared/config.ts";
import { STATS_FRESHNESS_MS } from "../../shared/node.ts";
import { placeRoom } from "../../shared/placement.ts";
import { ioredisRunner } from "../../shared/redis-ioredis.ts";
import { reportNode } from "../../shared/registry.ts";
import { regionPreference, seededRng, selectNode, type Candidate } from "../../shared/selector/index.ts";
import { NEW_YORK, PARIS, REGIONS, SINGAPORE, nodeRecord } from "../support/nodes.ts";
import { TestRedis } from "../support/redis.ts";

let server: TestRedis;
let redis: Redis;
beforeAll(async () => {
  server = await TestRedis.start();
  redis = server.client();
});
afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});

const level = fc.constantFrom(0, 0.1, 0.25, 0.4, 0.5, 0.7, 0.95);
const count = fc.integer({ min: 0, max: 6 });
const nodeArb = fc.record({
  id: fc.constantFrom(...Array.from({ length: 24 }, (_, i) => `n${String(i).padStart(2, "0")}`)),
  region: fc.constantFrom("us-east", "eu-west", "ap-south", "mars"),
  state: fc.constantFrom("SERVING", "SERVING", "SERVING", "DRAINING"),
  age: fc.constantFrom(0, 1000, STATS_FRESHNESS_MS - 1, STATS_FRESHNESS_MS, STATS_FRESHNESS_MS + 500),
  sysload: level,
  cpuLoad: level,
  rooms: count,
  clients: count,
  tracksIn: count,
  tracksOut: count,
  bytesInPerSec: fc.constantFrom(0, 1000, 250_000.5),
  bytesOutPerSec: fc.constantFrom(0, 2000, 1e6),
});
const configArb = fc.record({
  kind: fc.constantFrom("any", "random", "sysload", "cpuload", "regionaware"),
  sort_by: fc.constantFrom("sysload", "cpuload", "rooms", "clients", "tracks", "bytespersec"),
  sysload_limit: fc.constantFrom(0.3, 0.5, 0.9),
  cpu_load_limit: fc.constantFrom(0.3, 0.5, 0.9),
});

// The default config (regionaware, sort_by sysload, lowest) takes the script's O(log n) fast path:
// it gets a property of its own so it is exercised as often as the general path.
const defaultConfigArb = fc.record({
  kind: fc.constant("regionaware" as const),
  sort_by: fc.constant("sysload" as const),
  sysload_limit: fc.constantFrom(0.3, 0.5, 0.9),
  cpu_load_limit: fc.constant(0.9),
});

describe("TS selector ≡ placement Lua", () => {
  it.each([
    ["every kind and sort_by", configArb],
    ["the default config (fast path)", defaultConfigArb],
  ])("pick the same node over random clusters and successive placements: %s", async (_name, configs) => {
    const runner = ioredisRunner(redis);
    let compared = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(nodeArb, { selector: (n) => n.id, maxLength: 12 }),
        configs as typeof configArb,
        fc.constantFrom(NEW_YORK, PARIS, SINGAPORE, undefined),
        async (specs, cfg, from) => {
          await redis.flushall();
          const now = Date.now();
          const config = NodeSelectorConfig.parse({ ...cfg, algorithm: "lowest", regions: REGIONS });
          const regionOrder = regionPreference(REGIONS, from);
          const cands: Candidate[] = specs.map(({ age, ...s }) => ({ node: nodeRecord({ ...s, updatedAt: now - age }, now), reserved: 0 }));
          for (const c of cands) await reportNode(runner, c.node, c.node.updatedAt);
          for (let i = 0; i < 3; i++) {
            const expected = selectNode(cands, { config, now, regionOrder, rng: seededRng(i) });
            const got = await placeRoom(runner, { room: `r${i}`, mode: "join", autoCreate: true, config, regionOrder, now });
            compared++;
            if (!expected) {
              expect(got.status).toBe("no_nodes");
              break;
            }
            expect(got.status === "ok" && got.node.id).toBe(expected.node.id);
            expected.reserved++;
          }
        },
      ),
      { numRuns: 150, seed: 20261126 },
    );
    expect(compared).toBeGreaterThan(150);
  });
});
