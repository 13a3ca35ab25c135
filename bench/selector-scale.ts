// @bench-smoke
// Benchmark 2 — selector scale. Cost of ONE room placement (shared/placement.ts, Meridian's default
// selector config) versus the number of registered nodes, on a real redis-server reached the way
// the Worker reaches it: @upstash/redis → the Upstash REST stand-in (infra/upstash-rest) → Redis.
// Reports round trips per placement (REST HTTP requests), client-side p50/p99, and server-side
// script time from SLOWLOG (slowlog-log-slower-than 0), next to a bare GET through the same client.
//
//   node bench/selector-scale.ts [--smoke] [--seed N] [--sizes 100,1000,10000] [--placements 400]
import { randomBytes } from "node:crypto";
import { Redis as UpstashRedis } from "@upstash/redis/cloudflare";
import type { Redis as IoRedis } from "ioredis";
import { upstashRunner } from "../control-plane/src/redis.ts";
import { startUpstashRest } from "../infra/upstash-rest/server.ts";
import { NodeSelectorConfig } from "#shared/config.ts";
import { keys } from "#shared/keys.ts";
import { placeRoom } from "#shared/placement.ts";
import { ioredisRunner } from "#shared/redis/ioredis.ts";
import { regionPreference } from "#shared/selector/index.ts";
import { TestRedis } from "../test/support/redis.ts";
import { freshNodes, registerFleet } from "./lib/fleet.ts";
import { CITIES, REGIONS } from "./placement/world.ts";
import { benchArgs, fmt, percentile, printRatio, printTable } from "./lib/report.ts";
import { seededRng } from "./lib/prng.ts";

const args = benchArgs({ sizes: { type: "string" }, placements: { type: "string" } });
const SIZES = String(args.sizes ?? (args.smoke ? "50,300" : "100,1000,10000"))
  .split(",")
  .map(Number);
const PLACEMENTS = Number(args.placements ?? (args.smoke ? 60 : 400));
const WARMUP = 20;
/** Wall-clock budget per size; the bench is bounded in count AND time. */
const BUDGET_MS = args.smoke ? 2_000 : 30_000;
const rng = seededRng(Number(args.seed));
/** A small string value the bare-GET comparison reads. */
const PROBE_KEY = "meridian:bench:probe";

interface SlowlogEntry {
  micros: number;
  args: string[];
}

async function slowlog(admin: IoRedis): Promise<SlowlogEntry[]> {
  const raw = (await admin.call("SLOWLOG", "GET", "-1")) as [number, number, number, string[]][];
  return raw.map((e) => ({ micros: e[2], args: e[3] }));
}

interface Measured {
  nodes: number;
  placements: number;
  roundTrips: number;
  p50: number;
  p99: number;
  serverP50: number;
  serverP99: number;
  serverMax: number;
  getP50: number;
  getP99: number;
}

async function main(): Promise<void> {
  const server = await TestRedis.start();
  const admin = server.client();
  const token = randomBytes(24).toString("hex");
  const upstashRest = await startUpstashRest({ redisUrl: server.url, token });
  // Configured like the Worker's client (control-plane/src/redis.ts redisFor).
  const upstash = new UpstashRedis({
    url: upstashRest.url,
    token,
    automaticDeserialization: false,
    enableTelemetry: false,
    retry: { retries: 1, backoff: () => 25 },
  });
  const worker = upstashRunner(upstash);
  const nodeSide = ioredisRunner(admin);
  const config = NodeSelectorConfig.parse({ regions: REGIONS });
  const results: Measured[] = [];
  try {
    await admin.config("SET", "slowlog-log-slower-than", "0");
    await admin.config("SET", "slowlog-max-len", "100000");
    for (const size of SIZES) {
      await admin.flushdb();
      // A pinned clock (bench/lib/fleet.ts): the fleet stays eligible however long this takes.
      const fleet = await registerFleet(nodeSide, admin, size, rng);
      const fresh = await freshNodes(admin, fleet.now);
      if (fresh !== size) throw new Error(`only ${fresh} of ${size} nodes eligible after registering`);
      await admin.set(PROBE_KEY, "x".repeat(64));
      const lat: number[] = [];
      const getLat: number[] = [];
      const started = Date.now();
      let requestsBefore = 0;
      await admin.call("SLOWLOG", "RESET");
      for (let i = 0; i < WARMUP + PLACEMENTS && Date.now() - started < BUDGET_MS; i++) {
        const city = CITIES[Math.floor(rng() * CITIES.length)]!;
        if (i === WARMUP) {
          lat.length = 0;
          getLat.length = 0;
          await admin.call("SLOWLOG", "RESET");
          requestsBefore = upstashRest.stats.requests;
        }
        let t = performance.now();
        const r = await placeRoom(worker, {
          room: `bench-${size}-${i}`,
          mode: "create",
          autoCreate: true,
          config,
          regionOrder: regionPreference(REGIONS, city),
          seed: Math.floor(rng() * 2 ** 31),
          now: fleet.now,
        });
        lat.push(performance.now() - t);
        if (r.status !== "ok") throw new Error(`placement at ${size} nodes: ${r.status}`);
        t = performance.now();
        await upstash.get(PROBE_KEY);
        getLat.push(performance.now() - t);
      }
      const placed = lat.length;
      const roomKey = keys.room("");
      const server = (await slowlog(admin))
        .filter((e) => e.args[0]?.toUpperCase() === "EVALSHA" && e.args[3]?.startsWith(roomKey))
        .map((e) => e.micros / 1000);
      results.push({
        nodes: size,
        placements: placed,
        // Each placement is followed by one GET; both go through the REST stand-in as HTTP requests.
        roundTrips: (upstashRest.stats.requests - requestsBefore - getLat.length) / placed,
        p50: percentile(lat, 50),
        p99: percentile(lat, 99),
        serverP50: percentile(server, 50),
        serverP99: percentile(server, 99),
        serverMax: Math.max(...server),
        getP50: percentile(getLat, 50),
        getP99: percentile(getLat, 99),
      });
    }
  } finally {
    await upstashRest.close();
    await admin.quit();
    await server.stop();
  }

  console.log(
    `selector scale: one placement (default selector: ${config.kind}/${config.sort_by}/${config.algorithm}) through ` +
      `@upstash/redis → REST stand-in → redis-server; times in ms\n`,
  );
  printTable(
    [
      "nodes",
      "placements",
      "round trips",
      "client p50",
      "client p99",
      "script p50",
      "script p99",
      "script max",
      "GET p50",
      "GET p99",
    ],
    results.map((r) => [
      r.nodes,
      r.placements,
      r.roundTrips,
      r.p50,
      r.p99,
      r.serverP50,
      r.serverP99,
      r.serverMax,
      r.getP50,
      r.getP99,
    ]),
  );
  const largest = results[results.length - 1]!;
  const met = largest.roundTrips === 1 && largest.serverP99 <= 2;
  console.log("");
  printRatio(
    "selector-scale",
    largest.p50 / largest.getP50,
    `placement p50 ${fmt(largest.p50)} ms vs bare GET p50 ${fmt(largest.getP50)} ms at ${largest.nodes} nodes; ` +
      `${fmt(largest.roundTrips)} round trip(s), script p99 ${fmt(largest.serverP99)} ms; ` +
      `goal 1 round trip and ≤ 2 ms script time at 10k nodes: ${largest.nodes >= 10_000 ? (met ? "MET" : "NOT MET") : "not measured (smoke sizes)"}`,
  );
}

await main();
