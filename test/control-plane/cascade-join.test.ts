// POST /v1/join with cascade on (issue 9, "placement knows about cascade"): the real Worker
// (Miniflare) → Upstash bridge → real redis-server. Besides the room's origin, join names the node
// this client's media should use — the origin in its own region, else an edge in the client's
// region, reserved atomically in room:<name>:nodes — and hands out that node's URL. The node the
// client then connects to runs cascade_room (shared/cascade.ts cascadeJoin, as the media node
// does), which must agree. Cascade off (the default) is covered by worker.test.ts.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { CASCADE_RESERVATION_MS, cascadeJoin } from "#shared/cascade.ts";
import { keys } from "#shared/keys.ts";
import { reportNode } from "#shared/registry.ts";
import { parseApiKeys, verifyToken } from "#shared/token.ts";
import { NEW_YORK, PARIS, REGIONS, SINGAPORE, nodeRecord, type NodeSpec } from "../support/nodes.ts";
import { startWorker, type WorkerHarness } from "../support/worker.ts";

const CASCADE = { enabled: true, max_nodes_per_room: 3, participants_per_node: 30 };
const at = (p: { lat: number; lon: number }) => ({ latitude: String(p.lat), longitude: String(p.lon) });

let h: WorkerHarness;
beforeAll(async () => {
  h = await startWorker({
    NODE_SELECTOR: JSON.stringify({ kind: "regionaware", sysload_limit: 0.7, regions: REGIONS }),
    DEFAULT_REGION: "us-east",
    CASCADE: JSON.stringify(CASCADE),
  });
});
afterAll(async () => {
  await h?.close();
});
beforeEach(async () => {
  await h.ioredis.flushall();
});

const CLUSTER: NodeSpec[] = [
  { id: "us-1", region: "us-east", sysload: 0.1 },
  { id: "us-2", region: "us-east", sysload: 0.2 },
  { id: "eu-1", region: "eu-west", sysload: 0.1 },
  { id: "eu-2", region: "eu-west", sysload: 0.2 },
  { id: "ap-1", region: "ap-south", sysload: 0.0 },
];
async function seed(...specs: NodeSpec[]): Promise<void> {
  for (const s of specs) await reportNode(h.runner, nodeRecord(s));
}
const url = (id: string) => `wss://${id}.example.test/signal`;

async function join(room: string, identity: string, where: { lat: number; lon: number }) {
  const r = await h.post("/v1/join", {}, await h.token({ roomJoin: true, room }, { identity }), at(where));
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body as {
    token: string;
    url: string;
    node: string;
    region: string;
    placement: string;
    media: { node: string; region: string; role: string };
  };
}

/** room:<name>:nodes, parsed. */
async function servingNodes(
  room: string,
): Promise<Record<string, { region: string; participants: number; reserved?: number }>> {
  const raw = await h.ioredis.hgetall(keys.roomNodes(room));
  return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, JSON.parse(v)]));
}

/** What the media node does when a client's join reaches it: cascade_room with its local count. */
const nodeJoins = (room: string, id: string, region: string, participants: number) =>
  cascadeJoin(h.runner, { room, node: { id, region }, participants, config: CASCADE });

describe("join with cascade on", () => {
  it("documents the media field in the OpenAPI document", async () => {
    const doc = await h.fetch("/openapi.json");
    const schemas = doc.body.components.schemas;
    expect(schemas.JoinResult.properties.media.$ref).toBe("#/components/schemas/JoinMedia");
    expect(schemas.JoinResult.required).toContain("media");
    const media = schemas.JoinMedia;
    expect(media.description).toMatch(/media should use/);
    expect(Object.keys(media.properties).sort()).toEqual(["node", "region", "role"]);
    expect(media.properties.role.enum).toEqual(["origin", "edge"]);
  });

  it("a client in the origin's region: media on the origin, its own URL; nothing reserved", async () => {
    await seed(...CLUSTER);
    const r = await join("ny", "alice", NEW_YORK);
    expect(r).toMatchObject({ node: "us-1", region: "us-east", placement: "created", url: url("us-1") });
    expect(r.media).toEqual({ node: "us-1", region: "us-east", role: "origin" });
    expect(await servingNodes("ny")).toEqual({});
    const again = await join("ny", "bob", NEW_YORK);
    expect(again.media).toEqual({ node: "us-1", region: "us-east", role: "origin" });
  });

  it("a client in another region: a new edge there (its least loaded node), reserved; the next client of that region gets the same edge", async () => {
    await seed(...CLUSTER);
    const first = await join("span", "alice", NEW_YORK);
    const t0 = Date.now();
    const paris = await join("span", "bob", PARIS);
    expect(paris).toMatchObject({ node: "us-1", region: "us-east", placement: "existing", url: url("eu-1") });
    expect(paris.media).toEqual({ node: "eu-1", region: "eu-west", role: "edge" });
    // The media token keeps naming the origin: the edge accepts the room's participants.
    const claims = await verifyToken(paris.token, parseApiKeys(`${h.apiKey}:${h.apiSecret}`), "media");
    expect(claims.meridian).toMatchObject({ node: first.node, region: "us-east" });
    const reserved = (await servingNodes("span"))["eu-1"]!;
    expect(reserved).toMatchObject({ region: "eu-west", participants: 1 });
    expect(reserved.reserved).toBeGreaterThanOrEqual(t0);
    const paris2 = await join("span", "carol", PARIS);
    expect(paris2.media).toEqual({ node: "eu-1", region: "eu-west", role: "edge" });
    expect(paris2.url).toBe(url("eu-1"));
    expect(Object.keys(await servingNodes("span"))).toEqual(["eu-1"]);
    expect((await servingNodes("span"))["eu-1"]!.participants).toBe(2);
    // Bob reaches eu-1: the node agrees it is the room's edge there, and its entry replaces the reservation.
    expect(await nodeJoins("span", "eu-1", "eu-west", 1)).toEqual({ role: "edge", origin: "us-1" });
    expect((await servingNodes("span"))["eu-1"]).toEqual({ region: "eu-west", participants: 1 });
  });

  it("a node at its budget takes no new participants of the room: they spill to another node of the region", async () => {
    await seed(...CLUSTER);
    await join("full-edge", "alice", NEW_YORK);
    await join("full-edge", "bob", PARIS);
    await nodeJoins("full-edge", "eu-1", "eu-west", CASCADE.participants_per_node);
    const spilled = await join("full-edge", "carol", PARIS);
    expect(spilled.media).toEqual({ node: "eu-2", region: "eu-west", role: "edge" });
    expect(spilled.url).toBe(url("eu-2"));
    expect(Object.keys(await servingNodes("full-edge")).sort()).toEqual(["eu-1", "eu-2"]);
    // eu-1 has room again (someone left): the least loaded of the two takes the next one.
    await nodeJoins("full-edge", "eu-1", "eu-west", 0 + 1);
    await nodeJoins("full-edge", "eu-2", "eu-west", 2);
    expect((await join("full-edge", "dan", PARIS)).media.node).toBe("eu-1");

    // The origin at its budget: a client of its own region goes to an edge in that region.
    await join("full-origin", "alice", NEW_YORK);
    await nodeJoins("full-origin", "us-1", "us-east", CASCADE.participants_per_node);
    const ny = await join("full-origin", "bob", NEW_YORK);
    expect(ny.media).toEqual({ node: "us-2", region: "us-east", role: "edge" });
    expect(ny.url).toBe(url("us-2"));
  });

  it("a DRAINING node is never named for a new participant", async () => {
    await seed(...CLUSTER);
    await join("drain", "alice", NEW_YORK);
    await join("drain", "bob", PARIS);
    await nodeJoins("drain", "eu-1", "eu-west", 1);
    await seed({ id: "eu-1", region: "eu-west", sysload: 0.1, state: "DRAINING" });
    expect((await join("drain", "carol", PARIS)).media.node).toBe("eu-2");
  });

  it("max_nodes_per_room reached: the origin, signaling through the client's region as without cascade", async () => {
    await seed(...CLUSTER);
    await join("capped", "alice", NEW_YORK);
    await join("capped", "bob", PARIS);
    await nodeJoins("capped", "eu-1", "eu-west", CASCADE.participants_per_node);
    await join("capped", "carol", PARIS); // eu-2: the room's third node
    expect(Object.keys(await servingNodes("capped")).sort()).toEqual(["eu-1", "eu-2"]);
    const sg = await join("capped", "dan", SINGAPORE);
    expect(sg.media).toEqual({ node: "us-1", region: "us-east", role: "origin" });
    expect(sg.url).toBe(url("ap-1")); // today's signal node: it bridges to the origin
    expect(Object.keys(await servingNodes("capped")).sort()).toEqual(["eu-1", "eu-2"]);
    // The node dan signals through agrees: the room is full, his media is at the origin.
    expect(await nodeJoins("capped", "ap-1", "ap-south", 1)).toEqual({ role: "full", origin: "us-1" });
  });

  it("a stale reservation is dropped: it holds no node slot and steers no join", async () => {
    await seed(...CLUSTER);
    await join("stale", "alice", NEW_YORK);
    // A client was sent to eu-2 long ago and never connected.
    const old = Date.now() - CASCADE_RESERVATION_MS - 1_000;
    await h.ioredis.hset(
      keys.roomNodes("stale"),
      "eu-2",
      JSON.stringify({ region: "eu-west", participants: 1, reserved: old }),
    );
    const r = await join("stale", "bob", PARIS);
    expect(r.media.node).toBe("eu-1"); // the region's least loaded node, not the stale reservation
    expect(Object.keys(await servingNodes("stale"))).toEqual(["eu-1"]);
  });

  it("the origin is gone: join hands the room to its serving node with the most participants, not to a fresh node", async () => {
    await seed(...CLUSTER);
    await join("heir", "alice", NEW_YORK);
    await join("heir", "bob", PARIS);
    await nodeJoins("heir", "us-1", "us-east", 2);
    await nodeJoins("heir", "eu-1", "eu-west", 3);
    await h.ioredis.hset(keys.roomParticipants("heir"), "alice", "{}");
    await h.ioredis.del(keys.node("us-1")); // SIGKILLed: its record expired, its index entries not yet swept
    const r = await join("heir", "carol", NEW_YORK);
    expect(r).toMatchObject({ node: "eu-1", region: "eu-west", placement: "replaced" });
    // Carol's region has no serving node left: a new edge there, never the dead node (its index
    // entry, the region's least loaded, outlived its record: dropped on the way).
    expect(r.media).toEqual({ node: "us-2", region: "us-east", role: "edge" });
    expect(await h.ioredis.zscore(keys.sel("us-east", "sysload"), "us-1")).toBeNull();
    const claims = await verifyToken(r.token, parseApiKeys(`${h.apiKey}:${h.apiSecret}`), "media");
    expect(claims.meridian).toMatchObject({ node: "eu-1", region: "eu-west" });
    expect(await h.ioredis.hget(keys.room("heir"), "node")).toBe("eu-1");
    expect(await h.ioredis.exists(keys.roomParticipants("heir"))).toBe(0); // the serving nodes write theirs again
    expect(await h.ioredis.sismember(keys.nodeRooms("eu-1"), "heir")).toBe(1);
    expect(await h.ioredis.sismember(keys.nodeRooms("us-1"), "heir")).toBe(0);
    expect(Object.keys(await servingNodes("heir")).sort()).toEqual(["eu-1", "us-2"]);
    // eu-1 agrees when its link to the dead origin closes and it asks again.
    expect(await nodeJoins("heir", "eu-1", "eu-west", 3)).toEqual({ role: "origin", node: "eu-1" });
  });

  it("a rejoin naming the node it lost: media on another node of its region (a new edge when that is the origin); nothing moves", async () => {
    await seed(...CLUSTER);
    expect((await join("hint", "alice", NEW_YORK)).media.node).toBe("us-1");
    await nodeJoins("hint", "us-1", "us-east", 1);
    const t = await h.token({ roomJoin: true, room: "hint" }, { identity: "alice" });
    const r = await h.post("/v1/join", { failedNode: "us-1" }, t, at(NEW_YORK));
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ node: "us-1", placement: "existing", url: url("us-2") });
    expect(r.body.media).toEqual({ node: "us-2", region: "us-east", role: "edge" });
    // The room stays on its origin, and a client without the hint still gets it.
    expect(await h.ioredis.hget(keys.room("hint"), "node")).toBe("us-1");
    expect((await join("hint", "bob", NEW_YORK)).media.node).toBe("us-1");
  });

  it("one client joining again and again is counted once: no extra edge, no node slot or load taken from others", async () => {
    await seed(...CLUSTER);
    await join("again", "alice", NEW_YORK);
    // Mallory holds one valid token and calls join in a loop (more than the budget), never connecting.
    const t = await h.token({ roomJoin: true, room: "again" }, { identity: "mallory" });
    for (let i = 0; i < CASCADE.participants_per_node + 5; i++) {
      const r = await h.post("/v1/join", {}, t, at(PARIS));
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body.media).toEqual({ node: "eu-1", region: "eu-west", role: "edge" });
    }
    // One reservation counting her once, one participant's share of load (half a room: no learnt cost).
    expect(await servingNodes("again")).toEqual({ "eu-1": expect.objectContaining({ participants: 1 }) });
    expect(Number(await h.ioredis.get(keys.nodeReserved("eu-1")))).toBeCloseTo(0.5, 9);
    expect(await h.ioredis.get(keys.nodeReserved("eu-2"))).toBeNull();
    // Her rejoins naming eu-1 as failed, then the node it sent her to, alternate between the two
    // without counting her again: at most the one extra edge the hint is for.
    for (let i = 0; i < 6; i++) {
      const failedNode = i % 2 === 0 ? "eu-1" : "eu-2";
      const r = await h.post("/v1/join", { failedNode }, t, at(PARIS));
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body.media.node).toBe(failedNode === "eu-1" ? "eu-2" : "eu-1");
    }
    const nodes = await servingNodes("again");
    expect(Object.keys(nodes).sort()).toEqual(["eu-1", "eu-2"]);
    expect([nodes["eu-1"]!.participants, nodes["eu-2"]!.participants]).toEqual([1, 1]);
    expect(Number(await h.ioredis.get(keys.nodeReserved("eu-2")))).toBeCloseTo(0.5, 9);
    // Another client of the same region is counted as usual.
    expect((await join("again", "bob", PARIS)).media.node).toBe("eu-1");
    expect((await servingNodes("again"))["eu-1"]!.participants).toBe(2);
  });

  it("the identities counted on a node are bounded: a full set starts over", async () => {
    await seed(...CLUSTER);
    await join("many", "alice", NEW_YORK);
    expect((await join("many", "bob", PARIS)).media.node).toBe("eu-1");
    const set = keys.roomCounted("many", "eu-1");
    const filler = Array.from({ length: 10_000 }, (_, i) => `filler-${i}`);
    for (let i = 0; i < filler.length; i += 1_000) await h.ioredis.sadd(set, ...filler.slice(i, i + 1_000));
    expect((await join("many", "carol", PARIS)).media.node).toBe("eu-1");
    expect(await h.ioredis.smembers(set)).toEqual(["carol"]);
    expect(await h.ioredis.pttl(set)).toBeGreaterThan(0);
  });

  it("one client's join loop leaves other regions their edge (max_nodes_per_room not exhausted)", async () => {
    await seed(...CLUSTER);
    await join("slots", "alice", NEW_YORK);
    const t = await h.token({ roomJoin: true, room: "slots" }, { identity: "mallory" });
    for (let i = 0; i < 2 * CASCADE.participants_per_node + 5; i++)
      expect((await h.post("/v1/join", {}, t, at(PARIS))).status).toBe(200);
    // Before: her joins filled eu-1's reservation to the budget, then reserved eu-2 — the room's
    // max_nodes_per_room (3) — so a Singapore client got the far origin instead of an edge.
    expect((await join("slots", "carol", SINGAPORE)).media).toEqual({ node: "ap-1", region: "ap-south", role: "edge" });
  });

  it("a burst of participants sent to new edges spreads over the region's nodes: each reserves its share of load", async () => {
    // Four eu-west nodes, each carrying 10 clients in 5 rooms: a participant costs its node
    // sysload / clients (0.009 on eu-1, 0.01 on the others) and is half of a room. eu-1 looks the
    // lightest. Before participants reserved anything, every new edge of the burst went to eu-1.
    const eu = ["eu-1", "eu-2", "eu-3", "eu-4"];
    const sysload = (id: string) => (id === "eu-1" ? 0.09 : 0.1);
    await seed(
      { id: "us-1", region: "us-east", sysload: 0.1 },
      { id: "us-2", region: "us-east", sysload: 0.1 },
      ...eu.map((id) => ({ id, region: "eu-west", sysload: sysload(id), rooms: 5, clients: 10 })),
    );
    const rooms = Array.from({ length: 40 }, (_, i) => `burst-${i}`);
    for (const room of rooms) expect((await join(room, "host", NEW_YORK)).media.region).toBe("us-east");
    // The burst: one Paris client per room, all at once, before any eu node reports again.
    const answers = await Promise.all(rooms.map((room) => join(room, "guest", PARIS)));
    const perNode = new Map(eu.map((id) => [id, 0]));
    for (const a of answers) {
      expect(a.media).toMatchObject({ region: "eu-west", role: "edge" });
      perNode.set(a.media.node, perNode.get(a.media.node)! + 1);
    }
    // Lowest reserved load first: eu-1 gets 2 before the others tie with it, then they alternate
    // by load; equal reservations would give 11.6 / 9.5 each.
    const counts = eu.map((id) => perNode.get(id)!);
    expect(Math.min(...counts)).toBeGreaterThanOrEqual(9);
    expect(Math.max(...counts)).toBeLessThanOrEqual(12);
    // What each node holds in Redis: half a room per participant (node:<id>:reserved, carried by
    // its next report) and the participants' load on its selection scores.
    const expectLoad = async (id: string, participants: number) => {
      expect(Number(await h.ioredis.get(keys.nodeReserved(id)))).toBeCloseTo(participants / 2, 9);
      expect(Number(await h.ioredis.zscore(keys.sel("eu-west", "sysload"), id))).toBeCloseTo(
        sysload(id) * (1 + participants / 10),
        9,
      );
      expect(Number(await h.ioredis.zscore(keys.sel("eu-west", "clients"), id))).toBeCloseTo(10 + participants, 9);
    };
    for (const id of eu) await expectLoad(id, perNode.get(id)!);
    // A second Paris client of a room goes to that room's edge (its budget has room) and reserves there too.
    const again = await join("burst-0", "guest-2", PARIS);
    const edge = answers[0]!.media.node;
    expect(again.media.node).toBe(edge);
    perNode.set(edge, perNode.get(edge)! + 1);
    await expectLoad(edge, perNode.get(edge)!);
    // A client of the origin's region reserves nothing per participant: the room's cost is on the origin.
    const before = await h.ioredis.get(keys.nodeReserved(answers[0]!.node));
    await join("burst-0", "neighbour", NEW_YORK);
    expect(await h.ioredis.get(keys.nodeReserved(answers[0]!.node))).toBe(before);
  });

  it("50 concurrent joins to one room from two regions: one origin, at most one edge per region", async () => {
    const tokens = await Promise.all(
      Array.from({ length: 50 }, (_, i) => h.token({ roomJoin: true, room: "herd" }, { identity: `user-${i}` })),
    );
    await seed(...CLUSTER);
    const results = await Promise.all(
      tokens.map((t, i) => h.post("/v1/join", {}, t, at(i % 2 === 0 ? NEW_YORK : PARIS))),
    );
    expect(results.map((r) => r.status)).toEqual(Array(50).fill(200));
    const origins = new Set(results.map((r) => r.body.node));
    expect(origins.size).toBe(1);
    const origin = [...origins][0] as string;
    expect(results.filter((r) => r.body.placement === "created")).toHaveLength(1);
    expect(await h.ioredis.hget(keys.room("herd"), "node")).toBe(origin);
    const mediaByRegion = new Map<string, Set<string>>();
    for (const r of results) {
      const m = r.body.media as { node: string; region: string; role: string };
      expect(m.role).toBe(m.node === origin ? "origin" : "edge");
      mediaByRegion.set(m.region, (mediaByRegion.get(m.region) ?? new Set()).add(m.node));
    }
    // The room's origin region is the first joiner's: every client of a region got one node.
    for (const nodes of mediaByRegion.values()) expect(nodes.size).toBe(1);
    const edges = Object.entries(await servingNodes("herd"));
    expect(edges).toHaveLength(1);
    const [edge, entry] = edges[0]!;
    expect(edge).not.toBe(origin);
    expect(entry.region).not.toBe(await h.ioredis.hget(keys.room("herd"), "region"));
    expect(entry.participants).toBe(results.filter((r) => r.body.media.node === edge).length);
  });
});
