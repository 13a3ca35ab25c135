// SIGTERM drain of a real media node (child process): it leaves the eligible set at once, refuses
// new rooms but still admits joins to its rooms, and exits 0 with its record gone once its rooms
// end — or, when they do not, at the drain deadline after telling clients to reconnect.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Redis } from "ioredis";
import { keys } from "#shared/keys.ts";
import { CloseCode, type NotificationName } from "#shared/protocol.ts";
import { isEligible } from "#shared/selector/filters.ts";
import { SignalClient } from "../../media-node/client/signal-client.ts";
import { TestRedis } from "../support/redis.ts";
import { MediaNodeProcess, readNodeRecord, waitFor } from "../support/media-node.ts";

let redis: TestRedis;
let r: Redis;
const nodes: MediaNodeProcess[] = [];

beforeAll(async () => {
  redis = await TestRedis.start();
  r = redis.client();
});

afterAll(async () => {
  await Promise.all(nodes.map((n) => n.stop()));
  r?.disconnect();
  await redis?.stop();
});

async function start(env: Record<string, string>): Promise<MediaNodeProcess> {
  const n = await MediaNodeProcess.start({ redisUrl: redis.url, env });
  nodes.push(n);
  await waitFor(
    () => readNodeRecord(r, n.nodeId),
    (x) => x?.state === "SERVING",
    "first report",
  );
  return n;
}

async function join(node: MediaNodeProcess, identity: string, room: string): Promise<SignalClient> {
  const c = await SignalClient.open(node.signalUrl, await node.token(identity, room));
  await c.request("join", {});
  return c;
}

describe("SIGTERM drain", () => {
  it("DRAINING at once, no new rooms, joins to existing rooms still work; exits when its rooms end", async () => {
    const node = await start({ EMPTY_ROOM_TIMEOUT_MS: "300", DRAIN_DEADLINE_MS: "120000" });
    const alice = await join(node, "alice", "drain-room");
    const signalledAt = Date.now();
    node.signal("SIGTERM");

    const rec = await waitFor(
      () => readNodeRecord(r, node.nodeId),
      (x) => x?.state === "DRAINING",
      "DRAINING record",
      5_000,
    );
    console.log(`[drain] SIGTERM → DRAINING in Redis observed after ${Date.now() - signalledAt} ms (poll step 100 ms)`);
    expect(isEligible({ node: rec!, reserved: 0 }, Date.now())).toBe(false);
    expect(await r.zscore(keys.sel(node.region, "expiry"), node.nodeId)).toBeNull();
    expect((await fetch(`${node.httpUrl}/readyz`)).status).toBe(503);

    const newcomer = await SignalClient.open(node.signalUrl, await node.token("carol", "another-room"));
    await expect(newcomer.request("join", {})).rejects.toMatchObject({ code: "node_draining" });
    expect((await newcomer.closed).code).toBe(CloseCode.Draining);

    const bob = await join(node, "bob", "drain-room");
    expect(node.logs.join("\n")).not.toMatch(/"msg":"media node stopped"/);
    alice.close();
    bob.close();

    const exit = await node.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(await r.exists(keys.node(node.nodeId))).toBe(0);
    expect(await r.zscore(keys.nodes(), node.nodeId)).toBeNull();
    expect(await r.exists(keys.nodeRooms(node.nodeId))).toBe(0);
    expect(await r.exists(keys.roomParticipants("drain-room"))).toBe(0);
  });

  it("at the drain deadline, remaining clients get reconnect and the node exits", async () => {
    const node = await start({ DRAIN_DEADLINE_MS: "1500" });
    const stayer = await join(node, "stayer", "sticky-room");
    const notes: NotificationName[] = [];
    stayer.onNotification((name) => notes.push(name));
    node.signal("SIGTERM");
    expect((await stayer.closed).code).toBe(CloseCode.Draining);
    expect(notes).toContain("reconnect");
    expect(await node.exited).toEqual({ code: 0, signal: null });
    expect(await r.exists(keys.node(node.nodeId))).toBe(0);
  });
});
