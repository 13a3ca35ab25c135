// Redis goes back in time under a running cluster: an RDB snapshot is taken, the cluster moves on
// (rooms created, a room moved off a killed node whose id then comes back), and redis-server
// restarts from the old snapshot, as after an RDB restore or a failover to a lagging replica.
// The snapshot's `registry:since` is still there, so only the nodes can tell that Redis lost
// what they wrote (shared/registry.ts report_node: the node's write count).
//
// Checks: joins after the restore get a 200 or a documented retryable 503; every 200 names the
// node that really hosts the room, and a WebSocket joined there meets the participant who has
// been in the room all along (one room, not a second copy); the moved room is never answered on
// its old node; in Redis each room is in exactly one live node's room set; no ghost keys; peak
// RSS of every process bounded.
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { keys } from "#shared/keys.ts";
import { NODE_TTL_MS, REGISTRY_WARMUP_MS, REPORT_INTERVAL_MS } from "#shared/node.ts";
import { SignalClient } from "../../media-node/client/signal-client.ts";
import { ClusterError, startCluster } from "../../infra/local/cluster.ts";
import { MediaNodeChild } from "../../infra/local/media-node.ts";
import { waitFor } from "../../infra/local/wait.ts";
import { findGhosts } from "./ghosts.ts";
import { checker, type ScenarioResult } from "./report.ts";
import { REGION, RETRYABLE, redisSplitRooms } from "./storm.ts";

export interface TimeTravelOptions {
  /** Rooms opened before the snapshot, and after it. */
  rooms: number;
  /** Successful joins per room after the restore, each one checked over a WebSocket. */
  probes: number;
  /** Peak RSS a media node may reach, MiB. */
  maxNodeRssMiB: number;
}

const NAME = "timetravel";

/** Peak resident set (VmHWM) of a running process, MiB; NaN once it is gone. */
function peakRssMiB(pid: number | undefined): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

export async function runTimeTravel(o: TimeTravelOptions): Promise<ScenarioResult> {
  const { check, note, result } = checker(NAME);
  const cluster = await startCluster({
    regions: [REGION],
    nodes: Array.from({ length: 3 }, (_, i) => ({ nodeId: `${NAME}-n${i}`, region: REGION.name })),
  });
  const server = cluster.redis!;
  const nodes = new Map<string, MediaNodeChild>(cluster.nodes.map((n) => [n.nodeId, n]));
  const restarted: MediaNodeChild[] = [];
  const clients: SignalClient[] = [];
  const redis = new Redis(cluster.redisUrl, { maxRetriesPerRequest: 1 });
  redis.on("error", () => undefined); // Redis restarts on purpose
  const peakRss = new Map<string, number>();
  const sampleRss = () => {
    for (const [id, n] of nodes) peakRss.set(id, Math.max(peakRss.get(id) ?? 0, peakRssMiB(n.pid) || 0));
  };

  /** Room → the node its anchor participant is connected to (the room's real host). */
  const hosts = new Map<string, string>();
  const anchor = (room: string) => `anchor-${room}`;
  async function openRoom(room: string): Promise<string> {
    const r = await cluster.join({ room, identity: anchor(room) });
    const c = await SignalClient.open(r.url, r.token);
    clients.push(c);
    const joined = await c.request("join", {}, 10_000);
    hosts.set(room, joined.node.id);
    return joined.node.id;
  }

  try {
    const before = Array.from({ length: o.rooms }, (_, i) => `${NAME}-old-${i}`);
    const after = Array.from({ length: o.rooms }, (_, i) => `${NAME}-new-${i}`);
    for (const room of before) await openRoom(room);
    await sleep(REPORT_INTERVAL_MS + 500); // participants and a report of every node are in Redis
    const snapshot = await server.snapshot();

    // The cluster moves on: new rooms, and one room moves off its node, whose id comes back.
    for (const room of after) await openRoom(room);
    const moved = before[0]!;
    const oldHost = hosts.get(moved)!;
    sampleRss();
    const victim = nodes.get(oldHost)!;
    victim.signal("SIGKILL");
    await victim.exited;
    for (const [room, host] of [...hosts]) if (host === oldHost) hosts.delete(room); // they died with it
    await waitFor(
      () => redis.exists(keys.node(oldHost)),
      (n) => n === 0,
      `${oldHost}'s record expired`,
      NODE_TTL_MS * 4,
    );
    const newHost = await openRoom(moved);
    check(
      "the room moved off the killed node before the restore",
      newHost !== oldHost,
      `${moved}: ${oldHost} → ${newHost}`,
    );
    const back = await MediaNodeChild.start({
      apiKey: cluster.apiKey,
      apiSecret: cluster.apiSecret,
      nodeId: oldHost,
      region: REGION.name,
      redisUrl: cluster.redisUrl,
    });
    restarted.push(back);
    nodes.set(oldHost, back);
    await waitFor(
      () => redis.exists(keys.node(oldHost)),
      (n) => n === 1,
      `${oldHost} registered again`,
      NODE_TTL_MS * 4,
    );
    await sleep(REPORT_INTERVAL_MS);

    // Back in time.
    await server.stop();
    await server.restart(snapshot);
    const restoredAt = Date.now();
    let warmingSeen = false;
    const watch = (async () => {
      while (Date.now() < restoredAt + REPORT_INTERVAL_MS + REGISTRY_WARMUP_MS && !warmingSeen) {
        warmingSeen = (await redis.exists(keys.registryWarming()).catch(() => 0)) === 1;
        await sleep(50);
      }
    })();

    const answers: { room: string; node: string; ms: number }[] = [];
    const refused: string[] = [];
    const retried = new Map<string, number>();
    const wrong: string[] = [];
    const probesOk = { n: 0 };
    const deadline = restoredAt + REPORT_INTERVAL_MS + REGISTRY_WARMUP_MS + 15_000;
    await Promise.all(
      [...hosts.keys()].map(async (room) => {
        for (let k = 0; k < o.probes && Date.now() < deadline; ) {
          const identity = `probe-${room}-${k}`;
          try {
            const r = await cluster.join({ room, identity });
            answers.push({ room, node: r.node, ms: Date.now() - restoredAt });
            const c = await SignalClient.open(r.url, r.token);
            try {
              const joined = await c.request("join", {}, 10_000);
              const met = joined.participants.some((p) => p.identity === anchor(room));
              if (joined.node.id !== hosts.get(room) || !met)
                wrong.push(`${room}: joined on ${joined.node.id} (host ${hosts.get(room)}), met its anchor: ${met}`);
              else probesOk.n++;
            } finally {
              c.close();
            }
            k++;
          } catch (e) {
            const code =
              e instanceof ClusterError
                ? `${e.status} ${(e.body as { error?: { code?: string } })?.error?.code}`
                : (e as Error).message.slice(0, 80);
            if (!(e instanceof ClusterError && e.status === 503 && RETRYABLE.has(code.split(" ")[1] ?? "")))
              refused.push(`${room}: ${code}`);
            else retried.set(code, (retried.get(code) ?? 0) + 1);
            if (e instanceof ClusterError) await sleep(100);
            else k++; // a WebSocket that failed counts as a probe (it is in `refused`)
          }
        }
      }),
    );
    await watch;

    check(
      "joins after the restore: 200 or a documented retryable 503",
      refused.length === 0,
      `${answers.length} answered; retried ${[...retried].map(([c, n]) => `${c}×${n}`).join(", ") || "0"}; not retryable: ${refused.length} ${refused.slice(0, 3).join("; ")}`,
    );
    const misplaced = answers.filter((a) => a.node !== hosts.get(a.room));
    check(
      "0 split rooms in the join answers (every answer names the room's real host)",
      misplaced.length === 0 && answers.length > 0,
      `${misplaced.length}/${answers.length} elsewhere ${misplaced
        .slice(0, 3)
        .map((a) => `${a.room} → ${a.node} at +${a.ms} ms (host ${hosts.get(a.room)})`)
        .join("; ")}`,
    );
    const onOld = answers.filter((a) => a.room === moved && a.node === oldHost);
    check(
      "the moved room is never answered on its old node",
      onOld.length === 0,
      `${onOld.length} answers for ${moved} named ${oldHost}`,
    );
    check(
      "every probe joined the one room (its host, meeting the participant who never left)",
      wrong.length === 0 && probesOk.n === hosts.size * o.probes,
      `${probesOk.n}/${hosts.size * o.probes} ${wrong.slice(0, 3).join("; ")}`,
    );
    const lostWrites = await Promise.all(
      [...nodes.values()].map(async (n) => {
        const text = await (await fetch(`${n.httpUrl}/metrics`)).text();
        return Number(/^meridian_registry_resyncs_total\{reason="redis_lost_writes"\} (\d+)/m.exec(text)?.[1] ?? 0);
      }),
    );
    check(
      "the nodes noticed Redis went back (their write logs; registry warm-up started)",
      warmingSeen && lostWrites.some((n) => n > 0),
      `warm-up seen: ${warmingSeen ? "yes" : "no"}; re-syncs for lost writes per node: ${lostWrites.join(", ")}`,
    );
    note(`first join answer ${answers.length ? Math.min(...answers.map((a) => a.ms)) : "-"} ms after the restore`);

    await sleep(2 * REPORT_INTERVAL_MS); // every node has reported and re-synced
    const alive = new Set(nodes.keys());
    const splits = await redisSplitRooms(redis, alive);
    const recorded = await Promise.all(
      [...hosts].map(async ([room, host]) => [room, host, await redis.hget(keys.room(room), "node")] as const),
    );
    const mismatched = recorded
      .filter(([, host, node]) => node !== host)
      .map(([room, host, node]) => `${room}: record ${node}, host ${host}`);
    check(
      "0 split rooms in Redis (each room in one live node's set, its record naming the host)",
      splits.length + mismatched.length === 0,
      `${splits.length + mismatched.length} ${[...splits, ...mismatched].slice(0, 3).join("; ")}`,
    );
    const ghosts = await findGhosts(redis, alive);
    check("0 ghost keys", ghosts.length === 0, `${ghosts.length} ${ghosts.slice(0, 4).join("; ")}`);
    sampleRss();
    const worst = Math.max(...peakRss.values());
    check(
      `memory bounded: every media node's peak RSS ≤ ${o.maxNodeRssMiB} MiB`,
      worst <= o.maxNodeRssMiB,
      `peak RSS ${[...peakRss].map(([id, mib]) => `${id} ${mib.toFixed(0)}`).join(", ")} MiB; redis ${peakRssMiB(server.pid).toFixed(0)} MiB; this process ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`,
    );
  } finally {
    for (const c of clients) c.close();
    redis.disconnect();
    await Promise.all(restarted.map((n) => n.stop()));
    await cluster.stop();
  }
  return result();
}
