// @bench-smoke
// Join latency through the real path — Miniflare (workerd) → control-plane Worker → @upstash/redis
// → Upstash REST stand-in → redis-server — against a bare GET through the same client and path in
// the same run. Also counts Redis round trips (REST HTTP requests) and commands per request.
//
//   node bench/join-latency.ts [--smoke] [--iterations 300] [--nodes 30]
import { randomBytes } from "node:crypto";
import { Miniflare } from "miniflare";
import { startUpstashRest } from "../infra/upstash-rest/server.ts";
import { ioredisRunner } from "#shared/redis/ioredis.ts";
import { reportNode } from "#shared/registry.ts";
import { mintToken } from "#shared/token.ts";
import { COMPATIBILITY_DATE, bundleWorker, bundleWorkerEntry } from "../test/support/worker.ts";
import { nodeRecord, REGIONS } from "../test/support/nodes.ts";
import { TestRedis } from "../test/support/redis.ts";
import { benchArgs, percentile, printRatio, printTable } from "./lib/report.ts";
import { seededRng } from "./lib/prng.ts";

const args = benchArgs({ iterations: { type: "string" }, nodes: { type: "string" } });
const ITERATIONS = Number(args.iterations ?? (args.smoke ? 40 : 300));
const NODES = Number(args.nodes ?? 30);
const WARMUP = 10;
const BUDGET_MS = args.smoke ? 8_000 : 60_000;
const rng = seededRng(Number(args.seed));
const CITIES = [
  { latitude: "40.71", longitude: "-74.01" },
  { latitude: "48.86", longitude: "2.35" },
  { latitude: "1.35", longitude: "103.82" },
];

const redis = await TestRedis.start();
const restToken = randomBytes(16).toString("hex");
const upstashRest = await startUpstashRest({ redisUrl: redis.url, token: restToken });
const io = redis.client();
const runner = ioredisRunner(io);
const apiSecret = randomBytes(24).toString("hex");
const redisVars = { UPSTASH_REDIS_REST_URL: upstashRest.url, UPSTASH_REDIS_REST_TOKEN: restToken };

async function reportFleet(): Promise<void> {
  for (let i = 0; i < NODES; i++) {
    const region = REGIONS[i % REGIONS.length]!.name;
    await reportNode(runner, nodeRecord({ id: `node-${i}`, region, sysload: 0.05 + rng() * 0.5 }));
  }
}

const probe = await bundleWorkerEntry(new URL("./join-probe-worker.ts", import.meta.url).pathname);

const mf = new Miniflare({
  workers: [
    {
      name: "control-plane",
      modules: true,
      script: await bundleWorker(),
      compatibilityDate: COMPATIBILITY_DATE,
      bindings: {
        ...redisVars,
        API_KEYS: `bench:${apiSecret}`,
        NODE_SELECTOR: JSON.stringify({
          kind: "regionaware",
          sort_by: "sysload",
          algorithm: "twochoice",
          sysload_limit: 0.7,
          regions: REGIONS,
        }),
        DEFAULT_REGION: REGIONS[0]!.name,
      },
    },
    { name: "probe", modules: true, script: probe, compatibilityDate: COMPATIBILITY_DATE, bindings: redisVars },
  ],
});

try {
  await mf.ready;
  await io.set("meridian:bench:probe", "x");
  await reportFleet();
  const refresh = setInterval(() => void reportFleet(), 2_000);
  const probeWorker = await mf.getWorker("probe");
  const token = (room: string, identity: string) =>
    mintToken({ apiKey: "bench", apiSecret, identity, video: { roomJoin: true, room }, ttlSeconds: 600 });

  interface Sample {
    ms: number;
    requests: number;
    commands: number;
  }
  const samples: Record<"get" | "joinNew" | "joinExisting", Sample[]> = { get: [], joinNew: [], joinExisting: [] };
  async function measure(
    kind: keyof typeof samples,
    fn: () => Promise<{ status: number; arrayBuffer(): Promise<ArrayBuffer> }>,
    record: boolean,
  ): Promise<void> {
    const r0 = upstashRest.stats.requests;
    const c0 = upstashRest.stats.commands;
    const t0 = performance.now();
    const res = await fn();
    await res.arrayBuffer();
    const ms = performance.now() - t0;
    if (res.status !== 200) throw new Error(`${kind} answered ${res.status}`);
    if (record)
      samples[kind].push({ ms, requests: upstashRest.stats.requests - r0, commands: upstashRest.stats.commands - c0 });
  }

  const started = Date.now();
  const join = (t: string, i: number) =>
    mf.dispatchFetch("http://cp.test/v1/join", {
      method: "POST",
      headers: { authorization: `Bearer ${t}`, "content-type": "application/json" },
      body: "{}",
      cf: CITIES[i % CITIES.length]!,
    });
  let i = 0;
  for (; i < WARMUP + ITERATIONS && Date.now() - started < BUDGET_MS; i++) {
    const record = i >= WARMUP;
    // interleaved so all three see the same machine conditions
    const [tNew, tOld] = await Promise.all([token(`room-${i}`, "a"), token(`room-${i}`, "b")]);
    await measure("get", () => probeWorker.fetch("http://probe.test/"), record);
    await measure("joinNew", () => join(tNew, i), record);
    await measure("joinExisting", () => join(tOld, i + 1), record);
  }
  clearInterval(refresh);

  const row = (name: string, s: Sample[]) => [
    name,
    s.length,
    percentile(
      s.map((x) => x.ms),
      50,
    ),
    percentile(
      s.map((x) => x.ms),
      99,
    ),
    s.reduce((a, x) => a + x.requests, 0) / s.length,
    s.reduce((a, x) => a + x.commands, 0) / s.length,
  ];
  console.log(
    `join latency: ${samples.get.length} interleaved iterations, ${NODES} nodes in ${REGIONS.length} regions, loopback`,
  );
  printTable(
    ["request", "n", "p50 ms", "p99 ms", "Redis round trips", "Redis commands"],
    [
      row("bare GET (same client)", samples.get),
      row("join, new room", samples.joinNew),
      row("join, existing room", samples.joinExisting),
    ],
  );
  const p50 = (s: Sample[]) =>
    percentile(
      s.map((x) => x.ms),
      50,
    );
  const ratio = p50(samples.joinNew) / p50(samples.get);
  printRatio(
    "join-latency",
    ratio,
    `join (new room, placement) p50 / bare GET p50 through the same Worker + @upstash/redis path; goal ≤ 1.5 and one round trip per join: ${ratio <= 1.5 ? "MET" : "NOT MET"}`,
  );
} finally {
  await mf.dispose();
  io.disconnect();
  await upstashRest.close();
  await redis.stop();
}
