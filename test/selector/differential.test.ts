// The placement Lua re-implements the TS selector's pick step, and the report Lua the reservation
// carry (shared/selector/reservation.ts). Random clusters through both, on a real redis-server,
// must pick the same node for every deterministic setting (sort_by ≠ random, algorithm lowest),
// including the reservations successive placements add and the ones reports carry forward — and
// the selection index must hold exactly the TS effective metric, bit for bit.
import fc from "fast-check";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NodeSelectorConfig } from "#shared/config.ts";
import { STATS_FRESHNESS_MS } from "#shared/node.ts";
import { placeRoom } from "#shared/placement.ts";
import { ioredisRunner } from "#shared/redis/ioredis.ts";
import { reportNode } from "#shared/registry.ts";
import { keys } from "#shared/keys.ts";
import {
  METRICS,
  afterReport,
  effectiveMetric,
  isEligible,
  regionPreference,
  seededRng,
  selectNode,
  type Candidate,
} from "#shared/selector/index.ts";
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
          const cands: Candidate[] = specs.map(({ age, ...s }) => ({
            node: nodeRecord({ ...s, updatedAt: now - age }, now),
            reserved: 0,
          }));
          for (const c of cands) await reportNode(runner, c.node, c.node.updatedAt);
          for (let i = 0; i < 3; i++) {
            const expected = selectNode(cands, { config, now, regionOrder, rng: seededRng(i) });
            const got = await placeRoom(runner, {
              room: `r${i}`,
              mode: "join",
              autoCreate: true,
              config,
              regionOrder,
              now,
            });
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

// Reports interleaved with placements: each step either places a room or has one node report new
// stats after dt ms, which carries (decays) what was placed on it. Stats are drawn so nodes host
// rooms (learnt per-room cost) or none (default cost).
const stepArb = fc.oneof(
  fc.record({ place: fc.constant(true as const), from: fc.constantFrom(NEW_YORK, PARIS, SINGAPORE) }),
  fc.record({
    place: fc.constant(false as const),
    node: fc.nat(11),
    dt: fc.constantFrom(0, 700, 2000, 2001, 4500),
    sysload: level,
    cpuLoad: level,
    rooms: count,
    clients: fc.integer({ min: 0, max: 40 }),
    tracksIn: count,
    tracksOut: fc.integer({ min: 0, max: 200 }),
    bytesInPerSec: fc.constantFrom(0, 1000, 250_000.5),
    bytesOutPerSec: fc.constantFrom(0, 2000, 1e6, 3.3e6),
    state: fc.constantFrom("SERVING", "SERVING", "SERVING", "DRAINING"),
  }),
);

describe("TS reservation carry ≡ report Lua", () => {
  it("same picks and bit-identical index scores over reports interleaved with placements", async () => {
    const runner = ioredisRunner(redis);
    let placed = 0;
    let carriedSeen = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(nodeArb, { selector: (n) => n.id, minLength: 1, maxLength: 12 }),
        fc.array(stepArb, { minLength: 5, maxLength: 40 }),
        defaultConfigArb.chain((d) =>
          fc.constantFrom(d, { ...d, sort_by: "clients" as const }, { ...d, sort_by: "bytespersec" as const }),
        ),
        async (specs, steps, cfg) => {
          await redis.flushall();
          let now = Date.now();
          const config = NodeSelectorConfig.parse({ ...cfg, algorithm: "lowest", regions: REGIONS });
          const cands = new Map<string, Candidate>();
          for (const { age, ...s } of specs) {
            const c = afterReport(undefined, nodeRecord({ ...s, updatedAt: now - age }, now));
            cands.set(c.node.id, c);
            await reportNode(runner, c.node, c.node.updatedAt);
          }
          for (const [i, step] of steps.entries()) {
            if (step.place) {
              const regionOrder = regionPreference(REGIONS, step.from);
              const expected = selectNode([...cands.values()], { config, now, regionOrder, rng: seededRng(i) });
              const got = await placeRoom(runner, {
                room: `r${i}`,
                mode: "create",
                autoCreate: true,
                config,
                regionOrder,
                now,
              });
              if (!expected) {
                expect(got.status).toBe("no_nodes");
                continue;
              }
              expect(got.status === "ok" && got.node.id).toBe(expected.node.id);
              expected.reserved++;
              placed++;
              continue;
            }
            const { node: index, dt, place: _, ...stats } = step;
            const prev = [...cands.values()][index % cands.size]!;
            now += dt;
            const next = afterReport(
              prev,
              nodeRecord({ ...stats, id: prev.node.id, region: prev.node.region, updatedAt: now }, now),
            );
            cands.set(next.node.id, next);
            await reportNode(runner, next.node, now);
            if (METRICS.some((m) => (next.carried?.[m] ?? 0) > 0)) carriedSeen++;
          }
          // Every eligible node's index score is exactly the TS effective metric, for every metric.
          for (const c of cands.values()) {
            if (!isEligible(c, now)) continue;
            for (const m of METRICS) {
              const score = await redis.zscore(keys.sel(c.node.region, m), c.node.id);
              expect(score === null ? null : Number(score)).toBe(effectiveMetric(c, m));
            }
          }
        },
      ),
      { numRuns: 120, seed: 20261127 },
    );
    expect(placed).toBeGreaterThan(300);
    expect(carriedSeen).toBeGreaterThan(50);
  });
});
