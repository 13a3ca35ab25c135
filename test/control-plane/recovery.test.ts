// The two placement bugs the reliability suite found, on a real redis-server through the real
// scripts (shared/placement.ts, shared/registry.ts):
// 1. ghost participants and rooms: a room re-placed off a gone node keeps no participant of it,
//    a dead owner's participants go when a node takes the room over, and a room placed but never
//    opened by its node is swept once its deadline passes;
// 2. Redis restarting empty under running nodes: unmapped rooms wait (registry_warming) until the
//    registry has had one warm-up to hear every live node re-claim its rooms.
import type { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { findGhosts } from "../../bench/reliability/ghosts.ts";
import { NodeSelectorConfig } from "#shared/config.ts";
import { keys } from "#shared/keys.ts";
import { REGISTRY_RESTART_UPTIME_MS, REGISTRY_WARMUP_MS, REPORT_INTERVAL_MS, type NodeRecord } from "#shared/node.ts";
import { MIN_OPEN_WAIT_MS, placeRoom, type PlaceRequest, type PlaceResult } from "#shared/placement.ts";
import type { ScriptRunner } from "#shared/redis/runner.ts";
import {
  claimRoom,
  closeRoom,
  reportNode,
  sweepDeadNodes,
  removeParticipant,
  upsertParticipant,
  type ParticipantRecord,
} from "#shared/registry.ts";
import { REGIONS, nodeRecord } from "../support/nodes.ts";
import { scriptRedisPerFile } from "../support/redis.ts";

let r: Redis;
let run: ScriptRunner;
scriptRedisPerFile((c) => {
  r = c.redis;
  run = c.run;
});

const config = NodeSelectorConfig.parse({ kind: "regionaware", regions: REGIONS });
const place = (room: string, o: Partial<PlaceRequest> = {}): Promise<PlaceResult> =>
  placeRoom(run, { room, mode: "join", autoCreate: true, config, regionOrder: ["us-east"], ...o });
const participant = (identity: string, node: string): ParticipantRecord => ({
  identity,
  sid: `PA_${identity}`,
  joinedAt: 1,
  signalNode: node,
  tracks: [],
});
const hostOf = (res: PlaceResult) => (res.status === "ok" ? res.node.id : `(${res.status})`);
const other = (id: string) => (id === "a" ? "b" : "a");

/** Nodes a and b (us-east), freshly started with the registry: no warm-up. */
async function twoFreshNodes(now = Date.now()): Promise<void> {
  for (const id of ["a", "b"]) await reportNode(run, nodeRecord({ id, region: "us-east" }, now), now);
}

/** What a node's TTL does when it is SIGKILLed (the record vanishes; the sweep entry stays). */
const kill = (id: string) => r.del(keys.node(id));

describe("ghosts after churn", () => {
  it("re-placing a room off a gone node drops that node's participants in the same step; the sweep leaves no ghost", async () => {
    await twoFreshNodes();
    const first = await place("room");
    const host = hostOf(first);
    expect(first).toMatchObject({ status: "ok", placement: "created" });
    expect(await claimRoom(run, "room", { id: host, region: "us-east" }, true)).toBe(true);
    await upsertParticipant(run, "room", participant("alice", host), host);
    await upsertParticipant(run, "room", participant("bob", host), host);

    await kill(host);
    // A join inside the dead node's sweep window re-places the room first (the order).
    const again = await place("room");
    expect(again).toMatchObject({ status: "ok", placement: "replaced", node: { id: other(host) } });
    expect(await r.exists(keys.roomParticipants("room"))).toBe(0);
    expect(await r.sismember(keys.nodeRooms(host), "room")).toBe(0);

    expect(await sweepDeadNodes(run, Date.now() + 60_000)).toEqual([host]);
    expect(await findGhosts(r, new Set([other(host)]))).toEqual([]);
    expect(await r.hget(keys.room("room"), "node")).toBe(other(host));
  });

  it("a node taking over a dead owner's room drops the dead owner's participants, also on a re-sync", async () => {
    await twoFreshNodes();
    expect(await claimRoom(run, "room", { id: "a", region: "us-east" }, true)).toBe(true);
    await upsertParticipant(run, "room", participant("on-a", "a"), "a");
    await kill("a");
    // b re-syncs a room it kept serving while out of Redis (fresh = false), then its participants.
    expect(await claimRoom(run, "room", { id: "b", region: "us-east" }, false)).toBe(true);
    await upsertParticipant(run, "room", participant("on-b", "b"), "b");
    expect(await r.hkeys(keys.roomParticipants("room"))).toEqual(["on-b"]);
    // Re-syncing its own room keeps what it wrote.
    expect(await claimRoom(run, "room", { id: "b", region: "us-east" }, false)).toBe(true);
    expect(await r.hkeys(keys.roomParticipants("room"))).toEqual(["on-b"]);
    // The node that lost the room (back from a partition, closing its copy) can neither add nor
    // remove entries of the new host's participants.
    expect(await upsertParticipant(run, "room", participant("late-a", "a"), "a")).toBe(false);
    await removeParticipant(run, "room", "on-b", "a");
    expect(await r.hkeys(keys.roomParticipants("room"))).toEqual(["on-b"]);
    await removeParticipant(run, "room", "on-b", "b");
    expect(await r.exists(keys.roomParticipants("room"))).toBe(0);
  });

  it("a room placed but never opened by its node is swept after its emptyTimeout (never before MIN_OPEN_WAIT_MS)", async () => {
    const now = Date.now();
    await twoFreshNodes(now);
    const settings = (emptyTimeout: number) => ({ emptyTimeout, maxParticipants: 0, metadata: "" });
    const idle = hostOf(await place("idle", { mode: "create", settings: settings(120), now }));
    const quick = hostOf(await place("quick", { mode: "create", settings: settings(1), now }));
    const opened = hostOf(await place("opened", { now }));
    expect(await claimRoom(run, "opened", { id: opened, region: "us-east" }, true, now + 1000)).toBe(true);

    expect(await sweepDeadNodes(run, now + MIN_OPEN_WAIT_MS - 1)).toEqual([]);
    expect(await r.zrange(keys.rooms(), 0, -1)).toEqual(["idle", "opened", "quick"]); // same createdAt: by name
    await sweepDeadNodes(run, now + MIN_OPEN_WAIT_MS);
    expect(await r.zrange(keys.rooms(), 0, -1)).toEqual(["idle", "opened"]);
    expect(await r.exists(keys.room("quick"))).toBe(0);
    expect(await r.sismember(keys.nodeRooms(quick), "quick")).toBe(0);
    await sweepDeadNodes(run, now + 120_000);
    expect(await r.zrange(keys.rooms(), 0, -1)).toEqual(["opened"]);
    expect(await r.sismember(keys.nodeRooms(idle), "idle")).toBe(0);
    expect(await r.zcard(keys.unclaimedRooms())).toBe(0);
    // The opened room is the node's to close (its own empty timeout), never the sweeper's.
    await sweepDeadNodes(run, now + 86_400_000);
    expect(await r.hget(keys.room("opened"), "node")).toBe(opened);
  });

  it("re-placement arms the open deadline again; closing a room disarms it", async () => {
    const now = Date.now();
    await twoFreshNodes(now);
    const host = hostOf(await place("room", { now }));
    await claimRoom(run, "room", { id: host, region: "us-east" }, true, now);
    expect(await r.zscore(keys.unclaimedRooms(), "room")).toBeNull();
    await kill(host);
    expect(await place("room", { now: now + 1000 })).toMatchObject({ placement: "replaced" });
    expect(Number(await r.zscore(keys.unclaimedRooms(), "room"))).toBe(now + 1000 + 300_000); // default emptyTimeout
    expect(await closeRoom(run, "room", other(host))).toBe(true);
    expect(await r.zcard(keys.unclaimedRooms())).toBe(0);
  });
});

describe("registry warm-up after Redis restarts empty", () => {
  /** Nodes that were running long before this (empty) registry's first report. */
  async function restartedUnder(now: number, registryStart = now): Promise<void> {
    for (const id of ["a", "b"]) {
      const rec: NodeRecord = { ...nodeRecord({ id, region: "us-east" }, now), startedAt: registryStart - 60_000 };
      await reportNode(run, rec, now);
    }
  }

  it("unmapped rooms get a retryable 'warming' until the warm-up ends; re-claimed rooms are served at once", async () => {
    const now = Date.now();
    await restartedUnder(now);
    expect(Number(await r.get(keys.registrySince()))).toBe(now);
    expect(await place("lost", { now: now + 10 })).toEqual({ status: "warming", retryAfterMs: REGISTRY_WARMUP_MS - 10 });
    expect(await place("lost", { now: now + 10, mode: "create" })).toMatchObject({ status: "warming" });
    expect(await r.exists(keys.room("lost"))).toBe(0); // nothing placed

    // b still hosts "kept" and re-claims it on re-registration: joins land on b at once.
    expect(await claimRoom(run, "kept", { id: "b", region: "us-east" }, false, now + 20)).toBe(true);
    expect(await place("kept", { now: now + 30 })).toMatchObject({ status: "ok", placement: "existing", node: { id: "b" } });

    await restartedUnder(now + REPORT_INTERVAL_MS, now); // their next reports (still registered)
    const after = await place("lost", { now: now + REGISTRY_WARMUP_MS });
    expect(after).toMatchObject({ status: "ok", placement: "created" });
  });

  it("a node re-registering late into the young registry (not first) starts the warm-up too", async () => {
    const now = Date.now();
    await twoFreshNodes(now); // a new deployment: no warm-up
    expect(await place("new-room", { now: now + 10 })).toMatchObject({ status: "ok" });
    await r.flushall(); // Redis restarts empty
    await reportNode(run, nodeRecord({ id: "fresh", region: "us-east" }, now + 100), now + 100); // just started
    expect(await place("x", { now: now + 110 })).toMatchObject({ status: "ok" });
    const old: NodeRecord = { ...nodeRecord({ id: "old", region: "us-east" }, now + 500), startedAt: now - 60_000 };
    await reportNode(run, old, now + 500);
    expect(await place("y", { now: now + 510 })).toEqual({ status: "warming", retryAfterMs: REGISTRY_WARMUP_MS - 410 });
  });

  it("no warm-up for a new deployment, nor for a node re-registering into an older registry", async () => {
    const now = Date.now();
    // Nodes that started with the registry (up for less than one report interval).
    for (const id of ["a", "b"]) {
      await reportNode(run, { ...nodeRecord({ id, region: "us-east" }, now), startedAt: now - REGISTRY_RESTART_UPTIME_MS + 1 }, now);
    }
    expect(await place("room", { now })).toMatchObject({ status: "ok", placement: "created" });
    // A long-running node whose record expired re-registers after the warm-up window: nothing
    // was lost but its own rooms (failover handled them), so nothing waits.
    await kill("a");
    const back: NodeRecord = { ...nodeRecord({ id: "a", region: "us-east" }, now + REGISTRY_WARMUP_MS), startedAt: now - 600_000 };
    expect((await reportNode(run, back, now + REGISTRY_WARMUP_MS)).registered).toBe(false);
    expect(await r.exists(keys.registryWarming())).toBe(0);
    expect(await place("other", { now: now + REGISTRY_WARMUP_MS + 1 })).toMatchObject({ status: "ok" });
  });
});
