// Hostile clients against a real local cluster (issue 12): while real participants keep pinging,
// every node gets sockets that flood 1-byte frames without ever reading (before and after
// joining), slow readers that send valid requests as fast as they can and never read an answer,
// and the node bus gets forged messages from someone holding the Redis credential (room.delete of
// every room, forged session opens and frames, garbage). Every loop is bounded in count and time.
//
// Checks: every hostile socket is closed by the node; every real participant stays joined and
// answered; forged bus messages change nothing and are counted; /metrics answers throughout; each
// node's peak RSS stays bounded (printed); 0 split rooms and 0 ghost keys afterwards.
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { keys } from "#shared/keys.ts";
import { NODE_TTL_MS, REPORT_INTERVAL_MS } from "#shared/node.ts";
import { PROTOCOL_VERSION } from "#shared/protocol.ts";
import { SignalClient } from "../../media-node/client/signal-client.ts";
import { startCluster } from "../../infra/local/cluster.ts";
import { DeafSocket, clientFrame, rssOf, rssSampler } from "../../infra/local/hostile-client.ts";
import type { MediaNodeChild } from "../../infra/local/media-node.ts";
import { findGhosts } from "./ghosts.ts";
import { checker, pool, type ScenarioResult } from "./report.ts";
import { REGION, redisSplitRooms } from "./storm.ts";

export interface HostileOptions {
  nodes: number;
  /** Rooms with two real participants each. */
  rooms: number;
  /** Hostile sockets of each kind per node. */
  perNode: number;
  durationMs: number;
  /** Peak RSS a node may add over its size before the attack. */
  rssBoundBytes: number;
}

const MiB = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MiB`;

export async function runHostile(o: HostileOptions): Promise<ScenarioResult> {
  const { check, note, result } = checker("hostile");
  const cluster = await startCluster({
    regions: [REGION],
    nodes: Array.from({ length: o.nodes }, (_, i) => ({ nodeId: `hostile-n${i}`, region: REGION.name })),
  });
  const redis = new Redis(cluster.redisUrl, { maxRetriesPerRequest: 1 });
  const attacker = new Redis(cluster.redisUrl, { maxRetriesPerRequest: 1 });
  const participants: { room: string; node: string; client: SignalClient; closed: boolean }[] = [];
  try {
    // ---- real participants ----
    for (let r = 0; r < o.rooms; r++) {
      for (const who of ["a", "b"]) {
        const j = await cluster.join({ room: `hostile-room-${r}`, identity: `${who}-${r}` });
        const client = await SignalClient.open(j.url, j.token);
        await client.request("join", {}, 15_000);
        const p = { room: j.room, node: j.node, client, closed: false };
        void client.closed.then(() => (p.closed = true));
        participants.push(p);
      }
    }
    const before = new Map<string, number>();
    for (const n of cluster.nodes) before.set(n.nodeId, await rssOf(n.pid!));
    const samplers = cluster.nodes.map((n) => ({ node: n, sampler: rssSampler(n.pid!, 100) }));

    // ---- the attack, bounded by durationMs ----
    const deadline = Date.now() + o.durationMs;
    const hostile: { kind: string; node: string; sock: DeafSocket }[] = [];
    /** Upgrades a flooded node did not answer in time (the old code's fate: a node too busy to accept). */
    const refused: string[] = [];
    const attacks: Promise<unknown>[] = [];
    const attack = (node: string, run: () => Promise<void>) =>
      attacks.push(run().catch((e: unknown) => void refused.push(`${node}: ${(e as Error).message}`)));
    for (const n of cluster.nodes) {
      for (let i = 0; i < o.perNode; i++) {
        attack(n.nodeId, async () => {
          const pre = await DeafSocket.open(n.signalUrl);
          hostile.push({ kind: "unauthenticated flood", node: n.nodeId, sock: pre });
          await pre.flood(clientFrame("x"), deadline - Date.now());
        });
        attack(n.nodeId, async () => {
          const t = await n.token(`flooder-${i}`, `flood-room-${n.nodeId}-${i}`);
          const joined = await DeafSocket.open(`${n.signalUrl}?access_token=${t}`);
          hostile.push({ kind: "joined flood", node: n.nodeId, sock: joined });
          joined.send(clientFrame(JSON.stringify({ v: PROTOCOL_VERSION, id: 1, method: "join", data: {} })));
          await joined.flood(clientFrame("x"), deadline - Date.now());
        });
        attack(n.nodeId, async () => {
          const t = await n.token(`reader-${i}`, `flood-room-${n.nodeId}-${i}`);
          const slow = await DeafSocket.open(`${n.signalUrl}?access_token=${t}`);
          hostile.push({ kind: "slow reader", node: n.nodeId, sock: slow });
          slow.send(clientFrame(JSON.stringify({ v: PROTOCOL_VERSION, id: 1, method: "join", data: {} })));
          await sleep(500); // joined by then (it never reads the answer)
          await slow.flood(
            clientFrame(JSON.stringify({ v: PROTOCOL_VERSION, id: 2, method: "ping", data: {} })),
            deadline - Date.now(),
          );
        });
      }
    }
    // Forged bus traffic, all through the whole attack.
    let forged = 0;
    attacks.push(
      (async () => {
        while (Date.now() < deadline) {
          for (const n of cluster.nodes) {
            const bus = keys.nodeBus(n.nodeId);
            const claims = {
              iss: cluster.apiKey,
              sub: "intruder",
              exp: Math.floor(Date.now() / 1000) + 600,
              video: { roomJoin: true, room: "hostile-room-0" },
              meridian: { node: n.nodeId, region: REGION.name },
            };
            const messages = [
              ...Array.from({ length: o.rooms }, (_, r) =>
                JSON.stringify({ type: "room.delete", room: `hostile-room-${r}` }),
              ),
              JSON.stringify({
                t: "bridge",
                v: 1,
                k: "open",
                s: randomUUID(),
                f: cluster.nodes[0]!.nodeId,
                r: "s",
                init: { assertion: JSON.stringify({ v: 1, claims }) },
              }),
              JSON.stringify({
                t: "bridge",
                v: 1,
                k: "data",
                s: randomUUID(),
                f: cluster.nodes[0]!.nodeId,
                r: "s",
                q: 1,
                a: 0,
                m: ['{"v":1,"id":1,"method":"leave","data":{}}'],
              }),
              `["mb1","${cluster.apiKey}","control-plane",${Date.now()},"AAAAAAAAAAAAAAAAAAAA","${"A".repeat(43)}"]\n{"type":"room.delete","room":"hostile-room-0"}`,
              "x".repeat(1000),
            ];
            for (const m of messages) {
              await attacker.publish(bus, m);
              forged++;
            }
          }
          await sleep(50);
        }
      })(),
    );
    // Real participants and /metrics, through the attack.
    const pings = { sent: 0, answered: 0, failed: [] as string[] };
    const scrapes = { tried: 0, ok: 0 };
    attacks.push(
      (async () => {
        while (Date.now() < deadline) {
          await pool(participants, 8, async (p) => {
            pings.sent++;
            try {
              await p.client.request("ping", {}, 10_000);
              pings.answered++;
            } catch (e) {
              if (pings.failed.length < 5) pings.failed.push(`${p.room}@${p.node}: ${(e as Error).message}`);
            }
          });
          for (const n of cluster.nodes) {
            scrapes.tried++;
            const r = await fetch(`${n.httpUrl}/metrics`, { signal: AbortSignal.timeout(5_000) }).catch(
              () => undefined,
            );
            if (r?.ok) scrapes.ok++;
            await r?.text();
          }
          await sleep(200);
        }
      })(),
    );
    await Promise.all(attacks);
    const stillOpen = [];
    for (const h of hostile) if (!(await h.sock.waitClosed(2_000))) stillOpen.push(`${h.kind}@${h.node}`);
    for (const h of hostile) h.sock.destroy();
    const peaks = await Promise.all(samplers.map(async ({ node, sampler }) => ({ node, peak: await sampler.stop() })));

    // ---- checks ----
    const byKind = (k: string) => hostile.filter((h) => h.kind === k).length;
    check(
      "every hostile socket closed by the node",
      stillOpen.length === 0 && refused.length === 0 && hostile.length === 3 * o.perNode * o.nodes,
      `${refused.length} upgrades not answered ${refused.slice(0, 2).join("; ")}; ${hostile.length - stillOpen.length}/${hostile.length} closed (${byKind("unauthenticated flood")} unauthenticated floods, ${byKind("joined flood")} joined floods, ${byKind("slow reader")} slow readers); still open: ${stillOpen.slice(0, 3).join(", ") || "none"}`,
    );
    check(
      "real participants answered and still joined",
      pings.answered === pings.sent && pings.sent > 0 && participants.every((p) => !p.closed),
      `${pings.answered}/${pings.sent} pings answered; ${participants.filter((p) => p.closed).length}/${participants.length} closed ${pings.failed.slice(0, 2).join("; ")}`,
    );
    check(
      "/metrics answered during the attack",
      scrapes.ok === scrapes.tried && scrapes.tried > 0,
      `${scrapes.ok}/${scrapes.tried} scrapes`,
    );
    const growth = peaks.map(({ node, peak }) => ({ node, peak, growth: peak - (before.get(node.nodeId) ?? 0) }));
    check(
      "memory bounded",
      growth.every((g) => g.growth < o.rssBoundBytes),
      `peak RSS ${growth.map((g) => `${g.node.nodeId} ${MiB(g.peak)} (+${MiB(g.growth)})`).join(", ")}; bound +${MiB(o.rssBoundBytes)}`,
    );
    note(`peak RSS of the nodes: ${growth.map((g) => `${g.node.nodeId} ${MiB(g.peak)}`).join(", ")}`);

    const rejected = await Promise.all(cluster.nodes.map((n) => rejectedOf(n)));
    const rooms = await Promise.all(
      Array.from({ length: o.rooms }, (_, r) => redis.hget(keys.room(`hostile-room-${r}`), "node")),
    );
    check(
      "forged bus messages change nothing and are counted",
      rooms.every((n) => n !== null) && rejected.reduce((a, b) => a + b, 0) >= forged,
      `${forged} forged messages, ${rejected.reduce((a, b) => a + b, 0)} rejected by the nodes; ${rooms.filter((n) => n !== null).length}/${o.rooms} rooms still mapped`,
    );
    const closes = await Promise.all(cluster.nodes.map((n) => closesOf(n)));
    note(`signaling closes by reason (all nodes): ${JSON.stringify(sumRecords(closes))}`);

    for (const p of participants) p.client.close();
    await sleep(NODE_TTL_MS + REPORT_INTERVAL_MS);
    const alive = new Set(cluster.nodes.map((n) => n.nodeId));
    const splits = await redisSplitRooms(redis, alive);
    check("0 split rooms", splits.length === 0, `${splits.length} ${splits.slice(0, 3).join("; ")}`);
    const ghosts = await findGhosts(redis, alive);
    check("0 ghost keys", ghosts.length === 0, `${ghosts.length} ${ghosts.slice(0, 4).join("; ")}`);
    check(
      "every node still running",
      cluster.nodes.every((n) => n.running),
      cluster.nodes.map((n) => `${n.nodeId} ${n.running ? "up" : "DOWN"}`).join(", "),
    );
  } finally {
    for (const p of participants) p.client.close();
    redis.disconnect();
    attacker.disconnect();
    await cluster.stop();
  }
  return result();
}

/** The node's /metrics text; "" when it does not answer in 5 s (then its counters read as 0). */
async function scrape(n: MediaNodeChild): Promise<string> {
  try {
    return await (await fetch(`${n.httpUrl}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
  } catch {
    return "";
  }
}

async function rejectedOf(n: MediaNodeChild): Promise<number> {
  let sum = 0;
  for (const m of (await scrape(n)).matchAll(/^meridian_bus_messages_rejected\{reason="[a-z_]+"\} (\d+)$/gm))
    sum += Number(m[1]);
  return sum;
}

async function closesOf(n: MediaNodeChild): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const m of (await scrape(n)).matchAll(/^meridian_signal_closes_total\{reason="([a-z_]+)"\} (\d+)$/gm))
    out[m[1]!] = Number(m[2]);
  return out;
}

function sumRecords(rs: Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of rs) for (const [k, v] of Object.entries(r)) out[k] = (out[k] ?? 0) + v;
  return out;
}
