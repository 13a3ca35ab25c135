// Ghost detection: every Redis key or sorted-set member that names a node which is not running.
// The layout is shared/keys.ts; anything it adds later that names nodes should be added here.
import type { Redis } from "ioredis";
import { KEY_PREFIX, decodeKeyPart, keys } from "#shared/keys.ts";

// Key parts are encoded (keys.ts encodeKeyPart): they never contain ":".
const NODE_KEY = new RegExp(`^${KEY_PREFIX}node:([^:]+)(?::(rooms|reserved|reservation|writes))?$`);
const ROOM_KEY = new RegExp(`^${KEY_PREFIX}room:([^:]+)(:participants)?$`);

async function scanAll(redis: Redis): Promise<string[]> {
  const out: string[] = [];
  let cursor = "0";
  for (let i = 0; i < 10_000; i++) {
    const [next, batch] = await redis.scan(cursor, "MATCH", `${KEY_PREFIX}*`, "COUNT", 1000);
    out.push(...batch);
    cursor = next;
    if (cursor === "0") break;
  }
  return out;
}

/** Descriptions of every ghost ("<key> → <dead node>"). */
export async function findGhosts(redis: Redis, alive: ReadonlySet<string>): Promise<string[]> {
  const ghosts: string[] = [];
  const dead = (id: string | null | undefined) => typeof id === "string" && id !== "" && !alive.has(id);
  for (const key of await scanAll(redis)) {
    const type = await redis.type(key);
    const node = NODE_KEY.exec(key);
    if (node) {
      if (dead(decodeKeyPart(node[1]!))) ghosts.push(`${key}`);
      continue;
    }
    if (
      type === "zset" &&
      (key === keys.nodes() || key.startsWith(`${KEY_PREFIX}sel:`) || key.startsWith(`${KEY_PREFIX}sweep:`))
    ) {
      for (const m of await redis.zrange(key, 0, -1)) if (dead(m)) ghosts.push(`${key} member ${m}`);
      continue;
    }
    const room = ROOM_KEY.exec(key);
    if (room && type === "hash" && !room[2]) {
      const host = await redis.hget(key, "node");
      if (dead(host)) ghosts.push(`${key} node=${host}`);
    } else if (room && type === "hash") {
      for (const [identity, raw] of Object.entries(await redis.hgetall(key))) {
        let host: string | undefined;
        try {
          host = (JSON.parse(raw) as { signalNode?: string }).signalNode;
        } catch {
          host = undefined;
        }
        if (dead(host)) ghosts.push(`${key} ${identity} node=${host}`);
      }
    }
  }
  return ghosts;
}
