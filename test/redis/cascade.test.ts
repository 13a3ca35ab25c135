// cascade_room.lua with a real redis-server: who serves a room that spans nodes — origin, one edge
// per region (more only over the participant budget), spill to a serving node of the region, the
// node cap, origin takeover when the origin died (in the script and in the sweeper), no ghost keys;
// the pipe figures each node writes into its entry for the dashboard.
import type { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import {
  CASCADE_RESERVATION_MS,
  cascadeJoin,
  cascadeLeave,
  cascadePipes,
  type CascadeConfig,
} from "#shared/cascade.ts";
import { keys } from "#shared/keys.ts";
import { NODE_TTL_MS, REPORT_LATE_MS } from "#shared/node.ts";
import { closeRoom, declareNodeDeadIfLate, sweepDeadNodes } from "#shared/registry.ts";
import type { ScriptRunner } from "#shared/redis/runner.ts";
import { scriptRedisPerFile } from "../support/redis.ts";

let redis: Redis;
let run: ScriptRunner;
scriptRedisPerFile((c) => ({ redis, run } = c));

const ROOM = "big-room";
const CFG: Pick<CascadeConfig, "max_nodes_per_room" | "participants_per_node"> = {
  max_nodes_per_room: 8,
  participants_per_node: 10,
};

/** Live SERVING node records (cascade_serving.lua reads the state only). */
async function alive(...ids: string[]): Promise<void> {
  for (const id of ids) await redis.set(keys.node(id), JSON.stringify({ id, state: "SERVING" }), "PX", 60_000);
}

async function placed(origin: string, region: string): Promise<void> {
  await redis.hset(keys.room(ROOM), { name: ROOM, node: origin, region });
  await redis.sadd(keys.nodeRooms(origin), ROOM);
}

const join = (id: string, region: string, participants = 1, config = CFG, now = Date.now()) =>
  cascadeJoin(run, { room: ROOM, node: { id, region }, participants, config, now });

/** What place_room writes when the control plane names a node as a client's media node. */
async function reserve(id: string, region: string, at: number, participants = 1): Promise<void> {
  await redis.hset(keys.roomNodes(ROOM), id, JSON.stringify({ region, participants, reserved: at }));
}

describe("cascade_room", () => {
  it("origin, one edge per region, spill to the origin or edge of the caller's region", async () => {
    await alive("east-1", "east-2", "west-1", "west-2");
    expect(await join("east-1", "us-east")).toEqual({ role: "unmapped" });
    await placed("east-1", "us-east");
    expect(await join("east-1", "us-east")).toEqual({ role: "origin", node: "east-1" });
    // Same region as the origin, origin under budget: the origin (no cascade).
    expect(await join("east-2", "us-east")).toEqual({ role: "spill", node: "east-1" });
    expect(await join("west-1", "us-west")).toEqual({ role: "edge", origin: "east-1" });
    expect(await join("west-2", "us-west")).toEqual({ role: "spill", node: "west-1" });
    expect(await join("west-1", "us-west", 5)).toEqual({ role: "edge", origin: "east-1" });
    const nodes = await redis.hgetall(keys.roomNodes(ROOM));
    expect(Object.keys(nodes).sort()).toEqual(["east-1", "west-1"]);
    expect(JSON.parse(nodes["west-1"]!)).toEqual({ region: "us-west", participants: 5 });
  });

  it("a node over its budget takes no more: the region's next node becomes an edge; the node cap holds", async () => {
    await alive("east-1", "west-1", "west-2", "west-3");
    await placed("east-1", "us-east");
    await join("east-1", "us-east");
    expect(await join("west-1", "us-west", 10)).toEqual({ role: "edge", origin: "east-1" });
    expect(await join("west-1", "us-west", 11)).toEqual({ role: "full", origin: "east-1" });
    expect(await join("west-2", "us-west")).toEqual({ role: "edge", origin: "east-1" });
    const capped = { ...CFG, max_nodes_per_room: 3 };
    await join("west-2", "us-west", 10, capped);
    expect(await join("west-3", "us-west", 1, capped)).toEqual({ role: "full", origin: "east-1" });
  });

  it("an edge that leaves is forgotten; the origin closing the room deletes the node list", async () => {
    await alive("east-1", "west-1");
    await placed("east-1", "us-east");
    await join("east-1", "us-east");
    await join("west-1", "us-west");
    await cascadeLeave(run, { room: ROOM, node: { id: "west-1", region: "us-west" }, participants: 0 });
    expect(await redis.hkeys(keys.roomNodes(ROOM))).toEqual(["east-1"]);
    await closeRoom(run, ROOM, "east-1");
    expect(await redis.exists(keys.room(ROOM), keys.roomNodes(ROOM))).toBe(0);
  });

  it("origin dead: the next join of a serving edge takes the origin role (most participants wins)", async () => {
    await alive("east-1", "west-1", "eu-1");
    await placed("east-1", "us-east");
    await join("east-1", "us-east");
    await join("west-1", "us-west", 3);
    await join("eu-1", "eu-west", 7);
    await redis.del(keys.node("east-1"));
    expect(await join("west-1", "us-west", 3)).toEqual({ role: "edge", origin: "eu-1" });
    expect(await redis.hget(keys.room(ROOM), "node")).toBe("eu-1");
    expect(await join("eu-1", "eu-west", 7)).toEqual({ role: "origin", node: "eu-1" });
    expect(await redis.smembers(keys.nodeRooms("eu-1"))).toEqual([ROOM]);
    expect(await redis.sismember(keys.nodeRooms("east-1"), ROOM)).toBe(0);
    expect(await redis.hkeys(keys.roomNodes(ROOM))).not.toContain("east-1");
  });

  it("a silent origin is declared dead only once its report is late; then the next join of an edge promotes", async () => {
    await alive("east-1", "west-1", "eu-1");
    await placed("east-1", "us-east");
    await join("east-1", "us-east");
    await join("west-1", "us-west", 2);
    await join("eu-1", "eu-west", 1);
    await redis.hset(keys.roomParticipants(ROOM), "bob", "{}");
    // The origin reported 0.5 s ago (its record has 3.5 s of its 4 s TTL left): alive, kept.
    await redis.set(keys.node("east-1"), "{}", "PX", NODE_TTL_MS - 500);
    expect(await declareNodeDeadIfLate(run, "east-1")).toBe(false);
    expect(await redis.exists(keys.node("east-1"))).toBe(1);
    // Its report is late (3 s ago): declared dead, its record gone as its expiry would.
    await redis.set(keys.node("east-1"), "{}", "PX", NODE_TTL_MS - REPORT_LATE_MS - 250);
    expect(await declareNodeDeadIfLate(run, "east-1")).toBe(true);
    expect(await redis.exists(keys.node("east-1"))).toBe(0);
    expect(await declareNodeDeadIfLate(run, "east-1")).toBe(true); // no record: dead
    // A record without a TTL (no report writes one): its age is unknown, so it is not declared dead.
    await redis.set(keys.node("east-1"), "{}");
    expect(await declareNodeDeadIfLate(run, "east-1")).toBe(false);
    await redis.del(keys.node("east-1"));
    // The edge with most participants takes over; the room's participant records start over.
    expect(await join("eu-1", "eu-west", 1)).toEqual({ role: "edge", origin: "west-1" });
    expect(await redis.hget(keys.room(ROOM), "node")).toBe("west-1");
    expect(await redis.exists(keys.roomParticipants(ROOM))).toBe(0); // each serving node writes its own again
    expect(await redis.hkeys(keys.roomNodes(ROOM))).not.toContain("east-1");
  });

  it("the sweeper hands a dead origin's room to a live edge, and drops it when none is left", async () => {
    await alive("east-1", "west-1");
    await placed("east-1", "us-east");
    await join("east-1", "us-east");
    await join("west-1", "us-west", 2);
    await redis.hset(keys.roomParticipants(ROOM), "ghost", "{}");
    await redis.zadd(keys.sweepNodes(), 1, "east-1");
    await redis.del(keys.node("east-1"));
    expect(await sweepDeadNodes(run, Date.now())).toEqual(["east-1"]);
    expect(await redis.hget(keys.room(ROOM), "node")).toBe("west-1");
    expect(await redis.exists(keys.roomParticipants(ROOM))).toBe(0); // the serving nodes write theirs again
    await redis.zadd(keys.sweepNodes(), 1, "west-1");
    await redis.del(keys.node("west-1"));
    expect(await sweepDeadNodes(run, Date.now())).toEqual(["west-1"]);
    expect(await redis.exists(keys.room(ROOM), keys.roomNodes(ROOM), keys.nodeRooms("west-1"))).toBe(0);
  });

  it("junk entries in room:<name>:nodes never fail a promotion: the join and the sweeper skip and drop them", async () => {
    await alive("east-1", "west-1", "eu-1", "ap-1");
    await placed("east-1", "us-east");
    await join("east-1", "us-east");
    await join("west-1", "us-west", 2);
    // Written around the scripts (by hand, an old version, a corrupt restore): not an entry.
    await redis.hset(keys.roomNodes(ROOM), { "eu-1": "not json", "ap-1": "5" });
    await redis.del(keys.node("east-1"));
    expect(await join("west-1", "us-west", 2)).toEqual({ role: "origin", node: "west-1" });
    expect(await redis.hkeys(keys.roomNodes(ROOM))).toEqual(["west-1"]);
    // The same in the sweeper, which every node runs: one bad entry must not stall it for good.
    await redis.hset(keys.roomNodes(ROOM), { "eu-1": "[", "ap-1": "true" });
    await redis.zadd(keys.sweepNodes(), 1, "west-1");
    await redis.del(keys.node("west-1"));
    expect(await sweepDeadNodes(run, Date.now())).toEqual(["west-1"]);
    expect(await redis.exists(keys.room(ROOM), keys.roomNodes(ROOM))).toBe(0);
  });

  it("a reservation by the control plane is the node serving the room until the node's own join replaces it", async () => {
    await alive("east-1", "west-1", "west-2");
    await placed("east-1", "us-east");
    await join("east-1", "us-east");
    const t = Date.now();
    await reserve("west-1", "us-west", t);
    // Another node of the region spills to the reserved node instead of becoming a second edge.
    expect(await join("west-2", "us-west", 1, CFG, t + 1_000)).toEqual({ role: "spill", node: "west-1" });
    // The reserved node's first client arrives: it is the edge, its entry is its own now.
    expect(await join("west-1", "us-west", 1, CFG, t + 1_000)).toEqual({ role: "edge", origin: "east-1" });
    expect(JSON.parse((await redis.hget(keys.roomNodes(ROOM), "west-1"))!)).toEqual({
      region: "us-west",
      participants: 1,
    });
  });

  it("a stale reservation is dropped: it holds no node slot and steers no join", async () => {
    await alive("east-1", "west-1", "west-2", "eu-1");
    await placed("east-1", "us-east");
    await join("east-1", "us-east");
    const t = Date.now();
    await reserve("west-1", "us-west", t);
    const capped = { ...CFG, max_nodes_per_room: 2 };
    // While it stands, the reservation is the room's second node: eu-1 cannot become a third.
    expect(await join("eu-1", "eu-west", 1, capped, t + CASCADE_RESERVATION_MS)).toEqual({
      role: "full",
      origin: "east-1",
    });
    // Past the bound, a client never came: west-2 becomes the region's edge, west-1 is forgotten.
    expect(await join("west-2", "us-west", 1, capped, t + CASCADE_RESERVATION_MS + 1)).toEqual({
      role: "edge",
      origin: "east-1",
    });
    expect((await redis.hkeys(keys.roomNodes(ROOM))).sort()).toEqual(["east-1", "west-2"]);
  });

  it("a DRAINING node takes no spilled participants; a reservation is never promoted to origin", async () => {
    await alive("east-1", "west-1", "west-2", "west-3");
    await placed("east-1", "us-east");
    await join("east-1", "us-east");
    await join("west-1", "us-west", 2);
    await redis.set(keys.node("west-1"), JSON.stringify({ id: "west-1", state: "DRAINING" }), "PX", 60_000);
    expect(await join("west-2", "us-west")).toEqual({ role: "edge", origin: "east-1" });
    await reserve("west-3", "us-west", Date.now(), 50);
    await redis.del(keys.node("east-1"));
    // west-3's reservation counts 50 answered joins, but no client is there: west-1 (2) takes over.
    expect(await join("west-2", "us-west")).toEqual({ role: "edge", origin: "west-1" });
  });

  it("pipe figures go into a node's own entry, survive its joins and leaves, and never create one", async () => {
    await alive("east-1", "west-1", "west-2", "eu-1");
    await placed("east-1", "us-east");
    await join("east-1", "us-east", 2);
    await join("west-1", "us-west", 1);
    const pipes = (id: string, region: string, n: number, pipedIn: number) =>
      cascadePipes(run, { room: ROOM, node: { id, region }, pipes: n, pipedIn });
    await pipes("east-1", "us-east", 1, 2);
    await pipes("west-1", "us-west", 1, 4);
    await pipes("west-2", "us-west", 1, 1); // serves nothing here: no entry appears
    await reserve("eu-1", "eu-west", Date.now());
    await pipes("eu-1", "eu-west", 1, 1); // a reservation is the control plane's: left as it is
    await join("west-1", "us-west", 3);
    await cascadeLeave(run, { room: ROOM, node: { id: "east-1", region: "us-east" }, participants: 1 });
    const entries = async () =>
      Object.fromEntries(Object.entries(await redis.hgetall(keys.roomNodes(ROOM))).map(([k, v]) => [k, JSON.parse(v)]));
    expect(await entries()).toEqual({
      "east-1": { region: "us-east", participants: 1, pipes: 1, pipedIn: 2 },
      "west-1": { region: "us-west", participants: 3, pipes: 1, pipedIn: 4 },
      "eu-1": { region: "eu-west", participants: 1, reserved: expect.any(Number) },
    });
    // The reserved node's join makes the entry its own (no `reserved`); then it may write pipes.
    await join("eu-1", "eu-west", 1);
    await pipes("eu-1", "eu-west", 1, 3);
    expect((await entries())["eu-1"]).toEqual({ region: "eu-west", participants: 1, pipes: 1, pipedIn: 3 });
    // An edge that leaves takes its figures with it; joining again starts without them.
    await cascadeLeave(run, { room: ROOM, node: { id: "west-1", region: "us-west" }, participants: 0 });
    await join("west-1", "us-west", 1);
    expect((await entries())["west-1"]).toEqual({ region: "us-west", participants: 1 });
  });

  it("the sweeper drops a dead edge's entry from the rooms it served (no ghost member)", async () => {
    await alive("east-1", "west-1");
    await placed("east-1", "us-east");
    await join("east-1", "us-east");
    expect(await join("west-1", "us-west", 2)).toEqual({ role: "edge", origin: "east-1" });
    expect(await redis.smembers(keys.nodeEdgeRooms("west-1"))).toEqual([ROOM]);
    await redis.zadd(keys.sweepNodes(), 1, "west-1");
    await redis.del(keys.node("west-1"));
    expect(await sweepDeadNodes(run, Date.now())).toEqual(["west-1"]);
    expect(await redis.hkeys(keys.roomNodes(ROOM))).toEqual(["east-1"]);
    expect(await redis.exists(keys.nodeEdgeRooms("west-1"))).toBe(0);
    // An edge that leaves takes its room off its list.
    await alive("west-2");
    await join("west-2", "us-west");
    await cascadeLeave(run, { room: ROOM, node: { id: "west-2", region: "us-west" }, participants: 0 });
    expect(await redis.exists(keys.nodeEdgeRooms("west-2"))).toBe(0);
  });

  it("50 concurrent joins from two regions: one origin, at most one edge per region", async () => {
    const east = ["east-1", "east-2", "east-3", "east-4"];
    const west = ["west-1", "west-2", "west-3", "west-4"];
    await alive(...east, ...west);
    await placed("east-1", "us-east");
    await join("east-1", "us-east");
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        i % 2 === 0 ? join(east[i % 4]!, "us-east") : join(west[i % 4]!, "us-west"),
      ),
    );
    expect(await redis.hget(keys.room(ROOM), "node")).toBe("east-1");
    const nodes = await redis.hgetall(keys.roomNodes(ROOM));
    const regions = Object.values(nodes).map((v) => (JSON.parse(v) as { region: string }).region);
    expect(regions.sort()).toEqual(["us-east", "us-west"]);
    expect(Object.keys(nodes).filter((n) => n !== "east-1")).toHaveLength(1);
    for (const r of results) expect(["origin", "edge", "spill"]).toContain(r.role);
  });
});
