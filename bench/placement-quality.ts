// @bench-smoke
// Benchmark 1 — placement quality. A burst of room creations onto a 3-region fleet whose stats are
// refreshed every 2 s (stale in between), placed by Meridian's selector + reservations and by
// LiveKit's selectors re-implemented as baselines, all on the same seeded workload. Two info rows
// bracket what is possible: an oracle reading live participant counts (no report lag, but blind to
// participants still to come) and a clairvoyant placer that knows every room's final size.
// Meridian runs again with cascade spill-over (issue 9): each participant goes through the real
// join path (placement's signal node, then the cascade rules of cascade_room.lua), so a room whose
// node is at its per-room participant budget can spill to other nodes of the region — once with
// the default `cascade:` settings, once per budget in --spill-budgets.
//
//   node bench/placement-quality.ts [--smoke] [--seed N] [--nodes 100] [--rooms 10000]
//        [--burst-s 60] [--dns-miss 0.03] [--peak-sysload 0.4] [--spill-budgets 20,10]
import { livekitPlacer } from "./placement/livekit-placer.ts";
import { meridianPlacer } from "./placement/meridian-placer.ts";
import { meridianLuaPlacer } from "./placement/meridian-lua-placer.ts";
import { oraclePlacer } from "./placement/oracle-placer.ts";
import { clairvoyantPlacer } from "./placement/clairvoyant-placer.ts";
import { simulate, type Placer } from "./placement/cluster.ts";
import { generateWorkload, type RoomSpec } from "./placement/workload.ts";
import { makeNodes, type NodeSpec } from "./placement/world.ts";
import { benchArgs, mean, percentile, printRatio, printTable } from "./lib/report.ts";
import { seededRng } from "./lib/prng.ts";
import { CascadeConfig } from "#shared/cascade.ts";
import { ioredisRunner } from "#shared/redis/ioredis.ts";
import { TestRedis } from "../test/support/redis.ts";

const args = benchArgs({
  nodes: { type: "string" },
  rooms: { type: "string" },
  "burst-s": { type: "string" },
  "dns-miss": { type: "string", default: "0.03" },
  "peak-sysload": { type: "string", default: "0.4" },
  "spill-budgets": { type: "string" },
});
const num = (v: unknown, full: number, smoke: number) => (v === undefined ? (args.smoke ? smoke : full) : Number(v));
const seed = Number(args.seed);
const NODE_COUNT = num(args.nodes, 100, 12);
const ROOMS = num(args.rooms, 10_000, 600);
const BURST_MS = num(args["burst-s"], 60, 10) * 1000;
const DNS_MISS = Number(args["dns-miss"]);
const PEAK_SYSLOAD = Number(args["peak-sysload"]);
/** participants_per_node values run besides the default cascade settings. */
const SPILL_BUDGETS = String(args["spill-budgets"] ?? (args.smoke ? "10" : "20,10"))
  .split(",")
  .filter((b) => b !== "")
  .map(Number);
if (SPILL_BUDGETS.some((b) => !Number.isInteger(b) || b < 1)) throw new Error("--spill-budgets: positive integers");
const NUM_CPUS = 16;
// Every participant has joined 30 s after its room was created; measure a little after that.
const END_MS = BURST_MS + 40_000;

/** Cores per participant such that the fleet's mean sysload at the peak is PEAK_SYSLOAD. */
function cpuPerClient(rooms: RoomSpec[], nodes: NodeSpec[]): number {
  const at = BURST_MS + 30_000;
  const alive = rooms.filter((r) => r.createdAt + r.lifetimeMs > at).reduce((s, r) => s + r.joinOffsets.length, 0);
  return (PEAK_SYSLOAD * NUM_CPUS * nodes.length) / Math.max(1, alive);
}

type Role = "meridian" | "baseline" | "info" | "spill";

interface Row {
  name: string;
  role: Role;
  maxMean: number;
  p99Mean: number;
  avgMaxMean: number;
  maxLoad: number;
  meanLoad: number;
  outside: number;
  /** % of participants hosted on another node than their room's (spill-over). */
  elsewhere: number;
  roomsSpanning: number;
  placement: Map<string, string>;
}

async function run(placer: Placer, role: Role, rooms: RoomSpec[], nodes: NodeSpec[]): Promise<Row> {
  const res = await simulate(
    {
      nodes,
      rooms,
      cpuPerClient: cpuPerClient(rooms, nodes),
      rng: seededRng(seed + 7),
      sampleEveryMs: 1000,
      endMs: END_MS,
    },
    placer,
  );
  const total = (load: number[]) => load.reduce((s, v) => s + v, 0);
  const peak = res.samples.reduce((a, b) => (total(b.load) > total(a.load) ? b : a));
  const m = mean(peak.load);
  const ratios = res.samples
    .filter((s) => s.at >= BURST_MS * 0.1 && total(s.load) > 0)
    .map((s) => Math.max(...s.load) / mean(s.load));
  const region = new Map(nodes.map((n) => [n.id, n.region]));
  const outside = rooms.filter((r) => region.get(res.placement.get(r.id)!) !== r.closestRegion).length;
  return {
    name: placer.name,
    role,
    maxMean: Math.max(...peak.load) / m,
    p99Mean: percentile(peak.load, 99) / m,
    avgMaxMean: mean(ratios),
    maxLoad: Math.max(...peak.load),
    meanLoad: m,
    outside: (100 * outside) / rooms.length,
    elsewhere: (100 * res.joinsElsewhere) / rooms.reduce((s, r) => s + r.joinOffsets.length, 0),
    roomsSpanning: res.roomsSpanning,
    placement: res.placement,
  };
}

async function main(): Promise<void> {
  const nodes = makeNodes(NODE_COUNT, NUM_CPUS);
  const rooms = generateWorkload({ rooms: ROOMS, burstMs: BURST_MS, seed });
  const rng = (k: number) => seededRng(seed * 1000 + k);
  // LiveKit's defaults (sysload_limit 0.9) with the kind/sort_by/algorithm under test.
  const livekit = (
    name: string,
    kind: "any" | "regionaware",
    sortBy: "rooms" | "random",
    algorithm: "lowest" | "twochoice",
    k: number,
  ) =>
    livekitPlacer({ name, config: { kind, sortBy, algorithm, sysloadLimit: 0.9 }, dnsMissRate: DNS_MISS, rng: rng(k) });
  // The real placement scripts on a real redis-server, fresh database per run.
  const redisServer = await TestRedis.start();
  const redis = redisServer.client();
  const lua = async (name: string, k: number, cascade?: CascadeConfig) => {
    await redis.flushdb();
    return meridianLuaPlacer({ name, config: {}, redis: ioredisRunner(redis), rng: rng(k), cascade });
  };
  const spill = (budget?: number): [() => Promise<Placer>, Role] => {
    const cascade = CascadeConfig.parse({ enabled: true, ...(budget ? { participants_per_node: budget } : {}) });
    const what = budget
      ? `participants_per_node ${budget}`
      : `default cascade: settings (${cascade.participants_per_node})`;
    return [() => lua(`meridian + cascade spill-over, ${what}`, 1, cascade), "spill"];
  };
  const contenders: [() => Placer | Promise<Placer>, Role][] = [
    [() => lua("meridian: Lua placement on redis-server, default config", 1), "meridian"],
    [
      () => meridianPlacer({ name: "meridian: TS selector (cross-check, same config)", config: {}, rng: rng(1) }),
      "info",
    ],
    [
      () =>
        meridianPlacer({
          name: "meridian: TS selector, sort_by=rooms (info)",
          config: { sort_by: "rooms" },
          rng: rng(2),
        }),
      "info",
    ],
    [() => oraclePlacer("oracle: live loads, nearest region (info)"), "info"],
    [() => clairvoyantPlacer("clairvoyant: final room sizes known (info, floor)"), "info"],
    [() => livekit("livekit regionaware+sysload, rooms, lowest", "regionaware", "rooms", "lowest", 3), "baseline"],
    [() => livekit("livekit random (kind any)", "any", "random", "lowest", 4), "baseline"],
    [
      () => livekit("livekit regionaware+sysload, rooms, twochoice", "regionaware", "rooms", "twochoice", 5),
      "baseline",
    ],
    spill(),
    ...SPILL_BUDGETS.map((b) => spill(b)),
  ];

  console.log(
    `placement quality: ${nodes.length} nodes (16 vCPU) in 3 regions, ${rooms.length} rooms over ${BURST_MS / 1000} s, ` +
      `mean room size ${fmtNum(mean(rooms.map((r) => r.joinOffsets.length)))}, stats every 2 s, ` +
      `peak mean sysload ${PEAK_SYSLOAD}, LiveKit DNS miss rate ${DNS_MISS}, seed ${seed}`,
  );
  console.log("load = participants hosted per node, measured at the peak (all rooms joined)\n");
  const rows: Row[] = [];
  try {
    for (const [make, role] of contenders) rows.push(await run(await make(), role, rooms, nodes));
  } finally {
    await redis.quit();
    await redisServer.stop();
  }
  printTable(
    [
      "algorithm",
      "max/mean",
      "p99/mean",
      "avg max/mean",
      "max load",
      "mean load",
      "% outside closest region",
      "% participants off the room's node",
      "rooms spanning nodes",
    ],
    rows.map((r) => [
      r.name,
      r.maxMean,
      r.p99Mean,
      r.avgMaxMean,
      r.maxLoad,
      r.meanLoad,
      r.outside,
      r.elsewhere,
      r.roomsSpanning,
    ]),
  );
  const meridian = rows.find((r) => r.role === "meridian")!;
  const tsTwin = rows[1]!;
  const differ = rooms.filter((r) => meridian.placement.get(r.id) !== tsTwin.placement.get(r.id)).length;
  console.log(`\nLua placement vs TS selector: ${differ} of ${rooms.length} rooms placed differently`);
  const baselines = rows.filter((r) => r.role === "baseline");
  const best = baselines.reduce((a, b) => (b.maxMean < a.maxMean ? b : a));
  const meets = meridian.maxMean <= 1.1 && baselines.every((r) => meridian.maxMean < r.maxMean);
  console.log("");
  printRatio(
    "placement",
    meridian.maxMean / best.maxMean,
    `meridian max/mean ${fmtNum(meridian.maxMean)} vs best baseline ${fmtNum(best.maxMean)} (${best.name}); ` +
      `goal meridian ≤ 1.10 and lower than every baseline: ${meets ? "MET" : "NOT MET"}`,
  );
  for (const r of rows.filter((x) => x.role === "spill")) {
    const budget = /participants_per_node (\d+)/.exec(r.name)?.[1];
    printRatio(
      budget ? `placement-spill-${budget}` : "placement-spill",
      r.maxMean,
      `max/mean load with spill-over (${r.name.replace(/^meridian \+ cascade spill-over, /, "")}) vs ` +
        `${fmtNum(meridian.maxMean)} without, same run; ${fmtNum(r.elsewhere)} % of participants hosted off their room's node, ` +
        `${r.roomsSpanning} rooms spanning nodes; goal ≤ 1.10: ${r.maxMean <= 1.1 ? "MET" : "NOT MET"}`,
    );
  }
}

const fmtNum = (n: number) => n.toFixed(3);

await main();
