// The simulated fleet the selector-scale bench registers: N nodes in the 3-region world with a
// spread of loads, reported the way nodes report (one report_node script each), fast enough and
// stamped late enough that none is stale by the time placement reads it, even on a busy machine.
import type { Redis } from "ioredis";
import { keys } from "#shared/keys.ts";
import { NODE_TTL_MS, STATS_FRESHNESS_MS } from "#shared/node.ts";
import type { ScriptRunner } from "#shared/redis/runner.ts";
import { reportNode } from "#shared/registry.ts";
import { nodeRecord } from "../placement/meridian-placer.ts";
import { REGIONS, makeNodes } from "../placement/world.ts";
import type { Rng } from "./prng.ts";

/** Reports in flight at once: ioredis pipelines them on its one connection (10k nodes in well
 * under a second instead of one round trip each). */
const IN_FLIGHT = 64;

/** How often registration re-stamps what it has registered so far (well inside the freshness
 * window and the records' TTL). */
const TOUCH_EVERY_MS = 1_000;

/** Marks these nodes as having just reported again, unchanged (what their next report of the same
 * stats would do to what placement reads: the freshness and expiry scores and the record's TTL),
 * in one pipeline instead of one report script per node. Placement's cost does not depend on it;
 * at 10k nodes a loaded machine cannot re-run 10k report scripts inside the freshness window
 * (measured: ~0.5 ms of Redis time each at load 16 on 2 cores). */
export async function touchFleet(redis: Redis, nodes: readonly { id: string; region: string }[], now = Date.now()): Promise<void> {
  const p = redis.pipeline();
  for (const n of nodes) {
    p.zadd(keys.sel(n.region, "updated"), now, n.id);
    p.zadd(keys.sel(n.region, "expiry"), now + NODE_TTL_MS, n.id);
    p.zadd(keys.nodes(), now + NODE_TTL_MS, n.id);
    p.pexpire(keys.node(n.id), NODE_TTL_MS);
  }
  await p.exec();
}

/** Registers `n` nodes through the real report script (roughly 60 % under the default
 * sysload_limit 0.5, so the script filters as well as sorts), `IN_FLIGHT` at a time, re-stamping
 * the ones already registered every second so none goes stale before the last is written (each
 * record also carries the time of its own report, not the start of the run). Returns the nodes. */
export async function registerFleet(runner: ScriptRunner, redis: Redis, n: number, rnd: Rng): Promise<{ id: string; region: string }[]> {
  const specs = makeNodes(n, 16);
  const loads = specs.map(() => rnd() * 0.85);
  const done: { id: string; region: string }[] = [];
  let touchedAt = Date.now();
  let touching: Promise<void> | undefined;
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < specs.length; i = next++) {
      const sysload = loads[i]!;
      const clients = Math.round(sysload * 1500);
      const now = Date.now();
      const record = nodeRecord(specs[i]!, {
        at: 0,
        rooms: Math.round(clients / 7),
        clients,
        tracksIn: 2 * clients,
        tracksOut: 12 * clients,
        loadAvg1: sysload * 16,
        cpuLoad: Math.min(1, sysload * 1.1),
        bytesPerSec: 14 * clients * 60_000,
      });
      record.updatedAt = now;
      await reportNode(runner, record, now);
      done.push({ id: record.id, region: record.region });
      if (!touching && Date.now() - touchedAt > TOUCH_EVERY_MS) {
        touchedAt = Date.now();
        touching = touchFleet(redis, [...done]).finally(() => (touching = undefined));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, specs.length) }, worker));
  await touching;
  return done;
}

/** How many registered nodes a placement would see as fresh right now (selection index). */
export async function freshNodes(redis: Redis): Promise<number> {
  const since = Date.now() - STATS_FRESHNESS_MS;
  let n = 0;
  for (const r of REGIONS) n += await redis.zcount(keys.sel(r.name, "updated"), `(${since}`, "+inf");
  return n;
}
