// The two placement bugs the reliability suite found, on a real redis-server through the real
// scripts (shared/placement.ts, shared/registry.ts):
// 1. ghost participants and rooms: a room re-placed off a gone node keeps no participant of it,
//    a dead owner's participants go when a node takes the room over, and a room placed but never
//    opened by its node is swept once its deadline passes;
// 2. Redis restarting empty under running nodes: unmapped rooms wait (registry_warming) until the
//    registry has had one warm-up to hear every live node re-claim its rooms;
// 3. Redis going back in time (an RDB restore, a failover to a lagging replica; issue 12 #3): the
//    snapshot keeps registry:since, so only the nodes can tell; each logs the writes Redis
//    acknowledged to it (NodeWriteLog) and its next report finds Redis's log behind: warm-up,
//    re-sync, and the node that really hosts a room takes it over from a mapping the snapshot
//    brought back;
// 4. room settings (issue 12 #10): the hosting node writes back the settings it holds, so a room
//    keeps its participant limit, timeout, metadata and createdAt through FLUSHALL and a failover.
import type { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { findGhosts } from "../../bench/reliability/ghosts.ts";
import { NodeSelectorConfig } from "#shared/config.ts";
import { keys } from "#shared/keys.ts";
import { REGISTRY_RESTART_UPTIME_MS, REGISTRY_WARMUP_MS, REPORT_INTERVAL_MS, type NodeRecord } from "#shared/node.ts";
import { MIN_OPEN_WAIT_MS, placeRoom, type PlaceRequest, type PlaceResult } from "#shared/placement.ts";
import type { ScriptRunner } from "#shared/redis/runner.ts";
import {
  NodeWriteLog,
  claimRoom,
  closeRoom,
  releaseRooms,
  reportNode,
  sweepDeadNodes,
  removeParticipant,
  upsertParticipant,
  type ReportOutcome,
} from "#shared/registry.ts";
import { readRoomRecord, roomSettingsOf, type ParticipantRecord, type StoredRoomSettings } from "#shared/records.ts";
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
    // An older connection of the identity (closed as a duplicate) leaves the newer one's record.
    await removeParticipant(run, "room", "on-b", "b", "PA_older");
    expect(await r.hkeys(keys.roomParticipants("room"))).toEqual(["on-b"]);
    await removeParticipant(run, "room", "on-b", "b", "PA_on-b");
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

describe("a rejoining client names the node it lost (failedNode)", () => {
  /** Host h in eu-west; the client is nearest us-east, where a (least loaded) and b could relay. */
  async function hostAway(now = Date.now()): Promise<void> {
    await reportNode(run, nodeRecord({ id: "h", region: "eu-west" }, now), now);
    await reportNode(run, nodeRecord({ id: "a", region: "us-east" }, now), now);
    await reportNode(run, nodeRecord({ id: "b", region: "us-east", sysload: 0.2 }, now), now);
    expect(await claimRoom(run, "room", { id: "h", region: "eu-west" }, true)).toBe(true);
  }
  const rejoin = (failedNode?: string) =>
    place("room", { regionOrder: ["us-east", "eu-west"], wantSignal: true, ...(failedNode ? { failedNode } : {}) });
  const signalOf = (res: PlaceResult) => (res.status === "ok" ? res.signalNode?.id : `(${res.status})`);

  it("is never this client's signal node; the room stays where it is", async () => {
    await hostAway();
    expect(signalOf(await rejoin())).toBe("a");
    const steered = await rejoin("a");
    expect(signalOf(steered)).toBe("b");
    expect(hostOf(steered)).toBe("h");
    expect(signalOf(await rejoin("nobody-we-know"))).toBe("a");
    // A node whose record is gone is skipped for the next candidate of the region, not the region.
    await kill("a");
    expect(signalOf(await rejoin())).toBe("b");
  });

  it("a named host is answered 'host_late' (retry) only once it missed a report; nothing moves either way", async () => {
    await hostAway();
    expect(await rejoin("h")).toMatchObject({ status: "ok", placement: "existing", node: { id: "h" } });
    // The last report arrived 3 s ago (REPORT_LATE_MS is 2.75 s): 1 s of its 4 s TTL left.
    await r.pexpire(keys.node("h"), 1_000);
    const late = await rejoin("h");
    expect(late.status).toBe("host_late");
    expect(late.status === "host_late" && late.retryAfterMs).toBeLessThanOrEqual(1_000);
    expect(await r.hget(keys.room("room"), "node")).toBe("h");
    expect(await r.exists(keys.node("h"))).toBe(1);
    // Another client (no hint) still gets the host: one client's word affects only its own answer.
    expect(await rejoin()).toMatchObject({ status: "ok", node: { id: "h" } });
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
    expect(await place("lost", { now: now + 10 })).toEqual({
      status: "warming",
      retryAfterMs: REGISTRY_WARMUP_MS - 10,
    });
    expect(await place("lost", { now: now + 10, mode: "create" })).toMatchObject({ status: "warming" });
    expect(await r.exists(keys.room("lost"))).toBe(0); // nothing placed

    // b still hosts "kept" and re-claims it on re-registration: joins land on b at once.
    expect(await claimRoom(run, "kept", { id: "b", region: "us-east" }, false, now + 20)).toBe(true);
    expect(await place("kept", { now: now + 30 })).toMatchObject({
      status: "ok",
      placement: "existing",
      node: { id: "b" },
    });

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
      await reportNode(
        run,
        { ...nodeRecord({ id, region: "us-east" }, now), startedAt: now - REGISTRY_RESTART_UPTIME_MS + 1 },
        now,
      );
    }
    expect(await place("room", { now })).toMatchObject({ status: "ok", placement: "created" });
    // A long-running node whose record expired re-registers after the warm-up window: nothing
    // was lost but its own rooms (failover handled them), so nothing waits.
    await kill("a");
    const back: NodeRecord = {
      ...nodeRecord({ id: "a", region: "us-east" }, now + REGISTRY_WARMUP_MS),
      startedAt: now - 600_000,
    };
    expect((await reportNode(run, back, now + REGISTRY_WARMUP_MS)).registered).toBe(false);
    expect(await r.exists(keys.registryWarming())).toBe(0);
    expect(await place("other", { now: now + REGISTRY_WARMUP_MS + 1 })).toMatchObject({ status: "ok" });
  });
});

/** A media node's bookkeeping as node-registry.ts does it: its write log, the rooms it hosts (with
 * their participants and settings), and the re-sync it runs when a report asks for one. */
class Node {
  readonly log: NodeWriteLog;
  readonly record: NodeRecord;
  readonly rooms = new Map<string, { participants: ParticipantRecord[]; settings: StoredRoomSettings }>();
  constructor(id: string, startedAt = Date.now(), clock?: () => number) {
    this.log = new NodeWriteLog(run, clock);
    this.record = { ...nodeRecord({ id, region: "us-east" }), startedAt };
  }
  get id(): string {
    return this.record.id;
  }
  async open(room: string, identities: string[]): Promise<void> {
    const settings = await readSettings(room);
    expect(await claimRoom(this.log.runner, room, { id: this.id, region: "us-east" }, true)).toBe(true);
    const participants = identities.map((i) => participant(i, this.id));
    for (const p of participants) await upsertParticipant(this.log.runner, room, p, this.id);
    this.rooms.set(room, { participants, settings });
  }
  async close(room: string): Promise<void> {
    await closeRoom(this.log.runner, room, this.id);
    this.rooms.delete(room);
  }
  /** One report; re-syncs as the node does. Returns whether Redis was found to have lost writes. */
  outcome: ReportOutcome | undefined;
  async report(now = Date.now()): Promise<boolean> {
    const outcome = await this.log.report({ ...this.record, updatedAt: now }, now);
    this.outcome = outcome;
    if (outcome.lost || !outcome.registered) {
      await releaseRooms(this.log.runner, this.id, [...this.rooms.keys()]);
      for (const [room, held] of this.rooms)
        await claimRoom(this.log.runner, room, { id: this.id, region: "us-east" }, false, Date.now(), held);
    }
    return outcome.lost;
  }
}

/** What a hosting node reads of a room's settings (node-registry.ts roomRecord). */
async function readSettings(room: string): Promise<StoredRoomSettings> {
  return roomSettingsOf(readRoomRecord(await r.hgetall(keys.room(room))));
}

/** What an RDB snapshot keeps (every key, its absolute expiry); the function it returns puts Redis
 * back to that moment, dropping keys whose expiry passed since, as an RDB load does. */
async function snapshot(): Promise<() => Promise<void>> {
  const saved = await Promise.all(
    (await r.keys("*")).map(async (k) => ({
      k,
      dump: (await r.dumpBuffer(k))!,
      at: Number(await r.call("PEXPIRETIME", k)),
    })),
  );
  return async () => {
    await r.flushall();
    for (const { k, dump, at } of saved) {
      if (at > 0 && at <= Date.now()) continue;
      await r.restore(k, Math.max(at, 0), dump, ...((at > 0 ? ["ABSTTL"] : []) as ["ABSTTL"]));
    }
  };
}

describe("Redis went back in time", () => {
  it("rooms created after the snapshot wait for their host (warming), which re-claims them with its participants", async () => {
    const [a, b] = [new Node("a"), new Node("b")];
    for (const n of [a, b]) await n.report();
    await a.open("old", ["alice"]);
    for (const n of [a, b]) await n.report();
    const restore = await snapshot();
    await b.open("new", ["bob"]);
    a.rooms.get("old")?.participants.push(participant("carol", "a"));
    await upsertParticipant(a.log.runner, "old", participant("carol", "a"), "a");
    await restore();

    // b's next report finds Redis's log of its writes behind what it saw acknowledged: warm-up,
    // and b re-claims its room at once.
    expect(await b.report()).toBe(true);
    expect(await place("new")).toMatchObject({ status: "ok", placement: "existing", node: { id: "b" } });
    expect(await place("old")).toMatchObject({ status: "warming" }); // mapped before the warm-up, not re-claimed yet
    expect(await place("brand-new")).toMatchObject({ status: "warming" });
    expect(await a.report()).toBe(true);
    expect(await place("new")).toMatchObject({ status: "ok", placement: "existing", node: { id: "b" } });
    expect(await place("old")).toMatchObject({ status: "ok", placement: "existing", node: { id: "a" } });
    expect((await r.hkeys(keys.roomParticipants("old"))).sort()).toEqual(["alice", "carol"]);
    expect(await r.hkeys(keys.roomParticipants("new"))).toEqual(["bob"]);
    expect(await findGhosts(r, new Set(["a", "b"]))).toEqual([]);
    // Steady again: nothing is lost, no new warm-up.
    expect(await a.report()).toBe(false);
    expect(await b.report()).toBe(false);
  });

  it("a room moved after the snapshot is taken over by its real host, never answered on its old node", async () => {
    const [a, b] = [new Node("a"), new Node("b")];
    for (const n of [a, b]) await n.report();
    await a.open("moved", ["alice"]);
    await a.open("closed-since", ["dave"]);
    for (const n of [a, b]) await n.report();
    const restore = await snapshot();
    // The room moves to b (its people went there; a closed its copy); another room ends.
    await a.close("moved");
    await a.close("closed-since");
    await b.open("moved", ["alice"]);
    await restore(); // back: "moved" and "closed-since" mapped to a, with their old participants

    // Whichever node reports first, the restored mapping is not trusted; b takes the room over
    // from a (alive, but never re-claimed it), and a releases what it no longer hosts.
    expect(await b.report()).toBe(true);
    expect(await place("moved")).toMatchObject({ status: "ok", placement: "existing", node: { id: "b" } });
    expect(await a.report()).toBe(true);
    expect(await r.exists(keys.room("closed-since"))).toBe(0);
    expect(await r.smembers(keys.nodeRooms("a"))).toEqual([]);
    expect(await r.smembers(keys.nodeRooms("b"))).toEqual(["moved"]);
    expect(await r.hgetall(keys.roomParticipants("moved"))).toEqual({
      alice: JSON.stringify(participant("alice", "b")),
    });
    const after = await place("moved", { now: Date.now() + REGISTRY_WARMUP_MS });
    expect(hostOf(after)).toBe("b");
  });

  it("also when the other order: the old host releases first, then the real host maps the room again", async () => {
    const [a, b] = [new Node("a"), new Node("b")];
    for (const n of [a, b]) await n.report();
    await a.open("moved", ["alice"]);
    for (const n of [a, b]) await n.report();
    const restore = await snapshot();
    await a.close("moved");
    await b.open("moved", ["alice"]);
    await restore();
    expect(await a.report()).toBe(true);
    expect(await place("moved")).toMatchObject({ status: "warming" });
    expect(await b.report()).toBe(true);
    expect(await place("moved")).toMatchObject({ status: "ok", node: { id: "b" } });
  });

  it("a snapshot old enough that the node records expired on load is detected too", async () => {
    const a = new Node("a");
    await a.report();
    await a.open("room", ["alice"]);
    await a.report();
    const restore = await snapshot();
    await a.report();
    await restore();
    await r.del(keys.node("a"), keys.nodeWrites("a")); // older than the TTL: they expired on load
    expect(await a.report()).toBe(true);
    expect(await place("elsewhere")).toMatchObject({ status: "warming" });
  });

  it("also when the restore took longer than the record's TTL: the node's write log outlives it", async () => {
    let clock = 0;
    const a = new Node("a", Date.now(), () => clock);
    await a.report();
    await a.open("room", ["alice"]);
    const restore = await snapshot();
    await a.report();
    await restore();
    await r.del(keys.node("a")); // expired on load; the older write log is still in the snapshot
    clock += 10_000; // Redis was down for 10 s: the record could have expired by itself
    expect(await a.report()).toBe(true);
    expect(await place("elsewhere")).toMatchObject({ status: "warming" });
  });

  it("a node restarted under the same id does not inherit its predecessor's record or rooms", async () => {
    const before = new Node("a", Date.now() - 60_000);
    await before.report();
    await before.open("room", ["alice"]);
    // That process dies; a new one with the same id reports before the old record expires.
    const after = new Node("a");
    await after.report();
    expect(after.outcome).toMatchObject({ registered: false, lost: false });
    expect(await r.exists(keys.room("room"), keys.roomParticipants("room"))).toBe(0);
    expect(await r.smembers(keys.nodeRooms("a"))).toEqual([]);
  });
});

describe("room settings survive Redis losing them", () => {
  const settings = { emptyTimeout: 77, maxParticipants: 3, metadata: '{"topic":"kept"}' };

  it("FLUSHALL, then the host's re-sync writes back maxParticipants, emptyTimeout, metadata and createdAt; a later failover keeps the limit", async () => {
    const [a, b] = [new Node("a"), new Node("b")];
    for (const n of [a, b]) await n.report();
    const placed = await place("room", { mode: "create", settings });
    const host = hostOf(placed) === "a" ? a : b;
    const other = host === a ? b : a;
    await host.open("room", ["alice"]);
    const before = await r.hgetall(keys.room("room"));
    expect(before).toMatchObject({ emptyTimeout: "77", maxParticipants: "3", metadata: settings.metadata });

    await r.flushall();
    for (const n of [a, b]) await n.report();
    const after = await r.hgetall(keys.room("room"));
    for (const f of ["name", "node", "createdAt", "emptyTimeout", "maxParticipants", "metadata"])
      expect(after[f], f).toBe(before[f]);
    expect(await r.zscore(keys.rooms(), "room")).toBe(before.createdAt);

    // After the warm-up the host dies; the room is re-placed; the new host opens it with the limit.
    const later = Date.now() + REGISTRY_WARMUP_MS;
    await r.del(keys.node(host.id));
    await other.report(later);
    const moved = await place("room", { now: later });
    expect(moved).toMatchObject({ status: "ok", placement: "replaced", node: { id: other.id } });
    expect(await readSettings("room")).toEqual({ ...settings, createdAt: Number(before.createdAt) });
  });
});
