// The simulated fleet the selector-scale bench registers: N nodes in the 3-region world with a
// spread of loads, reported the way nodes report (one report_node script each).
//
// The bench measures what one placement costs, not how the registry ages, so the fleet lives on a
// pinned clock: every report and every placement passes the same `now` (the scripts take the
// caller's clock), and the records' TTL is removed once written. A 10k-node fleet then stays
// fresh however long registration and measurement take on a loaded machine (with wall-clock
// stamps, registering 10k nodes took longer than the 4 s freshness window here and every
// placement answered no_nodes).
import type { Redis } from "ioredis";
import { keys } from "#shared/keys.ts";
import { STATS_FRESHNESS_MS } from "#shared/node.ts";
import type { ScriptRunner } from "#shared/redis/runner.ts";
import { reportNode } from "#shared/registry.ts";
import { nodeRecord } from "../placement/meridian-placer.ts";
import { REGIONS, makeNodes } from "../placement/world.ts";
import type { Rng } from "./prng.ts";

/** Reports in flight at once: ioredis pipelines them on its one connection. */
const IN_FLIGHT = 64;

export interface Fleet {
  nodes: { id: string; region: string }[];
  /** The pinned clock: pass it as `now` to every placement. */
  now: number;
}

/** Registers `n` nodes through the real report script (roughly 60 % under the default
 * sysload_limit 0.5, so the script filters as well as sorts), all at the pinned time `now`, each
 * record made permanent (PERSIST) right after its report, so they stay eligible at `now` for as
 * long as the bench runs. */
export async function registerFleet(
  runner: ScriptRunner,
  redis: Redis,
  n: number,
  rnd: Rng,
  now = Date.now(),
): Promise<Fleet> {
  const specs = makeNodes(n, 16);
  const loads = specs.map(() => rnd() * 0.85);
  const nodes: Fleet["nodes"] = [];
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < specs.length; i = next++) {
      const sysload = loads[i]!;
      const clients = Math.round(sysload * 1500);
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
      await redis.persist(keys.node(record.id)); // at once: registration may outlast the TTL
      nodes.push({ id: record.id, region: record.region });
    }
  };
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, specs.length) }, worker));
  return { nodes, now };
}

/** How many registered nodes a placement at `now` sees as eligible: fresh in the selection index
 * and with a record. */
export async function freshNodes(redis: Redis, now: number): Promise<number> {
  const since = now - STATS_FRESHNESS_MS;
  let n = 0;
  for (const r of REGIONS) {
    const ids = await redis.zrangebyscore(keys.sel(r.name, "updated"), `(${since}`, "+inf");
    if (ids.length === 0) continue;
    const p = redis.pipeline();
    for (const id of ids) p.exists(keys.node(id));
    for (const [, e] of (await p.exec()) ?? []) n += Number(e);
  }
  return n;
}
