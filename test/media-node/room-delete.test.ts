// A deleted room stays deleted (issue 12 finding 7), on a real media node (cluster mode, real
// mediasoup, real Redis) driven by the control plane's own functions: placeRoom (join/create) and
// deleteRoom (DELETE /v1/rooms/{name}). A media token minted before the delete names the room's
// sid; the node refuses it once the record is gone or has another sid, and never writes the
// record back — so a node also cannot create a room the control plane did not place
// (AUTO_CREATE=false).
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SignalClient, SignalError } from "../../media-node/client/signal-client.ts";
import { deleteRoom } from "../../control-plane/src/store.ts";
import { CONTROL_PLANE, busSigner } from "#shared/bus.ts";
import { NodeSelectorConfig } from "#shared/config.ts";
import { ErrorCode } from "#shared/errors.ts";
import { keys } from "#shared/keys.ts";
import { placeRoom } from "#shared/placement.ts";
import { CloseCode } from "#shared/protocol.ts";
import { ioredisRunner } from "#shared/redis/ioredis.ts";
import type { ScriptRunner } from "#shared/redis/runner.ts";
import {
  API_KEY,
  API_SECRET,
  MediaNodeProcess,
  mediasoupWorkerAvailable,
  readNodeRecord,
  waitFor,
} from "../support/media-node.ts";
import { TestRedis } from "../support/redis.ts";

let redis: TestRedis;
let r: Redis;
let run: ScriptRunner;
let node: MediaNodeProcess;

beforeAll(async () => {
  redis = await TestRedis.start();
  r = redis.client();
  run = ioredisRunner(r);
  node = await MediaNodeProcess.start({
    redisUrl: redis.url,
    region: "local",
    env: { EMPTY_ROOM_TIMEOUT_MS: "60000" },
  });
  await waitFor(
    () => readNodeRecord(r, node.nodeId),
    (rec) => rec !== null,
    "node registered",
  );
});
afterAll(async () => {
  await node?.stop();
  r?.disconnect();
  await redis?.stop();
});

/** What POST /v1/join does: place (or find) the room, mint a media token naming its sid. */
async function join(room: string, identity: string): Promise<string> {
  const placed = await placeRoom(run, {
    room,
    mode: "join",
    autoCreate: true,
    config: NodeSelectorConfig.parse({ regions: [{ name: "local", lat: 0, lon: 0 }] }),
    regionOrder: ["local"],
  });
  if (placed.status !== "ok") throw new Error(`placement: ${placed.status}`);
  return node.token(
    identity,
    room,
    {},
    { meridian: { node: placed.node.id, region: placed.node.region, roomSid: placed.roomSid } },
  );
}

async function tryJoin(token: string): Promise<{ error: string; close?: number }> {
  const c = await SignalClient.open(node.signalUrl, token);
  try {
    await c.request("join", {});
    c.close();
    return { error: "none" };
  } catch (e) {
    return { error: e instanceof SignalError ? e.code : String(e), close: (await c.closed).code };
  }
}

describe.runIf(mediasoupWorkerAvailable())("a deleted room stays deleted", () => {
  it("a media token minted before DELETE cannot reopen the room, and the node does not write its record back", async () => {
    const alice = await join("doomed", "alice");
    const early = await join("doomed", "mallory"); // minted before the delete, used after it
    const a = await SignalClient.open(node.signalUrl, alice);
    await a.request("join", {});
    await waitFor(
      () => r.sismember(keys.nodeRooms(node.nodeId), "doomed"),
      (m) => m === 1,
      "room claimed",
    );

    expect(await deleteRoom(run, "doomed", await busSigner(new Map([[API_KEY, API_SECRET]]), CONTROL_PLANE))).toBe(
      node.nodeId,
    );
    expect((await a.closed).code).toBe(CloseCode.RoomClosed);

    expect(await tryJoin(early)).toEqual({ error: ErrorCode.NotFound, close: CloseCode.RoomClosed });
    await new Promise((res) => setTimeout(res, 300)); // any write the node would make has landed
    expect(await r.exists(keys.room("doomed"))).toBe(0);
    expect(await r.zscore(keys.rooms(), "doomed")).toBeNull();

    // Re-created under the same name: a new incarnation, which the old token does not open.
    const fresh = await join("doomed", "bob");
    expect(await tryJoin(early)).toEqual({ error: ErrorCode.NotFound, close: CloseCode.RoomClosed });
    expect(await tryJoin(fresh)).toEqual({ error: "none" });
  });

  it("a node does not create a room the control plane never placed (AUTO_CREATE=false holds at the node)", async () => {
    const token = await node.token(
      "eve",
      "never-placed",
      {},
      { meridian: { node: node.nodeId, region: node.region, roomSid: "RM_forged-or-stale" } },
    );
    expect(await tryJoin(token)).toEqual({ error: ErrorCode.NotFound, close: CloseCode.RoomClosed });
    await new Promise((res) => setTimeout(res, 300));
    expect(await r.exists(keys.room("never-placed"))).toBe(0);
  });
});
