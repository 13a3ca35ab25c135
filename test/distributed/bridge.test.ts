// The signaling bridge in the real cluster (control plane + Redis + three media-node processes),
// at the protocol level: a us-west-2 client signals through the us-west-2 node to a room hosted in
// us-east; a moved room is re-resolved once; either end going away cleans up both sides; random
// bridge envelopes and client messages never crash a node.
import fc from "fast-check";
import { createConnection } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode } from "#shared/errors.ts";
import { keys } from "#shared/keys.ts";
import { CloseCode, type NotificationName } from "#shared/protocol.ts";
import { SignalClient, SignalError } from "../../media-node/client/signal-client.ts";
import { BusAuth } from "../../media-node/src/cluster/bus-auth.ts";
import { SOCKET_BUDGET } from "../../media-node/src/signaling/signaling-server.ts";
import { waitFor } from "../support/media-node.ts";
import {
  EAST_A,
  EAST_B,
  PORTLAND,
  WASHINGTON,
  WEST,
  expectHealthy,
  metric,
  participantsOf,
  startDistributedCluster,
  type Cluster,
} from "./cluster.ts";

let c: Cluster;
beforeAll(async () => {
  c = await startDistributedCluster();
}, 60_000);
afterAll(async () => {
  await c?.stop();
});

async function connect(
  url: string,
  token: string,
): Promise<{ client: SignalClient; notes: { name: NotificationName; data: unknown }[] }> {
  const client = await SignalClient.open(url, token);
  const notes: { name: NotificationName; data: unknown }[] = [];
  client.onNotification((name, data) => notes.push({ name, data }));
  return { client, notes };
}

describe("signaling bridge", () => {
  it("relays a us-west-2 client's session to the us-east hosting node, both ways, and records it in Redis", async () => {
    const room = "bridged-room";
    const b = await c.join({ identity: "bob", room, location: WASHINGTON });
    expect(b).toMatchObject({ region: "us-east", placement: "created" });
    const host = c.node(b.node);
    expect(b.url).toBe(host.signalUrl); // in the host's region: signals on the host itself
    const a = await c.join({ identity: "alice", room, location: PORTLAND });
    expect(a).toMatchObject({ node: b.node, placement: "existing", url: c.node(WEST).signalUrl });

    const bob = await connect(b.url, b.token);
    const bobJoined = await bob.client.request("join", {});
    expect(bobJoined.resume?.token).toMatch(/^PA_/); // on the host itself: resumable
    const alice = await connect(a.url, a.token);
    const joined = await alice.client.request("join", {});
    expect(joined.node).toEqual({ id: b.node, region: "us-east" }); // answered by the host, through w
    expect(joined.signalNode).toBe(WEST);
    // Bridged: not resumable (no token; a resume sent to the signal node is refused like any
    // unknown one, and the client falls back to a full rejoin).
    expect(joined.resume).toBeUndefined();
    const stray = await SignalClient.open(a.url);
    await expect(stray.request("resume", { token: bobJoined.resume!.token })).rejects.toMatchObject({
      code: "not_found",
    });
    expect((await stray.closed).code).toBe(4404);
    expect(joined.participants.map((p) => p.identity)).toEqual(["bob"]);
    expect((await alice.client.request("ping", {})).now).toBeGreaterThan(0);
    await waitFor(
      async () => bob.notes.map((n) => n.name),
      (n) => n.includes("participantJoined"),
      "bob hears alice join",
    );

    // Redis: the room is on one node; alice's participant record names the bridging node.
    expect(await c.ioredis.hget(keys.room(room), "node")).toBe(b.node);
    const holders = [];
    for (const id of [WEST, EAST_A, EAST_B]) if (await c.ioredis.sismember(keys.nodeRooms(id), room)) holders.push(id);
    expect(holders).toEqual([b.node]);
    const ps = await waitFor(
      () => participantsOf(c.ioredis, room),
      (p) => p.alice !== undefined && p.bob !== undefined,
      "both participant records",
    );
    expect(ps.alice!.signalNode).toBe(WEST);
    expect(ps.bob!.signalNode).toBe(b.node);
    expect(await metric(c.node(WEST), "meridian_bridge_frames_sent")).toBeGreaterThanOrEqual(2);
    expect(await metric(host, "meridian_bridge_frames_sent")).toBeGreaterThanOrEqual(2);
    expect(await metric(c.node(WEST), "meridian_rooms")).toBe(0); // w only relays

    // A request error travels back with its id; bad input does not close the bridged socket.
    const err = await alice.client.request("consume", { trackId: "nope" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SignalError);
    expect((err as SignalError).code).toBe(ErrorCode.NotFound);
    alice.client.sendRaw("{not json");
    await waitFor(
      async () => alice.notes.filter((n) => n.name === "error").length,
      (n) => n === 1,
      "error notification through the bridge",
    );

    // Client goes away → the host drops the participant, both nodes free the session.
    alice.client.close();
    await waitFor(
      () => participantsOf(c.ioredis, room),
      (p) => p.alice === undefined,
      "alice's record removed by the host",
    );
    await waitFor(
      async () => bob.notes.map((n) => n.name),
      (n) => n.includes("participantLeft"),
      "bob hears alice leave",
    );
    await waitFor(
      () => metric(c.node(WEST), "meridian_bridge_sessions_open"),
      (n) => n === 0,
      "w freed the session",
    );
    await waitFor(
      () => metric(host, "meridian_bridge_sessions_open"),
      (n) => n === 0,
      "host freed the session",
    );
    bob.client.close();
  });

  it("the hosting node reads the room's record once per join: a first join opening the room, and a bridged join (one ownership check)", async () => {
    const room = "one-read-room";
    const key = keys.room(room);
    // Every command a node sends that reads the room's hash (MONITOR on a plain socket; Lua's own
    // commands, marked [0 lua], are not counted).
    const url = new URL(c.redisUrl);
    const monitor = createConnection(Number(url.port), url.hostname);
    monitor.write("MONITOR\r\n");
    const reads: string[] = [];
    let buffered = "";
    monitor.on("data", (chunk) => {
      buffered += chunk.toString("utf8");
      const lines = buffered.split("\r\n");
      buffered = lines.pop() ?? "";
      for (const line of lines) {
        const m = /^\+\S+ \[\d+ ([^\]]+)\] "(\w+)" "([^"]*)"/.exec(line);
        if (m && m[1] !== "lua" && /^h(get|mget|getall|exists)$/i.test(m[2]!) && m[3] === key)
          reads.push(m[2]!.toLowerCase());
      }
    });
    try {
      const b = await c.join({ identity: "bob", room, location: WASHINGTON });
      const a = await c.join({ identity: "alice", room, location: PORTLAND });
      expect(a.url).toBe(c.node(WEST).signalUrl);
      const bob = await connect(b.url, b.token);
      await bob.client.request("join", {}); // opens the room on the host
      await waitFor(
        async () => reads.length,
        (n) => n >= 1,
        "bob's read",
      );
      await new Promise((resolve) => setTimeout(resolve, 200)); // MONITOR lags the replies a little
      expect(reads).toEqual(["hgetall"]);
      reads.length = 0;
      const alice = await connect(a.url, a.token);
      expect((await alice.client.request("join", {})).node.id).toBe(b.node); // bridged through w
      await waitFor(
        async () => reads.length,
        (n) => n >= 1,
        "alice's read",
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(reads).toEqual(["hgetall"]);
      alice.client.close();
      bob.client.close();
    } finally {
      monitor.destroy();
    }
  });

  it("the host going away closes the bridged client with the host's close code", async () => {
    const room = "deleted-room";
    const b = await c.join({ identity: "bob", room, location: WASHINGTON });
    const a = await c.join({ identity: "alice", room, location: PORTLAND });
    const alice = await connect(a.url, a.token);
    await alice.client.request("join", {});
    // DELETE /v1/rooms/:name → room.delete on the host's bus → the host closes the room.
    const admin = await c.adminToken(60, { roomCreate: true });
    expect(
      (await c.workerFetch(`/v1/rooms/${room}`, { method: "DELETE", headers: { authorization: `Bearer ${admin}` } }))
        .status,
    ).toBe(200);
    const closed = await alice.client.closed;
    expect(closed.code).toBe(CloseCode.RoomClosed);
    expect(alice.notes.map((n) => n.name)).toContain("roomClosed");
    await waitFor(
      () => metric(c.node(WEST), "meridian_bridge_sessions_open"),
      (n) => n === 0,
      "w freed the session",
    );
    await waitFor(
      () => metric(c.node(b.node), "meridian_bridge_sessions_open"),
      (n) => n === 0,
      "host freed the session",
    );
  });

  it("a host that does not own the room refuses (wrong node); the signal node re-resolves once and joins there", async () => {
    const room = "moved-room";
    const b = await c.join({ identity: "bob", room, location: WASHINGTON });
    const other = b.node === EAST_A ? EAST_B : EAST_A;
    const a = await c.join({ identity: "alice", room, location: PORTLAND });
    // The mapping moves after the tokens were minted (what a failover does).
    await c.ioredis.hset(keys.room(room), "node", other);

    // Bridged: w relays to the token's node, which refuses; w reads the mapping and relays to `other`.
    const alice = await connect(a.url, a.token);
    expect((await alice.client.request("join", {})).node.id).toBe(other);
    // Direct: the old host refuses locally, re-resolves and becomes bob's signal node.
    const bob = await connect(b.url, b.token);
    expect((await bob.client.request("join", {})).node.id).toBe(other);
    const ps = await waitFor(
      () => participantsOf(c.ioredis, room),
      (p) => p.alice !== undefined && p.bob !== undefined,
      "both records",
    );
    expect(ps.alice!.signalNode).toBe(WEST);
    expect(ps.bob!.signalNode).toBe(b.node);
    alice.client.close();
    bob.client.close();

    // Mapped to a node that does not exist: after the one re-resolve, a clear error and close code.
    const c2 = await c.join({ identity: "carol", room, location: PORTLAND });
    await c.ioredis.hset(keys.room(room), "node", "node-that-is-gone");
    const carol = await connect(c2.url, c2.token);
    const refused = await carol.client.request("join", {}).catch((e: unknown) => e);
    expect((refused as SignalError).code).toBe(ErrorCode.WrongNode);
    expect((await carol.client.closed).code).toBe(CloseCode.WrongNode);
    await c.ioredis.hset(keys.room(room), "node", other);
  });
});

describe("fuzz", () => {
  it("random, oversized and out-of-order bridge envelopes at a node's inbox and random client frames through a bridged session never crash a node", async () => {
    const room = "fuzz-room";
    const b = await c.join({ identity: "bob", room, location: WASHINGTON });
    const a = await c.join({ identity: "alice", room, location: PORTLAND });
    const alice = await connect(a.url, a.token);
    await alice.client.request("join", {});
    const pub = c.redis.client();
    try {
      const env = fc.record(
        {
          t: fc.constantFrom("bridge", "bridge", "x"),
          v: fc.constantFrom(1, 1, 2),
          k: fc.constantFrom("open", "accept", "refuse", "data", "ping", "ack", "close", "bogus"),
          s: fc.oneof(fc.uuid(), fc.string({ maxLength: 40 })),
          f: fc.constantFrom(WEST, EAST_A, EAST_B, "fuzzer"),
          r: fc.constantFrom("s", "h", "x"),
          q: fc.oneof(fc.nat(50), fc.integer()),
          m: fc.array(fc.string({ unit: "binary", maxLength: 200 }), { maxLength: 5 }),
          a: fc.oneof(fc.nat(50), fc.integer()),
          c: fc.constantFrom(1000, 4100, 4105, 4999, 1, -5),
          w: fc.string({ maxLength: 150 }),
          init: fc.record(
            { assertion: fc.oneof(fc.constant(a.token), fc.string({ maxLength: 50 })) },
            { requiredKeys: [] },
          ),
        },
        { requiredKeys: [] },
      );
      const shot = fc.oneof(
        { weight: 6, arbitrary: env.map((e) => JSON.stringify(e)) },
        { weight: 2, arbitrary: fc.oneof(fc.json(), fc.string({ unit: "binary", maxLength: 400 })) },
        {
          weight: 1,
          arbitrary: fc.nat(1_000).map((n) =>
            JSON.stringify({
              t: "bridge",
              v: 1,
              k: "data",
              s: crypto.randomUUID(),
              f: WEST,
              r: "s",
              q: 1,
              a: 0,
              m: ["z".repeat(2_000_000 + n)],
            }),
          ),
        },
      );
      // Each shot twice: as anyone with the Redis credential can publish it (refused by the bus
      // authentication), and sealed with the cluster's bus key as from the node it names (an
      // insider), which reaches the envelope parser and the sessions.
      const apiKeys = new Map([[c.apiKey, c.apiSecret]]);
      for (const msg of fc.sample(shot, { numRuns: 400, seed: 4 })) {
        let from = "fuzzer";
        try {
          const f = (JSON.parse(msg) as { f?: unknown }).f;
          if (typeof f === "string" && f.length > 0) from = f;
        } catch {
          /* garbage: sealed as the fuzzer */
        }
        for (const target of [b.node, WEST]) {
          const channel = keys.nodeBus(target);
          await pub.publish(channel, msg);
          await pub.publish(channel, new BusAuth(apiKeys, from).seal(channel, msg));
        }
      }
      // Client frames: random JSON, random method/data pairs, out-of-order ids, oversized.
      const clientFrame = fc.oneof(
        fc.json(),
        fc.string({ unit: "binary", maxLength: 300 }),
        fc
          .record({ v: fc.constant(1), id: fc.integer(), method: fc.string({ maxLength: 20 }), data: fc.anything() })
          .map((o) => JSON.stringify(o)),
        fc.nat(2).map((n) => "x".repeat(70_000 + n)),
      );
      // Fewer than a socket's strikes (SOCKET_BUDGET): past them the node closes a flooding socket.
      for (const frame of fc.sample(clientFrame, { numRuns: SOCKET_BUDGET.strikes - 10, seed: 5 }))
        alice.client.sendRaw(frame);
      // Still answering in order after all of it (the rate limit may refuse a few: retry).
      await waitFor(
        () =>
          alice.client.request("ping", {}).then(
            () => true,
            (e: unknown) => (e instanceof SignalError && e.code === ErrorCode.RateLimited ? false : Promise.reject(e)),
          ),
        (ok) => ok,
        "ping through the fuzzed bridged session",
      );
    } finally {
      pub.disconnect();
      alice.client.close();
    }
    await expectHealthy(c, WEST, EAST_A, EAST_B);
    // And every node still serves a new bridged join.
    const d = await c.join({ identity: "dave", room, location: PORTLAND });
    const dave = await connect(d.url, d.token);
    expect((await dave.client.request("join", {})).node.id).toBe(b.node);
    dave.client.close();
    expect(await metric(c.node(b.node), "meridian_bridge_envelopes_dropped")).toBeGreaterThan(0);
  });
});
