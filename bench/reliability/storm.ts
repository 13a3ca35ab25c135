// Join storm through the real path (Miniflare Worker → Upstash REST stand-in → redis-server) onto
// real media nodes, optionally with node churn (SIGKILL + a fresh node every N s) or a Redis
// crash and restart mid-storm. Every loop is bounded in count and time.
//
// Checks: every join answered (200, or a documented retryable 503 when faults are injected, and
// for a Redis outage only inside the outage window + one report interval for re-registration +
// the registry's warm-up, during which unmapped rooms wait for their hosts to re-claim them); no
// split rooms (a room's answers only change node after that node was killed; in Redis each room is
// in at most one live node's room set and matches its room record); a sample of joins completes
// the signaling `join` on the returned URL and lands on the answered node; no ghost keys once the
// TTL and the sweeper have had their time.
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { ErrorCode } from "#shared/errors.ts";
import { keys } from "#shared/keys.ts";
import { NODE_TTL_MS, REGISTRY_WARMUP_MS, REPORT_INTERVAL_MS } from "#shared/node.ts";
import { SignalClient } from "../../media-node/client/signal-client.ts";
import { ClusterError, startCluster, type LocalCluster } from "../../infra/local/cluster.ts";
import { MediaNodeChild } from "../../infra/local/media-node.ts";
import { seededRng } from "../lib/prng.ts";
import { percentile } from "../lib/report.ts";
import { findGhosts } from "./ghosts.ts";
import { checker, type ScenarioResult } from "./report.ts";

export const REGION = { name: "local", lat: 50.11, lon: 8.68 };
/** 503 codes a client is told to retry (docs/api.md "Status codes"). */
export const RETRYABLE = new Set<string>([ErrorCode.NoNodes, ErrorCode.RedisUnavailable, ErrorCode.RegistryWarming]);
const MAX_IN_FLIGHT = 64;

export interface StormOptions {
  name: string;
  joins: number;
  durationMs: number;
  rooms: number;
  nodes: number;
  /** Every k-th join also connects its WebSocket (plus each room's first join). */
  wsEvery: number;
  churnEveryMs?: number;
  redisOutage?: { atMs: number; forMs: number };
  seed: number;
}

interface JoinRecord {
  i: number;
  room: string;
  start: number;
  end: number;
  status: number;
  code?: string;
  node?: string;
}

export async function runStorm(o: StormOptions): Promise<ScenarioResult> {
  const { check, note, result } = checker(o.name);
  const rng = seededRng(o.seed);
  const cluster = await startCluster({
    regions: [REGION],
    nodes: Array.from({ length: o.nodes }, (_, i) => ({ nodeId: `${o.name}-n${i}`, region: REGION.name })),
  });
  const live = new Map<string, MediaNodeChild>(cluster.nodes.map((n) => [n.nodeId, n]));
  const extra: MediaNodeChild[] = [];
  const killedAt = new Map<string, number>();
  const records: JoinRecord[] = [];
  const clients: SignalClient[] = [];
  const ws = { tried: 0, ok: 0, wrongNode: 0, refusedByKilledNode: 0, failed: [] as string[] };
  const outage = { down: NaN, up: NaN };
  const redis = new Redis(cluster.redisUrl, { maxRetriesPerRequest: 1, lazyConnect: true });
  redis.on("error", () => undefined); // the outage scenario kills Redis on purpose

  const t0 = Date.now();
  const deadline = t0 + o.durationMs + 30_000;
  const faults: Promise<void>[] = [];

  if (o.churnEveryMs) {
    faults.push(
      (async () => {
        for (let k = 0; Date.now() + o.churnEveryMs! < t0 + o.durationMs; k++) {
          await sleep(o.churnEveryMs!);
          const victim = [...live.values()][k % live.size]!;
          victim.signal("SIGKILL");
          killedAt.set(victim.nodeId, Date.now());
          live.delete(victim.nodeId);
          await victim.exited;
          const fresh = await MediaNodeChild.start({
            apiKey: cluster.apiKey,
            apiSecret: cluster.apiSecret,
            nodeId: `${o.name}-r${k}`,
            region: REGION.name,
            redisUrl: cluster.redisUrl,
          });
          extra.push(fresh);
          live.set(fresh.nodeId, fresh);
        }
      })(),
    );
  }
  if (o.redisOutage && cluster.redis) {
    const server = cluster.redis;
    faults.push(
      (async () => {
        await sleep(o.redisOutage!.atMs);
        outage.down = Date.now();
        await server.stop();
        await sleep(o.redisOutage!.forMs);
        await server.restart();
        outage.up = Date.now();
      })(),
    );
  }

  const firstOfRoom = new Set<string>();
  let inFlight = 0;
  const pending: Promise<void>[] = [];
  for (let i = 0; i < o.joins && Date.now() < deadline; i++) {
    const due = t0 + (i * o.durationMs) / o.joins;
    if (due > Date.now()) await sleep(due - Date.now());
    while (inFlight >= MAX_IN_FLIGHT && Date.now() < deadline) await sleep(5);
    const room = `${o.name}-room-${Math.floor(rng() * o.rooms)}`;
    const sample = !firstOfRoom.has(room) || i % o.wsEvery === 0;
    firstOfRoom.add(room);
    inFlight++;
    pending.push(
      (async () => {
        const rec: JoinRecord = { i, room, start: Date.now(), end: 0, status: 0 };
        try {
          const r = await cluster.join({ room, identity: `user-${i}` });
          rec.status = 200;
          rec.node = r.node;
          rec.end = Date.now();
          if (sample) await connect(r.url, r.token, r.node);
        } catch (e) {
          rec.end = rec.end || Date.now();
          if (e instanceof ClusterError) {
            rec.status = e.status;
            rec.code = (e.body as { error?: { code?: string } })?.error?.code ?? "?";
          } else {
            rec.status = -1;
            rec.code = (e as Error).message.slice(0, 80);
          }
        } finally {
          records.push(rec);
          inFlight--;
        }
      })(),
    );
  }

  async function connect(url: string, token: string, node: string): Promise<void> {
    ws.tried++;
    try {
      const c = await SignalClient.open(url, token);
      clients.push(c);
      const joined = await c.request("join", {}, 10_000);
      if (joined.node.id === node) ws.ok++;
      else ws.wrongNode++;
    } catch (e) {
      const killed = killedAt.get(node);
      // A placement answered just before its node was SIGKILLed (or while its record had not
      // expired yet) points at a dead node: the client retries through the control plane.
      if (killed !== undefined && killed <= Date.now()) ws.refusedByKilledNode++;
      else ws.failed.push(`${node}: ${(e as Error).message}`);
    }
  }

  await Promise.all(pending);
  await Promise.all(faults);
  const stormMs = Date.now() - t0;

  // ---- checks ----
  const ok = records.filter((r) => r.status === 200);
  const failed = records.filter((r) => r.status !== 200);
  const faulty = o.churnEveryMs !== undefined || o.redisOutage !== undefined;
  const notRetryable = failed.filter((r) => r.status !== 503 || !RETRYABLE.has(r.code ?? ""));
  check(
    "every join scheduled and answered",
    records.length === o.joins,
    `${records.length}/${o.joins} joins in ${(stormMs / 1000).toFixed(1)} s`,
  );
  if (!faulty) {
    check("0 join errors", failed.length === 0, `${failed.length} errors ${summarize(failed)}`);
  } else {
    check(
      "failed joins all get a documented retryable error",
      notRetryable.length === 0,
      `${failed.length} failed (${summarize(failed)}); not retryable: ${notRetryable.length} ${summarize(notRetryable)}`,
    );
  }
  if (o.redisOutage) {
    // first report after reconnect (≤ one interval + back-off), then the warm-up it starts
    const graceMs = REPORT_INTERVAL_MS + REGISTRY_WARMUP_MS + 1_000;
    const outside = failed.filter((r) => r.end < outage.down || r.start > outage.up + graceMs);
    const rel = (t: number) => `${((t - outage.down) / 1000).toFixed(2)} s`;
    const first = Math.min(...failed.map((r) => r.start));
    const last = Math.max(...failed.map((r) => r.end));
    check(
      "503s only while Redis is down (+ re-registration and the registry warm-up)",
      outside.length === 0,
      `Redis down ${((outage.up - outage.down) / 1000).toFixed(2)} s; 503s from ${failed.length ? rel(first) : "-"} to ${failed.length ? rel(last) : "-"} after it went down; ${outside.length} outside [down, up + ${graceMs} ms]`,
    );
  }

  check(
    "0 split rooms in the join answers",
    splits(ok, killedAt).length === 0,
    `${splits(ok, killedAt).length} unexplained node changes ${splits(ok, killedAt).slice(0, 3).join("; ")}`,
  );
  check(
    "sampled WebSockets join on the answered node",
    ws.failed.length === 0 && ws.wrongNode === 0 && ws.ok > 0,
    `${ws.ok}/${ws.tried} joined; ${ws.wrongNode} on another node; ${ws.refusedByKilledNode} pointed at a node killed meanwhile (retryable); ${ws.failed.length} failed ${ws.failed.slice(0, 2).join("; ")}`,
  );
  const lat = ok.map((r) => r.end - r.start);
  note(`join latency under the storm: p50 ${percentile(lat, 50)} ms, p99 ${percentile(lat, 99)} ms (${ok.length} ok)`);

  await redis.connect().catch(() => undefined);
  for (const c of clients) c.close();
  if (faulty) await sleep(NODE_TTL_MS + 2 * REPORT_INTERVAL_MS); // TTLs run out; sweeps run on the next reports
  const alive = new Set([...live.keys()]);
  const redisSplits = await redisSplitRooms(redis, alive);
  check(
    "0 split rooms in Redis",
    redisSplits.length === 0,
    `${redisSplits.length} ${redisSplits.slice(0, 3).join("; ")}`,
  );
  const ghosts = await findGhosts(redis, alive);
  check(
    "0 ghost keys",
    ghosts.length === 0,
    `${ghosts.length} ${ghosts.slice(0, 4).join("; ")}${ghosts.length > 4 ? " …" : ""}`,
  );
  const registered = await redis.zrange(keys.nodes(), 0, -1);
  check(
    "every live node registered",
    [...alive].every((id) => registered.includes(id)),
    `live ${[...alive].join(",")}; registered ${registered.join(",")}`,
  );

  redis.disconnect();
  await Promise.all(extra.map((n) => n.stop()));
  await cluster.stop();
  return result();
}

function summarize(rs: readonly JoinRecord[]): string {
  const by = new Map<string, number>();
  for (const r of rs) by.set(`${r.status} ${r.code}`, (by.get(`${r.status} ${r.code}`) ?? 0) + 1);
  return by.size === 0 ? "" : `[${[...by].map(([k, n]) => `${k}×${n}`).join(", ")}]`;
}

/** Node changes of a room's answers that no kill explains. */
function splits(ok: readonly JoinRecord[], killedAt: ReadonlyMap<string, number>): string[] {
  const byRoom = new Map<string, JoinRecord[]>();
  for (const r of ok) byRoom.set(r.room, [...(byRoom.get(r.room) ?? []), r]);
  const out: string[] = [];
  for (const [room, rs] of byRoom) {
    rs.sort((a, b) => a.end - b.end);
    for (let k = 1; k < rs.length; k++) {
      const prev = rs[k - 1]!;
      const cur = rs[k]!;
      if (prev.node === cur.node) continue;
      const killed = killedAt.get(prev.node!);
      if (killed === undefined || killed > cur.end) out.push(`${room}: ${prev.node} → ${cur.node} at join ${cur.i}`);
    }
  }
  return out;
}

/** Rooms listed by more than one live node, or whose record names another node. */
export async function redisSplitRooms(redis: Redis, alive: ReadonlySet<string>): Promise<string[]> {
  const owner = new Map<string, string>();
  const out: string[] = [];
  for (const id of alive) {
    for (const room of await redis.smembers(keys.nodeRooms(id))) {
      const other = owner.get(room);
      if (other) out.push(`${room} on ${other} and ${id}`);
      owner.set(room, id);
      const recorded = await redis.hget(keys.room(room), "node");
      if (recorded !== null && recorded !== id) out.push(`${room}: record says ${recorded}, ${id} lists it`);
    }
  }
  return out;
}

export type { LocalCluster };
