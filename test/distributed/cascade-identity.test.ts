// One identity, one connection, across the nodes of a room that spans nodes (issue 9), as on one
// node: a participant token is accepted by the room's origin and by any node that may become its
// edge, so the same token can be connected to several nodes at once (a second tab, a client that
// rejoined elsewhere while its old session lingers, or a hostile client collecting node slots).
// The origin hears of every join and keeps the connection it heard of last; the other is closed
// with DuplicateIdentity, its node drops out of the room when it has nobody left, and the
// participant record in Redis stays the survivor's. Local cluster: real Worker, Redis and media
// nodes, one per region; clients speak the signaling protocol (no media is needed).
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keys } from "#shared/keys.ts";
import { CloseCode } from "#shared/protocol.ts";
import { startCluster, type LocalCluster } from "../../infra/local/cluster.ts";
import { SignalClient } from "../../media-node/client/signal-client.ts";
import { waitFor } from "../support/media-node.ts";
import { REGIONS, WASHINGTON, participantsOf } from "./cluster.ts";

const ORIGIN = "node-east-o";
const WEST = "node-west-e";
const EU = "node-eu-e";
const ROOM = "one-identity";

let c: LocalCluster;
let redis: Redis;
beforeAll(async () => {
  c = await startCluster({
    regions: [...REGIONS, { name: "eu-west", lat: 53.35, lon: -6.26 }],
    defaultRegion: "us-east",
    cascade: { enabled: true, max_nodes_per_room: 3 },
    nodes: [
      { nodeId: ORIGIN, region: "us-east" },
      { nodeId: WEST, region: "us-west-2" },
      { nodeId: EU, region: "eu-west" },
    ],
  });
  redis = c.redis!.client();
}, 90_000);
afterAll(async () => {
  redis?.disconnect();
  await c?.stop();
});

const signalUrl = (id: string) => c.nodes.find((n) => n.nodeId === id)!.signalUrl;

async function connect(url: string, token: string): Promise<{ client: SignalClient; sid: string; node: string }> {
  const client = await SignalClient.open(url, token);
  const joined = (await client.request("join", {})) as { participant: { sid: string }; node: { id: string } };
  return { client, sid: joined.participant.sid, node: joined.node.id };
}

const servingNodes = async () => Object.keys(await redis.hgetall(keys.roomNodes(ROOM))).sort();

describe("one identity connected to several nodes of a room", { timeout: 120_000 }, () => {
  it("the connection the origin heard of last stays; the others close with DuplicateIdentity and free their node slot", async () => {
    const bob = await c.join({ identity: "bob", room: ROOM, location: WASHINGTON });
    const b = await connect(bob.url, bob.token);
    expect(b.node).toBe(ORIGIN);
    const mallory = await c.join({ identity: "mallory", room: ROOM, location: WASHINGTON });
    const onOrigin = await connect(mallory.url, mallory.token);

    // The same token at the us-west-2 node: it becomes an edge (a new one, its link's hello names
    // her) and the origin closes her older connection.
    const onWest = await connect(signalUrl(WEST), mallory.token);
    expect(onWest.node).toBe(WEST);
    expect((await onOrigin.client.closed).code).toBe(CloseCode.DuplicateIdentity);
    await waitFor(
      async () => (await participantsOf(redis, ROOM)).mallory?.sid,
      (sid) => sid === onWest.sid,
      "mallory's record is her us-west-2 connection's",
    );

    // Again at the eu-west node: the us-west-2 edge is told to close hers and, empty, leaves the room.
    const onEu = await connect(signalUrl(EU), mallory.token);
    expect((await onWest.client.closed).code).toBe(CloseCode.DuplicateIdentity);
    expect(await waitFor(servingNodes, (n) => !n.includes(WEST), "us-west-2 leaves the room")).toEqual([ORIGIN, EU]);

    // Back at the origin (it knew her on eu-west: its own join replaces that one).
    const back = await connect(signalUrl(ORIGIN), mallory.token);
    expect((await onEu.client.closed).code).toBe(CloseCode.DuplicateIdentity);
    expect(await waitFor(servingNodes, (n) => !n.includes(EU), "eu-west leaves the room")).toEqual([ORIGIN]);
    const records = await participantsOf(redis, ROOM);
    expect(Object.keys(records).sort()).toEqual(["bob", "mallory"]);
    expect(records.mallory!.sid).toBe(back.sid);
    expect(b.client.isOpen && back.client.isOpen).toBe(true);
    b.client.close();
    back.client.close();
  });
});
