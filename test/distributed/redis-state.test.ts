// What Redis holds for rooms, end to end (redis-server, the Upstash REST stand-in, the Worker in
// Miniflare, two media nodes as processes, signaling clients over WebSockets):
// 1. a room whose name spells another room's key ("X:participants") touches only its own keys:
//    room X keeps its participants while the other room is joined, listed and deleted;
// 2. room settings survive Redis losing them: after FLUSHALL the host writes them back, and when
//    the host then dies the room re-opens on the other node with its participant limit.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keys } from "#shared/keys.ts";
import { REGISTRY_WARMUP_MS, REPORT_INTERVAL_MS } from "#shared/node.ts";
import { SignalClient } from "../../media-node/client/signal-client.ts";
import { ClusterError, startCluster, type LocalCluster } from "../../infra/local/cluster.ts";
import { mediasoupWorkerAvailable } from "../../infra/local/media-node.ts";
import { waitFor } from "../support/media-node.ts";

const REGION = { name: "local", lat: 50.11, lon: 8.68 };
let c: LocalCluster;
let admin: string;
const clients: SignalClient[] = [];

beforeAll(async () => {
  c = await startCluster({
    regions: [REGION],
    nodes: ["state-a", "state-b"].map((nodeId) => ({ nodeId, region: REGION.name })),
  });
  admin = await c.adminToken(600, { roomCreate: true, roomList: true, roomAdmin: true });
}, 90_000);
afterAll(async () => {
  for (const s of clients) s.close();
  await c?.stop();
});

const api = (path: string, init: RequestInit = {}) =>
  c.workerFetch(path, {
    ...init,
    headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
  } as never) as Promise<{ status: number; body: any }>;
const room = (name: string) => `/v1/rooms/${encodeURIComponent(name)}`;

/** Joins through the Worker and completes the signaling join on the answered node. */
async function join(name: string, identity: string): Promise<{ node: string; client: SignalClient }> {
  const r = await c.join({ room: name, identity });
  const client = await SignalClient.open(r.url, r.token);
  clients.push(client);
  const joined = await client.request("join", {}, 10_000);
  return { node: joined.node.id, client };
}

const identities = async (name: string) =>
  ((await api(`${room(name)}/participants`)).body.participants as { identity: string }[]).map((p) => p.identity).sort();

describe.skipIf(!mediasoupWorkerAvailable())("Redis state through the Worker and real nodes", () => {
  it("a room named 'X:participants' never touches room X's keys", { timeout: 60_000 }, async () => {
    await join("X", "alice");
    await join("X:participants", "mallory");
    await join("X:participants", "mallet");
    await waitFor(
      () => identities("X:participants"),
      (ids) => ids.length === 2,
      "both participants of X:participants recorded",
      10_000,
    );
    expect(await identities("X")).toEqual(["alice"]);
    const redis = c.redis!.client();
    try {
      expect(await redis.hkeys(keys.roomParticipants("X"))).toEqual(["alice"]);
      expect(await redis.type(keys.room("X:participants"))).toBe("hash");
    } finally {
      redis.disconnect();
    }
    // Listed as named, each with its own participants.
    const listed = (await api("/v1/rooms")).body.rooms as { name: string; numParticipants: number }[];
    expect(listed.filter((r) => r.name.startsWith("X")).map((r) => [r.name, r.numParticipants])).toEqual([
      ["X", 1],
      ["X:participants", 2],
    ]);
    // Deleting it (the node closes it) leaves X and its participant alone.
    expect((await api(room("X:participants"), { method: "DELETE" })).status).toBe(200);
    await waitFor(
      () => api(room("X:participants")),
      (r) => r.status === 404,
      "X:participants deleted",
      10_000,
    );
    await new Promise((r) => setTimeout(r, REPORT_INTERVAL_MS));
    expect(await identities("X")).toEqual(["alice"]);
    expect((await api(room("X"))).body).toMatchObject({ name: "X", numParticipants: 1 });
  });

  it("room settings come back after FLUSHALL, and a later failover keeps the participant limit", {
    timeout: 90_000,
  }, async () => {
    const created = await api("/v1/rooms", {
      method: "POST",
      body: JSON.stringify({ name: "limited", maxParticipants: 2, emptyTimeout: 120, metadata: "kept" }),
    });
    expect(created.status).toBe(201);
    const before = (await api(room("limited"))).body;
    const host = (await join("limited", "p1")).node;
    const redis = c.redis!.client();
    try {
      await redis.flushall();
      // The host re-registers and re-syncs what it holds: the room with its settings.
      const back = await waitFor(
        () => api(room("limited")),
        (r) => r.status === 200,
        "room re-synced",
        15_000,
      );
      expect(back.body).toMatchObject({
        name: "limited",
        node: host,
        maxParticipants: 2,
        emptyTimeout: 120,
        metadata: "kept",
        createdAt: before.createdAt,
      });

      // The host dies after the warm-up; the next join re-places the room on the other node, which
      // reads the limit from Redis. (Right after the other node's report, so its sweep, which
      // would drop the dead host's room altogether, cannot run first.)
      await waitFor(
        () => redis.exists(keys.registryWarming()),
        (n) => n === 0,
        "warm-up over",
        REGISTRY_WARMUP_MS * 2,
      );
      const other = c.nodes.find((n) => n.nodeId !== host)!.nodeId;
      c.node(host).signal("SIGKILL");
      await c.node(host).exited;
      for (let ttl = await redis.pttl(keys.node(other)), i = 0; i < 1_000; i++) {
        const now = await redis.pttl(keys.node(other));
        if (now > ttl) break; // its record was just rewritten: a report (and its sweep) just ran
        ttl = now;
        await new Promise((r) => setTimeout(r, 5));
      }
      await redis.del(keys.node(host)); // what its TTL does
      const p2 = await join("limited", "p2");
      expect(p2.node).toBe(other);
      await join("limited", "p3");
      const third = await join("limited", "p4").then(
        () => "joined",
        (e: Error) => (e instanceof ClusterError ? `${e.status} ${JSON.stringify(e.body)}` : e.message),
      );
      expect(third).toMatch(/full/);
    } finally {
      redis.disconnect();
    }
  });
});
