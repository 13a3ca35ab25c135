// The distributed system of the issue in one test run: the real control-plane Worker (Miniflare)
// behind the Upstash REST bridge, a real redis-server, and three real media-node processes in two
// regions on loopback: one in us-west-2, two in us-east. Clients join the way a browser app does
// (POST /v1/join with request.cf coordinates) and get a media token plus the wss URL of their
// signal node.
import type { Redis } from "ioredis";
import { expect } from "vitest";
import { keys } from "../../shared/keys.ts";
import { MediaNodeProcess, waitFor } from "../support/media-node.ts";
import { startWorker, type WorkerHarness } from "../support/worker.ts";

// us-west-2 is Oregon (Boardman), us-east Virginia (Ashburn): the seed's example coordinates.
export const REGIONS = [
  { name: "us-west-2", lat: 45.84, lon: -119.7 },
  { name: "us-east", lat: 39.04, lon: -77.49 },
];
export const PORTLAND = { latitude: "45.52", longitude: "-122.68" };
export const WASHINGTON = { latitude: "38.9", longitude: "-77.04" };
export type Where = typeof PORTLAND;

/** Distinctive ids: a Redis dump can be searched for them without false hits. */
export const WEST = "node-west-a";
export const EAST_A = "node-east-a";
export const EAST_B = "node-east-b";

export interface JoinResult {
  room: string;
  identity: string;
  token: string;
  url: string;
  node: string;
  region: string;
  placement: "existing" | "created" | "replaced";
}

export interface Cluster {
  h: WorkerHarness;
  nodes: Map<string, MediaNodeProcess>;
  node(id: string): MediaNodeProcess;
  /** POST /v1/join as `identity` from `where`; throws unless 200. */
  join(identity: string, room: string, where: Where): Promise<JoinResult>;
  /** The last log lines of every node, for failure messages. */
  logs(lines?: number): string;
  stop(): Promise<void>;
}

export async function startCluster(nodeEnv: Record<string, string> = {}): Promise<Cluster> {
  const h = await startWorker({
    NODE_SELECTOR: JSON.stringify({ kind: "regionaware", sort_by: "sysload", algorithm: "lowest", sysload_limit: 0.7, regions: REGIONS }),
    DEFAULT_REGION: "us-east",
  });
  const nodes = new Map<string, MediaNodeProcess>();
  const c: Cluster = {
    h,
    nodes,
    node(id) {
      const n = nodes.get(id);
      if (!n) throw new Error(`no node ${id}`);
      return n;
    },
    async join(identity, room, where) {
      const token = await h.token({ roomJoin: true, room }, { identity });
      const r = await h.post("/v1/join", {}, token, where);
      if (r.status !== 200) throw new Error(`join ${identity}@${room}: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body as JoinResult;
    },
    logs(lines = 15) {
      return [...nodes.values()].map((n) => `--- ${n.nodeId}:\n${n.logs.slice(-lines).join("\n")}`).join("\n");
    },
    async stop() {
      await Promise.all([...nodes.values()].map((n) => n.stop()));
      await h.close();
    },
  };
  try {
    const env = { API_KEYS: `${h.apiKey}:${h.apiSecret}`, ...nodeEnv };
    const started = await Promise.all(
      [
        [WEST, "us-west-2"],
        [EAST_A, "us-east"],
        [EAST_B, "us-east"],
      ].map(([nodeId, region]) => MediaNodeProcess.start({ nodeId, region, redisUrl: h.redis.url, env })),
    );
    for (const n of started) nodes.set(n.nodeId, n);
    await waitFor(() => h.ioredis.zcard(keys.nodes()), (n) => n === 3, "three nodes registered");
  } catch (e) {
    await c.stop();
    throw e;
  }
  return c;
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
  return [...dump].filter(([k, v]) => k.includes(text) || v.includes(text)).map(([k, v]) => `${k} = ${v.slice(0, 200)}`);
}

/** A gauge/counter value from a node's /metrics. */
export async function metric(node: MediaNodeProcess, name: string): Promise<number> {
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
