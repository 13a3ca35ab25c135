// The distributed system of the issue in one test run: infra/local's cluster (the real
// control-plane Worker under Miniflare behind the Upstash REST stand-in, a real redis-server, real
// media-node processes) laid out as the tests need it: three nodes in two regions on loopback, one
// in us-west-2 and two in us-east, with ids the tests can name. Clients join the way a browser app
// does (POST /v1/join from a location) and get a media token plus the wss URL of their signal node.
import type { Redis } from "ioredis";
import { expect } from "vitest";
import type { Region } from "#shared/config.ts";
import { keys } from "#shared/keys.ts";
import { readParticipantRecord, type ParticipantRecord } from "#shared/records.ts";
import { startCluster, type ClusterOptions, type LocalCluster } from "../../infra/local/cluster.ts";
import type { MediaNodeChild } from "../../infra/local/media-node.ts";
import type { RedisServer } from "../../infra/local/redis-server.ts";

// us-west-2 is Oregon (Boardman), us-east Virginia (Ashburn): the seed's example coordinates.
export const REGIONS: Region[] = [
  { name: "us-west-2", lat: 45.84, lon: -119.7 },
  { name: "us-east", lat: 39.04, lon: -77.49 },
];
export const PORTLAND = { lat: 45.52, lon: -122.68 };
export const WASHINGTON = { lat: 38.9, lon: -77.04 };
export type Where = typeof PORTLAND;

/** Distinctive ids: a Redis dump can be searched for them without false hits. */
export const WEST = "node-west-a";
export const EAST_A = "node-east-a";
export const EAST_B = "node-east-b";

/** The cluster with its own redis-server (fault tests stop and restart it) and a client of it. */
export interface Cluster extends LocalCluster {
  readonly redis: RedisServer;
  /** Survives a Redis restart (reconnects); errors while Redis is down are swallowed. */
  readonly ioredis: Redis;
}

export async function startDistributedCluster(
  nodeEnv: Record<string, string> = {},
  o: Pick<ClusterOptions, "cascade"> = {},
): Promise<Cluster> {
  const cluster = await startCluster({
    ...o,
    regions: REGIONS,
    defaultRegion: "us-east",
    selector: { sysload_limit: 0.7 },
    nodes: [
      { nodeId: WEST, region: "us-west-2", env: nodeEnv },
      { nodeId: EAST_A, region: "us-east", env: nodeEnv },
      { nodeId: EAST_B, region: "us-east", env: nodeEnv },
    ],
  });
  const redis = cluster.redis!; // no redisUrl given: the cluster started its own
  const ioredis = redis.client();
  ioredis.on("error", () => undefined); // the outage test stops Redis on purpose
  return {
    ...cluster,
    redis,
    ioredis,
    async stop() {
      ioredis.disconnect();
      await cluster.stop();
    },
  };
}

/** Every key in Redis with everything it holds, as text (SCAN; fine for a test-sized keyspace). */
export async function dumpRedis(r: Redis): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let cursor = "0";
  do {
    const [next, found] = await r.scan(cursor, "COUNT", 500);
    cursor = next;
    for (const key of found) {
      const type = await r.type(key);
      const content =
        type === "string"
          ? await r.get(key)
          : type === "hash"
            ? JSON.stringify(await r.hgetall(key))
            : type === "set"
              ? JSON.stringify(await r.smembers(key))
              : type === "zset"
                ? JSON.stringify(await r.zrange(key, 0, -1))
                : type;
      out.set(key, content ?? "");
    }
  } while (cursor !== "0");
  return out;
}

/** Keys that name `text` or hold it (members, fields, participant records), as "key = content". */
export async function dumpRedisWith(r: Redis, text: string): Promise<string[]> {
  const dump = await dumpRedis(r);
  return [...dump]
    .filter(([k, v]) => k.includes(text) || v.includes(text))
    .map(([k, v]) => `${k} = ${v.slice(0, 200)}`);
}

/** The room's participant records in Redis, by identity. */
export async function participantsOf(r: Redis, room: string): Promise<Record<string, ParticipantRecord>> {
  const raw = await r.hgetall(keys.roomParticipants(room));
  return Object.fromEntries(
    Object.entries(raw).map(([k, v]) => {
      const record = readParticipantRecord(v);
      if (!record) throw new Error(`participant ${k} of ${room}: not a participant record: ${v.slice(0, 200)}`);
      return [k, record];
    }),
  );
}

/** A gauge/counter value from a node's /metrics. */
export async function metric(node: MediaNodeChild, name: string): Promise<number> {
  const text = await (await fetch(`${node.httpUrl}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.split(" ").pop()) : NaN;
}

/** The node processes answer /healthz (alive and serving HTTP). */
export async function expectHealthy(c: Cluster, ...ids: string[]): Promise<void> {
  for (const id of ids) {
    const r = await fetch(`${c.node(id).httpUrl}/healthz`);
    expect(r.status, `${id} /healthz`).toBe(200);
  }
}
