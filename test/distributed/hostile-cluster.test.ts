// Issue 12, findings 8 and 2, on the distributed cluster (real redis-server, the Worker in
// Miniflare, three media-node processes):
// - 8: someone holding the Redis credential (a raw connection here, as redis-cli would) reads the
//   node bus and publishes on it. Forged `leave` frames, forged notifications, forged `room.delete`
//   and a replayed genuine `room.delete` must change nothing; no token may cross the bus.
// - 2: a hosting node stalls (SIGSTOP) past its registry TTL while its room is re-placed through
//   the Worker; when it resumes, its participants must be moved to the room's new host (the
//   protocol's `reconnect` room_moved notice and the WrongNode close), leaving one live room.
import type { Redis } from "ioredis";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keys } from "#shared/keys.ts";
import { NODE_TTL_MS, REPORT_INTERVAL_MS } from "#shared/node.ts";
import { CloseCode, PROTOCOL_VERSION, type NotificationName } from "#shared/protocol.ts";
import { SignalClient } from "../../media-node/client/signal-client.ts";
import { waitFor } from "../support/media-node.ts";
import {
  EAST_A,
  EAST_B,
  PORTLAND,
  WASHINGTON,
  WEST,
  metric,
  participantsOf,
  startDistributedCluster,
  type Cluster,
} from "./cluster.ts";

let c: Cluster;
/** Everything published on any channel, as a redis-cli PSUBSCRIBE * would see it. */
let tap: Redis;
const seen: { channel: string; message: string }[] = [];
let attacker: Redis;

beforeAll(async () => {
  c = await startDistributedCluster();
  tap = c.redis.client();
  tap.on("pmessage", (_p: string, channel: string, message: string) => {
    if (seen.length < 50_000) seen.push({ channel, message });
  });
  await tap.psubscribe("*");
  attacker = c.redis.client();
}, 90_000);

afterAll(async () => {
  tap?.disconnect();
  attacker?.disconnect();
  await c?.stop();
});

type Notes = { name: NotificationName; data: unknown }[];
async function connect(url: string, token?: string): Promise<{ client: SignalClient; notes: Notes }> {
  const client = await SignalClient.open(url, token);
  const notes: Notes = [];
  client.onNotification((name, data) => notes.push({ name, data }));
  return { client, notes };
}

/** The JSON a bus message carries (a sealed one's payload follows its header line). */
function payloadOf(message: string): Record<string, unknown> | undefined {
  for (const part of [message, message.slice(message.indexOf("\n") + 1)]) {
    try {
      const v = JSON.parse(part) as unknown;
      if (v && typeof v === "object" && !Array.isArray(v)) return v as Record<string, unknown>;
    } catch {
      /* next */
    }
  }
  return undefined;
}

const JWT = /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}/;

describe("finding 8: the node bus trusts nobody without the cluster key", () => {
  it("no token crosses the bus during bridged joins (token in the URL or in the join request)", async () => {
    const room = "tap-room";
    const b = await c.join({ identity: "bob", room, location: WASHINGTON });
    const bob = await connect(b.url, b.token);
    await bob.client.request("join", {});
    const from = seen.length;
    const a = await c.join({ identity: "alice", room, location: PORTLAND });
    expect(a.url).toBe(c.node(WEST).signalUrl); // bridged: WEST relays to the east host
    const alice = await connect(a.url, a.token);
    expect((await alice.client.request("join", {})).node.id).toBe(b.node);
    const k = await c.join({ identity: "carol", room, location: PORTLAND });
    const carol = await connect(k.url);
    expect((await carol.client.request("join", { token: k.token })).node.id).toBe(b.node);
    await alice.client.request("ping", {});
    const bridged = seen.slice(from).filter((m) => m.channel.startsWith(keys.nodeBus("")));
    expect(bridged.length).toBeGreaterThan(3);
    expect(bridged.filter((m) => JWT.test(m.message)).map((m) => m.message.slice(0, 200))).toEqual([]);
    for (const s of [alice, bob, carol]) s.client.close();
  });

  it("forged leave frames, forged notifications and a forged room.delete change nothing", async () => {
    const room = "forged-room";
    const b = await c.join({ identity: "bob", room, location: WASHINGTON });
    const bob = await connect(b.url, b.token);
    await bob.client.request("join", {});
    const a = await c.join({ identity: "alice", room, location: PORTLAND });
    const from = seen.length;
    const alice = await connect(a.url, a.token);
    await alice.client.request("join", {});
    await alice.client.request("ping", {});
    await waitFor(
      () => participantsOf(c.ioredis, room),
      (p) => p.alice !== undefined && p.bob !== undefined,
      "both records",
    );

    // What the tap learnt: alice's session id and the next sequence numbers both ways.
    const envs = seen
      .slice(from)
      .map((m) => ({ channel: m.channel, env: payloadOf(m.message) }))
      .filter((x) => x.env?.t === "bridge" && typeof x.env.s === "string");
    const toHost = envs.filter((x) => x.channel === keys.nodeBus(b.node) && x.env!.f === WEST && x.env!.k === "data");
    const toSignal = envs.filter((x) => x.channel === keys.nodeBus(WEST) && x.env!.f === b.node && x.env!.k === "data");
    expect(toHost.length).toBeGreaterThan(0);
    expect(toSignal.length).toBeGreaterThan(0);
    const next = (xs: typeof envs) => Math.max(...xs.map((x) => (x.env!.q as number) + (x.env!.m as unknown[]).length));
    const session = toHost[0]!.env!.s as string;
    const rejectedBefore = await metric(c.node(b.node), 'meridian_bus_messages_rejected{reason="unsigned"}');

    // Forged: alice "leaves" (signal → host), alice is told to go elsewhere (host → signal), the room is deleted.
    const leave = JSON.stringify({ v: PROTOCOL_VERSION, id: 900, method: "leave", data: {} });
    const moved = JSON.stringify({ v: PROTOCOL_VERSION, notification: "reconnect", data: { reason: "room_moved" } });
    for (let q = next(toHost); q < next(toHost) + 3; q++)
      await attacker.publish(
        keys.nodeBus(b.node),
        JSON.stringify({ t: "bridge", v: 1, s: session, f: WEST, r: "s", k: "data", q, m: [leave], a: 0 }),
      );
    await attacker.publish(
      keys.nodeBus(WEST),
      JSON.stringify({
        t: "bridge",
        v: 1,
        s: session,
        f: b.node,
        r: "h",
        k: "data",
        q: next(toSignal),
        m: [moved],
        a: 0,
      }),
    );
    await attacker.publish(keys.nodeBus(b.node), JSON.stringify({ type: "room.delete", room }));

    // The forgeries were published before these pings went out: Redis delivers them first.
    expect((await alice.client.request("ping", {})).now).toBeGreaterThan(0);
    expect((await bob.client.request("ping", {})).now).toBeGreaterThan(0);
    expect(alice.notes.map((n) => n.name)).not.toContain("reconnect");
    expect(bob.notes.map((n) => n.name)).not.toContain("participantLeft");
    expect(bob.notes.map((n) => n.name)).not.toContain("roomClosed");
    const ps = await participantsOf(c.ioredis, room);
    expect(Object.keys(ps).sort()).toEqual(["alice", "bob"]);
    expect(await c.ioredis.hget(keys.room(room), "node")).toBe(b.node);
    await waitFor(
      () => metric(c.node(b.node), 'meridian_bus_messages_rejected{reason="unsigned"}'),
      (n) => n >= rejectedBefore + 4,
      "forgeries counted",
    );
    // The child's stdout can trail the scraped counter: wait for the log line.
    await waitFor(
      async () => c.node(b.node).logs.some((l) => l.includes("bus message rejected")),
      (seen) => seen,
      "the rejection logged",
    );
    alice.client.close();
    bob.client.close();
  });

  it("a replayed genuine room.delete does not delete the room opened again after it", async () => {
    const room = "replayed-room";
    const first = await c.join({ identity: "dan", room, location: WASHINGTON });
    const dan = await connect(first.url, first.token);
    await dan.client.request("join", {});
    const admin = await c.adminToken(60, { roomCreate: true });
    // Delete, capture the genuine room.delete, open the room again; until it opens on a node whose
    // room.delete was captured (the replay is aimed at the node the message was sealed for).
    const captured = new Map<string, { channel: string; message: string }>();
    let again = first;
    for (let i = 0; i < 10 && !captured.has(again.node); i++) {
      const from = seen.length;
      expect(
        (await c.workerFetch(`/v1/rooms/${room}`, { method: "DELETE", headers: { authorization: `Bearer ${admin}` } }))
          .status,
      ).toBe(200);
      const genuine = await waitFor(
        async () => seen.slice(from).find((m) => payloadOf(m.message)?.type === "room.delete"),
        (m) => m !== undefined,
        "the genuine room.delete on the bus",
      );
      captured.set(again.node, genuine!);
      again = await c.join({ identity: "erin", room, location: WASHINGTON });
    }
    expect((await dan.client.closed).code).toBe(CloseCode.RoomClosed);
    const genuine = captured.get(again.node);
    expect(genuine).toBeDefined();
    const erin = await connect(again.url, again.token);
    await erin.client.request("join", {});
    let erinClosed = false;
    void erin.client.closed.then(() => (erinClosed = true));
    await attacker.publish(genuine!.channel, genuine!.message);
    await waitFor(
      // Refused as replayed (or as stale, had the loop above taken longer than the 15 s window).
      async () =>
        erinClosed ||
        (await metric(c.node(again.node), 'meridian_bus_messages_rejected{reason="replayed"}')) +
          (await metric(c.node(again.node), 'meridian_bus_messages_rejected{reason="stale"}')) >=
          1,
      Boolean,
      "the replay handled",
    );
    expect(erinClosed).toBe(false);
    expect((await erin.client.request("ping", {})).now).toBeGreaterThan(0);
    expect(erin.notes.map((n) => n.name)).not.toContain("roomClosed");
    expect(await c.ioredis.hget(keys.room(room), "node")).toBe(again.node);
    erin.client.close();
  });
});

describe("finding 2: a node that stalled past its TTL while its room moved hands its participants over", () => {
  it("SIGSTOP beyond the TTL, room re-placed via the Worker, SIGCONT: notice + close, one live room", {
    timeout: 90_000,
  }, async () => {
    const room = "stalled-room";
    const a = await c.join({ identity: "alice", room, location: WASHINGTON });
    const host = c.node(a.node);
    const alice = await connect(a.url, a.token);
    await alice.client.request("join", {});
    await waitFor(
      () => c.ioredis.sismember(keys.nodeRooms(host.nodeId), room),
      (n) => n === 1,
      "room claimed",
    );

    host.signal("SIGSTOP");
    let b;
    try {
      // Gone from the registry once its record expired; then the next join re-places the room.
      await waitFor(
        () => c.ioredis.exists(keys.node(host.nodeId)),
        (n) => n === 0,
        "stalled node's record expired",
        NODE_TTL_MS + 10_000,
      );
      b = await waitFor(
        () => c.join({ identity: "bob", room, location: WASHINGTON }).catch(() => undefined),
        (r) => r !== undefined && r.node !== host.nodeId,
        "room re-placed on another node",
      );
    } finally {
      host.signal("SIGCONT");
    }
    expect([EAST_A, EAST_B, WEST]).toContain(b!.node);
    const bob = await connect(b!.url, b!.token);
    await bob.client.request("join", {});

    // The stalled node comes back, fails to re-claim the room and sends its participants over.
    const closed = await Promise.race([
      alice.client.closed,
      sleep(3 * REPORT_INTERVAL_MS + 10_000).then(() => undefined),
    ]);
    expect(closed?.code, `alice saw: ${JSON.stringify(alice.notes.map((n) => n.name))}`).toBe(CloseCode.WrongNode);
    expect(alice.notes).toContainEqual({ name: "reconnect", data: { reason: "room_moved" } });

    // What the client library does on that notice: rejoin through the control plane.
    const again = await c.join({ identity: "alice", room, location: WASHINGTON });
    expect(again.node).toBe(b!.node);
    const alice2 = await connect(again.url, again.token);
    const joined = await alice2.client.request("join", {});
    expect(joined.participants.map((p) => p.identity)).toEqual(["bob"]);
    await waitFor(
      async () => bob.notes.map((n) => n.name),
      (n) => n.includes("participantJoined"),
      "bob sees alice arrive",
    );

    // One room: only the new host lists it, its record names the new host, both participants there.
    const holders = [];
    for (const id of [WEST, EAST_A, EAST_B]) if (await c.ioredis.sismember(keys.nodeRooms(id), room)) holders.push(id);
    expect(holders).toEqual([b!.node]);
    expect(await c.ioredis.hget(keys.room(room), "node")).toBe(b!.node);
    const ps = await waitFor(
      () => participantsOf(c.ioredis, room),
      (p) => Object.keys(p).length === 2,
      "two participant records",
    );
    expect(Object.keys(ps).sort()).toEqual(["alice", "bob"]);
    // This room's close, not the node's room count: rooms of the file's earlier tests on the same
    // node close only at their empty timeout.
    await waitFor(
      async () => host.logs.some((l) => l.includes('"msg":"room closed"') && l.includes(`"room":"${room}"`)),
      (closed) => closed,
      "stalled node closed its half",
    );
    alice2.client.close();
    bob.client.close();
  });
});
