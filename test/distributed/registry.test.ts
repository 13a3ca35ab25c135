// Node liveness bookkeeping against a real redis-server: the sweeper removes everything a dead
// node left (index entries, its rooms still mapped to it, their participants, its own keys) and
// nothing else; it is idempotent; a node that re-registered is left alone; a re-registering node
// reclaims its rooms unless another live node took them. Plus the client's rejoin rule.
import { describe, expect, it } from "vitest";
import type { Redis } from "ioredis";
import { keys } from "#shared/keys.ts";
import type { ScriptRunner } from "#shared/redis/runner.ts";
import type { ParticipantRecord } from "#shared/records.ts";
import { claimRoom, reportNode, sweepDeadNodes, upsertParticipant } from "#shared/registry.ts";
import { CloseCode } from "#shared/protocol.ts";
import { BridgeCloseCode } from "../../media-node/src/bridge/index.ts";
import { REJOIN_ATTEMPTS, rejoinBackoffMs, shouldRejoin } from "../../media-node/client/meridian-client.ts";
import { nodeRecord } from "../support/nodes.ts";
import { scriptRedisPerFile } from "../support/redis.ts";
import { dumpRedisWith } from "./cluster.ts";

let r: Redis;
let run: ScriptRunner;
scriptRedisPerFile((c) => {
  r = c.redis;
  run = c.run;
});

const participant = (identity: string, signalNode: string): ParticipantRecord => ({
  identity,
  sid: `PA_${identity}`,
  joinedAt: 1,
  signalNode,
  tracks: [],
});

/** Two nodes, each hosting a room with a participant; `dead` then stops reporting (record expires). */
async function twoNodes(): Promise<void> {
  for (const id of ["alive-node", "dead-node"]) {
    await reportNode(run, nodeRecord({ id, region: "us-east" }));
    const room = `room-of-${id}`;
    expect(await claimRoom(run, room, { id, region: "us-east" }, true)).toBe(true);
    await upsertParticipant(run, room, participant(`p-${id}`, id), id);
  }
  await r.set(keys.nodeReserved("dead-node"), "2");
  await r.del(keys.node("dead-node")); // what the TTL does
}

describe("sweepDeadNodes", () => {
  it("removes every trace of an expired node and nothing of the live one; idempotent", async () => {
    await twoNodes();
    const later = Date.now() + 60_000;
    expect(await sweepDeadNodes(run, later)).toEqual(["dead-node"]);
    expect(await dumpRedisWith(r, "dead-node")).toEqual([]);
    expect(await r.exists(keys.room("room-of-dead-node"), keys.roomParticipants("room-of-dead-node"))).toBe(0);
    expect(await r.zscore(keys.rooms(), "room-of-dead-node")).toBeNull();
    // The live node keeps everything: its record exists, so its sweep entry is not acted on.
    expect(await r.hget(keys.room("room-of-alive-node"), "node")).toBe("alive-node");
    expect(await r.hkeys(keys.roomParticipants("room-of-alive-node"))).toEqual(["p-alive-node"]);
    expect(await r.zscore(keys.sel("us-east", "expiry"), "alive-node")).not.toBeNull();
    expect(await sweepDeadNodes(run, later)).toEqual([]);
  });

  it("leaves a node alone until its registration expires, and a room already re-placed elsewhere", async () => {
    await twoNodes();
    expect(await sweepDeadNodes(run)).toEqual([]); // expiry still ahead in the sweep index
    // The dead node's room was re-placed on the live node before the sweep (placement did it).
    await r.hset(keys.room("room-of-dead-node"), "node", "alive-node");
    expect(await sweepDeadNodes(run, Date.now() + 60_000)).toEqual(["dead-node"]);
    expect(await r.hget(keys.room("room-of-dead-node"), "node")).toBe("alive-node");
  });

  it("a record that outlives its sweep score (report transit time) is swept once it really expires", async () => {
    // The node's clock said t−3 s when it reported: score = t+1 s, while the key lives until t+4 s.
    await reportNode(run, nodeRecord({ id: "slow-report", region: "us-east" }), Date.now() - 3_000);
    expect(await sweepDeadNodes(run, Date.now() + 2_000)).toEqual([]); // record still there
    expect(await r.zscore(keys.sweepNodes(), "slow-report")).not.toBeNull(); // still watched
    await r.del(keys.node("slow-report")); // what the TTL does
    expect(await sweepDeadNodes(run, Date.now() + 60_000)).toEqual(["slow-report"]);
    expect(await dumpRedisWith(r, "slow-report")).toEqual([]);
  });
});

describe("claimRoom", () => {
  it("maps an unmapped room (Redis lost it), keeps a live owner's mapping, takes over a dead owner's", async () => {
    await reportNode(run, nodeRecord({ id: "a", region: "us-east" }));
    await reportNode(run, nodeRecord({ id: "b", region: "us-west-2" }));
    expect(await claimRoom(run, "r", { id: "a", region: "us-east" }, false)).toBe(true);
    expect(await r.hgetall(keys.room("r"))).toMatchObject({ name: "r", node: "a", region: "us-east" });
    expect(await r.zscore(keys.rooms(), "r")).not.toBeNull();
    expect(await claimRoom(run, "r", { id: "b", region: "us-west-2" }, false)).toBe(false);
    expect(await r.hget(keys.room("r"), "node")).toBe("a");
    await r.del(keys.node("a"));
    expect(await claimRoom(run, "r", { id: "b", region: "us-west-2" }, true)).toBe(true);
    expect(await r.hget(keys.room("r"), "node")).toBe("b");
    expect(await r.sismember(keys.nodeRooms("a"), "r")).toBe(0);
    expect(await r.sismember(keys.nodeRooms("b"), "r")).toBe(1);
  });

  it("a fresh open drops participants recorded by a previous host; a re-sync keeps them", async () => {
    await reportNode(run, nodeRecord({ id: "a" }));
    await upsertParticipant(run, "r", participant("ghost", "dead"), "dead");
    await claimRoom(run, "r", { id: "a", region: "us-east" }, false);
    expect(await r.hkeys(keys.roomParticipants("r"))).toEqual(["ghost"]);
    await claimRoom(run, "r", { id: "a", region: "us-east" }, true);
    expect(await r.exists(keys.roomParticipants("r"))).toBe(0);
  });

  it("reportNode says when it (re-)registered the node", async () => {
    const rec = nodeRecord({ id: "n" });
    expect((await reportNode(run, rec)).registered).toBe(false);
    expect((await reportNode(run, rec)).registered).toBe(true);
    await r.del(keys.node("n"));
    expect((await reportNode(run, rec)).registered).toBe(false);
  });
});

describe("client rejoin rule", () => {
  it("rejoins on lost connections, dead or moved hosts; not on purpose closes or refusals", () => {
    for (const code of [
      1006,
      1001,
      CloseCode.WrongNode,
      CloseCode.Draining,
      BridgeCloseCode.PeerTimeout,
      BridgeCloseCode.OpenTimeout,
      BridgeCloseCode.EndpointClosed,
    ])
      expect(shouldRejoin(code), String(code)).toBe(true);
    for (const code of [
      1000,
      CloseCode.Unauthorized,
      CloseCode.Forbidden,
      CloseCode.DuplicateIdentity,
      CloseCode.RoomClosed,
      BridgeCloseCode.Refused,
    ])
      expect(shouldRejoin(code), String(code)).toBe(false);
  });

  it("backs off, bounded", () => {
    const waits = Array.from({ length: REJOIN_ATTEMPTS }, (_, i) => rejoinBackoffMs(i));
    expect(waits[0]).toBe(0);
    for (let i = 2; i < waits.length; i++) expect(waits[i]).toBeGreaterThanOrEqual(waits[i - 1]!);
    expect(Math.max(...waits)).toBeLessThanOrEqual(2_000);
  });
});
