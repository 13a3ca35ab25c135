// Redis losing data under running nodes, on a real redis-server through the real scripts:
// 1. going back in time (an RDB restore, a failover to a lagging replica): the snapshot keeps
//    registry:since, so only the nodes can tell; each counts the writes Redis acknowledged to it
//    (NodeWriteLog) and its next report finds Redis's count behind: warm-up, re-sync, and the node
//    that really hosts a room takes it over from a mapping the snapshot brought back;
// 2. room settings: the hosting node writes back the settings it holds, so a room keeps its
//    participant limit, timeout, metadata and createdAt through FLUSHALL and a later failover.
import type { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { findGhosts } from "../../bench/reliability/ghosts.ts";
import { NodeSelectorConfig } from "#shared/config.ts";
import { keys } from "#shared/keys.ts";
import { REGISTRY_WARMUP_MS, type NodeRecord } from "#shared/node.ts";
import { placeRoom, type PlaceRequest, type PlaceResult } from "#shared/placement.ts";
import type { ScriptRunner } from "#shared/redis/runner.ts";
import { NodeWriteLog, claimRoom, closeRoom, releaseRooms, upsertParticipant, type ParticipantRecord, type StoredRoomSettings } from "#shared/registry.ts";
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
const hostOf = (res: PlaceResult) => (res.status === "ok" ? res.node.id : `(${res.status})`);
const participant = (identity: string, node: string): ParticipantRecord => ({ identity, sid: `PA_${identity}`, joinedAt: 1, signalNode: node, tracks: [] });

/** A media node's bookkeeping as node-registry.ts does it: its write log, the rooms it hosts (with
 * their participants and settings), and the re-sync it runs when a report asks for one. */
class Node {
  readonly log = new NodeWriteLog(run);
  readonly record: NodeRecord;
  readonly rooms = new Map<string, { participants: ParticipantRecord[]; settings: StoredRoomSettings }>();
  constructor(id: string) {
    this.record = nodeRecord({ id, region: "us-east" });
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
  async report(now = Date.now()): Promise<boolean> {
    const outcome = await this.log.report({ ...this.record, updatedAt: now }, now);
    if (outcome.lost || !outcome.registered) {
      await releaseRooms(this.log.runner, this.id, [...this.rooms.keys()]);
      for (const [room, held] of this.rooms) await claimRoom(this.log.runner, room, { id: this.id, region: "us-east" }, false, Date.now(), held);
    }
    return outcome.lost;
  }
}

/** What node-registry.ts roomSettings reads. */
async function readSettings(room: string): Promise<StoredRoomSettings> {
  const h = await r.hgetall(keys.room(room));
  const n = (v: string | undefined) => (v === undefined ? {} : Number(v));
  return {
    ...(h.maxParticipants !== undefined ? { maxParticipants: n(h.maxParticipants) as number } : {}),
    ...(h.emptyTimeout !== undefined ? { emptyTimeout: n(h.emptyTimeout) as number } : {}),
    ...(h.createdAt !== undefined ? { createdAt: n(h.createdAt) as number } : {}),
    ...(h.metadata !== undefined ? { metadata: h.metadata } : {}),
  };
}

/** What an RDB snapshot keeps (every key, its absolute expiry); the function it returns puts Redis
 * back to that moment, dropping keys whose expiry passed since, as an RDB load does. */
async function snapshot(): Promise<() => Promise<void>> {
  const saved = await Promise.all(
    (await r.keys("*")).map(async (k) => ({ k, dump: (await r.dumpBuffer(k))!, at: Number(await r.call("PEXPIRETIME", k)) })),
  );
  return async () => {
    await r.flushall();
    for (const { k, dump, at } of saved) {
      if (at > 0 && at <= Date.now()) continue;
      await r.restore(k, at > 0 ? at : 0, dump, ...((at > 0 ? ["ABSTTL"] : []) as ["ABSTTL"]));
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
    expect(await r.hgetall(keys.roomParticipants("moved"))).toEqual({ alice: JSON.stringify(participant("alice", "b")) });
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
    await r.flushall(); // stands in for a snapshot whose node records had expired: registry:since stays
    await r.set(keys.registrySince(), "1");
    await restore();
    await r.del(keys.node("a"), keys.nodeWrites("a"));
    expect(await a.report()).toBe(true);
    expect(await place("elsewhere")).toMatchObject({ status: "warming" });
  });
});

describe("room settings survive Redis losing them", () => {
  const settings = { emptyTimeout: 77, maxParticipants: 3, metadata: "{\"topic\":\"kept\"}" };

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
    for (const f of ["name", "node", "createdAt", "emptyTimeout", "maxParticipants", "metadata"]) expect(after[f], f).toBe(before[f]);
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
