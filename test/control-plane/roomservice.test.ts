// livekit-server-sdk's RoomServiceClient, unchanged, against the real control-plane Worker
// (Miniflare) with two real media-node processes and a real redis-server: every RoomService method,
// results as the SDK parses them; the effect of each operation on a live room as the participant
// itself and another participant observe it over signaling; grants; bad input; a node that does
// not answer.
import {
  AccessToken,
  DataPacket_Kind,
  ParticipantInfo_State,
  RoomServiceClient,
  ServerError,
  TrackSource,
  TrackType,
} from "livekit-server-sdk";
import { ParticipantInfo_Kind } from "@livekit/protocol";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keys } from "../../shared/keys.ts";
import { CloseCode, type NotificationName } from "../../shared/protocol.ts";
import { ErrorCode } from "../../shared/errors.ts";
import { CONTROL_PLANE } from "../../shared/bus.ts";
import { BusAuth } from "../../media-node/src/cluster/bus-auth.ts";
import { SignalClient, type SignalError } from "../../media-node/client/signal-client.ts";
import { startCluster, type LocalCluster } from "../../infra/local/cluster.ts";
import { waitFor } from "../support/media-node.ts";
import { metric } from "../distributed/cluster.ts";

const RPC_TIMEOUT_MS = 1000;
let c: LocalCluster;
let svc: RoomServiceClient;

beforeAll(async () => {
  c = await startCluster({
    regions: [{ name: "us-east", lat: 39.04, lon: -77.49 }],
    nodes: [
      { nodeId: "rs-a", region: "us-east" },
      { nodeId: "rs-b", region: "us-east" },
    ],
    workerVars: { ROOM_RPC_TIMEOUT_MS: String(RPC_TIMEOUT_MS) },
  });
  svc = new RoomServiceClient(c.workerUrl, c.apiKey, c.apiSecret);
}, 60_000);
afterAll(async () => {
  await c?.stop();
});

interface Peer {
  client: SignalClient;
  notes: { name: NotificationName; data: any }[];
  joined: any;
}

/** What an app does: an SDK AccessToken (name, metadata, attributes), POST /v1/join, then signaling. */
async function joinAs(
  room: string,
  identity: string,
  o: { name?: string; metadata?: string; attributes?: Record<string, string> } = {},
): Promise<Peer> {
  const at = new AccessToken(c.apiKey, c.apiSecret, { identity, ...o });
  at.addGrant({ roomJoin: true, room });
  const r = await c.workerFetch("/v1/join", {
    method: "POST",
    headers: { authorization: `Bearer ${await at.toJwt()}`, "content-type": "application/json" },
    body: "{}",
  });
  expect(r.status).toBe(200);
  const { url, token } = r.body as { url: string; token: string };
  const client = await SignalClient.open(url, token);
  const notes: Peer["notes"] = [];
  client.onNotification((name, data) => notes.push({ name, data }));
  return { client, notes, joined: await client.request("join", {}) };
}

const opus = {
  codecs: [{ mimeType: "audio/opus", payloadType: 100, clockRate: 48000, channels: 2 }],
  encodings: [{ ssrc: 1111 }],
};

async function publishAudio(p: Peer): Promise<string> {
  const send = await p.client.request("createTransport", { direction: "send" });
  return (await p.client.request("produce", { transportId: send.transportId, kind: "audio", rtpParameters: opus }))
    .trackId;
}

async function subscribe(p: Peer, trackId: string) {
  await p.client.request("setRtpCapabilities", { rtpCapabilities: p.joined.routerRtpCapabilities });
  await p.client.request("createTransport", { direction: "recv" });
  return p.client.request("consume", { trackId });
}

const note = (p: Peer, name: NotificationName, match: (d: any) => boolean = () => true) =>
  waitFor(async () => p.notes.find((n) => n.name === name && match(n.data)), Boolean, `${name} notification`).then(
    (n) => n!.data,
  );

async function twirpError(p: Promise<unknown>): Promise<{ code: string | undefined; status: number }> {
  const e = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(e).toBeInstanceOf(ServerError);
  return { code: (e as ServerError).code, status: (e as ServerError).status };
}

describe("RoomService over Twirp, with livekit-server-sdk", () => {
  it("CreateRoom, ListRooms, DeleteRoom: rooms as the SDK parses them; CreateRoom of an existing room returns it", async () => {
    const before = Date.now();
    const room = await svc.createRoom({ name: "rs-rooms", emptyTimeout: 120, maxParticipants: 7, metadata: "m1" });
    expect(room.sid).toMatch(/^RM_[A-Za-z0-9_-]{12}$/);
    expect(room).toMatchObject({
      name: "rs-rooms",
      emptyTimeout: 120,
      maxParticipants: 7,
      metadata: "m1",
      numParticipants: 0,
    });
    expect(Number(room.creationTimeMs)).toBeGreaterThanOrEqual(before);
    expect(room.creationTime).toBe(room.creationTimeMs / 1000n);
    const again = await svc.createRoom({ name: "rs-rooms", metadata: "other" });
    expect(again).toMatchObject({ sid: room.sid, metadata: "m1", creationTimeMs: room.creationTimeMs });

    expect((await svc.listRooms()).map((r) => r.name)).toContain("rs-rooms");
    const named = await svc.listRooms(["rs-rooms", "rs-none"]);
    expect(named.map((r) => [r.name, r.sid])).toEqual([["rs-rooms", room.sid]]);

    await svc.deleteRoom("rs-rooms");
    expect(await svc.listRooms(["rs-rooms"])).toEqual([]);
    expect(await twirpError(svc.deleteRoom("rs-rooms"))).toEqual({ code: "not_found", status: 404 });
  });

  describe("on a live room", () => {
    const room = "rs-live";
    let alice: Peer;
    let bob: Peer;
    let trackId: string;

    beforeAll(async () => {
      await svc.createRoom({ name: room, metadata: "r0" });
      alice = await joinAs(room, "alice", { name: "Alice", metadata: '{"role":"host"}', attributes: { team: "red" } });
      bob = await joinAs(room, "bob", { name: "Bob" });
      trackId = await publishAudio(alice);
    }, 30_000);

    it("token name, metadata and attributes show in join responses, notifications and the SDK's listings", async () => {
      expect(alice.joined.roomMetadata).toBe("r0");
      // The node names the room with the control plane's sid (webhooks carry it).
      expect((await svc.listRooms([room]))[0]!.sid).toMatch(/^RM_/);
      expect(bob.joined.participants).toEqual([
        expect.objectContaining({
          identity: "alice",
          name: "Alice",
          metadata: '{"role":"host"}',
          attributes: { team: "red" },
        }),
      ]);
      expect((await note(alice, "participantJoined")).participant).toMatchObject({ identity: "bob", name: "Bob" });
      await note(bob, "trackPublished", (d) => d.track.trackId === trackId);

      const ps = await waitFor(
        () => svc.listParticipants(room),
        (ps) => ps.length === 2 && ps.some((p) => p.tracks.length === 1),
        "both listed, alice's track",
      );
      const a = ps.find((p) => p.identity === "alice")!;
      expect(a.sid).toMatch(/^PA_/);
      expect(a).toMatchObject({
        name: "Alice",
        metadata: '{"role":"host"}',
        attributes: { team: "red" },
        state: ParticipantInfo_State.ACTIVE,
        kind: ParticipantInfo_Kind.STANDARD,
        isPublisher: true,
      });
      expect(Math.abs(Number(a.joinedAt) - Date.now() / 1000)).toBeLessThan(60);
      expect(a.joinedAtMs / 1000n).toBe(a.joinedAt);
      expect(a.permission).toMatchObject({ canPublish: true, canSubscribe: true, canPublishData: true, hidden: false });
      expect(a.tracks).toHaveLength(1);
      expect(a.tracks[0]).toMatchObject({
        sid: trackId,
        type: TrackType.AUDIO,
        source: TrackSource.MICROPHONE,
        mimeType: "audio/opus",
        muted: false,
      });
      expect(await svc.getParticipant(room, "alice")).toEqual(a);
      expect(await twirpError(svc.getParticipant(room, "nobody"))).toEqual({ code: "not_found", status: 404 });
    });

    it("MutePublishedTrack pauses the producer on the server and tells the publisher and the others; unmute", async () => {
      const consumed = await subscribe(bob, trackId);
      expect(consumed.producerPaused).toBe(false);
      const muted = await svc.mutePublishedTrack(room, "alice", trackId, true);
      expect(muted).toMatchObject({ sid: trackId, muted: true, type: TrackType.AUDIO });
      expect(await note(alice, "trackMuted", (d) => d.muted)).toEqual({ identity: "alice", trackId, muted: true });
      expect(await note(bob, "trackMuted", (d) => d.muted)).toEqual({ identity: "alice", trackId, muted: true });
      expect((await svc.getParticipant(room, "alice")).tracks[0]!.muted).toBe(true);

      expect((await svc.mutePublishedTrack(room, "alice", trackId, false)).muted).toBe(false);
      await note(bob, "trackMuted", (d) => !d.muted);
      expect(await twirpError(svc.mutePublishedTrack(room, "alice", "no-such-track", true))).toEqual({
        code: "not_found",
        status: 404,
      });
    });

    it("UpdateParticipant: name, metadata and attributes reach everyone and the listings", async () => {
      const p = await svc.updateParticipant(room, "alice", {
        metadata: "m2",
        name: "Alice B",
        attributes: { team: "", lang: "fr" },
      });
      expect(p).toMatchObject({ identity: "alice", name: "Alice B", metadata: "m2", attributes: { lang: "fr" } });
      expect((await note(bob, "participantUpdated")).participant).toMatchObject({
        identity: "alice",
        name: "Alice B",
        metadata: "m2",
        attributes: { lang: "fr" },
      });
      expect(await note(alice, "participantUpdated")).toMatchObject({
        participant: { metadata: "m2" },
        permissions: { canPublish: true },
      });
      expect(await svc.getParticipant(room, "alice")).toMatchObject({
        name: "Alice B",
        metadata: "m2",
        attributes: { lang: "fr" },
      });
    });

    it("UpdateSubscriptions unsubscribes a participant from a track; subscribe tells it the track again", async () => {
      await svc.updateSubscriptions(room, "bob", [trackId], false);
      await note(bob, "consumerClosed", (d) => d.trackId === trackId);
      const published = bob.notes.filter((n) => n.name === "trackPublished").length;
      await svc.updateSubscriptions(room, "bob", [trackId], true);
      await waitFor(
        async () => bob.notes.filter((n) => n.name === "trackPublished").length,
        (n) => n === published + 1,
        "track announced again",
      );
      expect((await bob.client.request("consume", { trackId })).trackId).toBe(trackId);
    });

    it("UpdateParticipant permission: losing canPublish closes its tracks at once, losing canSubscribe its consumers", async () => {
      const p = await svc.updateParticipant(room, "alice", {
        permission: { canPublish: false, canSubscribe: true, canPublishData: false },
      });
      expect(p.permission).toMatchObject({ canPublish: false, canSubscribe: true, canPublishData: false });
      expect(p.tracks).toEqual([]);
      expect(await note(alice, "trackUnpublished")).toEqual({ identity: "alice", trackId });
      await note(bob, "trackUnpublished", (d) => d.trackId === trackId);
      await note(
        bob,
        "consumerClosed",
        (d) => d.trackId === trackId && bob.notes.filter((n) => n.name === "consumerClosed").length === 2,
      );
      const err = await alice.client.request("createTransport", { direction: "send" }).catch((e: unknown) => e);
      expect((err as SignalError).code).toBe(ErrorCode.Forbidden);

      // bob subscribes to carol's track, then loses canSubscribe: the consumer goes at once.
      const carol = await joinAs(room, "carol");
      const carolTrack = await publishAudio(carol);
      await note(bob, "trackPublished", (d) => d.track.trackId === carolTrack);
      await bob.client.request("consume", { trackId: carolTrack });
      await svc.updateParticipant(room, "bob", {
        permission: { canPublish: true, canSubscribe: false, canPublishData: true },
      });
      await note(bob, "consumerClosed", (d) => d.trackId === carolTrack);
      expect(
        ((await bob.client.request("consume", { trackId: carolTrack }).catch((e: unknown) => e)) as SignalError).code,
      ).toBe(ErrorCode.Forbidden);
      carol.client.close();
    });

    it("UpdateRoomMetadata is stored and broadcast; SendData is accepted within its limits", async () => {
      const r = await svc.updateRoomMetadata(room, "r1");
      expect(r).toMatchObject({ name: room, metadata: "r1" });
      expect(await note(alice, "roomUpdated")).toEqual({ metadata: "r1" });
      expect(await note(bob, "roomUpdated")).toEqual({ metadata: "r1" });
      expect((await svc.listRooms([room]))[0]!.metadata).toBe("r1");

      await svc.sendData(room, new TextEncoder().encode("hi"), DataPacket_Kind.RELIABLE, {
        topic: "chat",
        destinationIdentities: ["alice"],
      });
      const big = new Uint8Array(60 * 1024 + 1);
      expect(await twirpError(svc.sendData(room, big, DataPacket_Kind.RELIABLE, {}))).toEqual({
        code: "invalid_argument",
        status: 400,
      });
      expect(await twirpError(svc.updateRoomMetadata(room, "x".repeat(16 * 1024 + 1)))).toEqual({
        code: "invalid_argument",
        status: 400,
      });
      expect(await twirpError(svc.updateParticipant(room, "alice", { metadata: "x".repeat(64_001) }))).toEqual({
        code: "invalid_argument",
        status: 400,
      });
    });

    it("RemoveParticipant: the participant is told why and disconnected; the other sees it leave", async () => {
      await svc.removeParticipant(room, "bob");
      expect(await note(bob, "disconnected")).toEqual({ reason: "participant_removed" });
      expect((await bob.client.closed).code).toBe(CloseCode.Removed);
      expect((await note(alice, "participantLeft", (d) => d.identity === "bob")).identity).toBe("bob");
      expect((await svc.listParticipants(room)).map((p) => p.identity)).toEqual(["alice"]);
      expect(await twirpError(svc.removeParticipant(room, "bob"))).toEqual({ code: "not_found", status: 404 });
      alice.client.close();
    });
  });

  it("grants: missing or wrong ones fail as LiveKit fails them (unauthenticated, 401)", async () => {
    const tokenFor = async (grant: Record<string, unknown>) => {
      const at = new AccessToken(c.apiKey, c.apiSecret, { identity: "app" });
      at.addGrant(grant);
      return at.toJwt();
    };
    const call = async (method: string, body: unknown, token?: string) => {
      const r = await fetch(`${c.workerUrl}/twirp/livekit.RoomService/${method}`, {
        method: "POST",
        headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify(body),
      });
      return { status: r.status, type: r.headers.get("content-type"), body: await r.json() };
    };
    const denied = {
      status: 401,
      type: "application/json",
      body: { code: "unauthenticated", msg: expect.any(String) },
    };
    expect(await call("ListRooms", {})).toEqual(denied);
    expect(await call("ListRooms", {}, await tokenFor({ roomCreate: true }))).toEqual(denied);
    expect(await call("CreateRoom", { name: "rs-g" }, await tokenFor({ roomList: true }))).toEqual(denied);
    expect(
      await call("ListParticipants", { room: "rs-g" }, await tokenFor({ roomAdmin: true, room: "other" })),
    ).toEqual(denied);
    expect(
      await call(
        "RemoveParticipant",
        { room: "rs-g", identity: "x" },
        await tokenFor({ roomList: true, room: "rs-g" }),
      ),
    ).toEqual(denied);
    const wrongSecret = new RoomServiceClient(c.workerUrl, c.apiKey, "not-the-secret-but-long-enough-xxxxxxxx");
    expect(await twirpError(wrongSecret.listRooms())).toEqual({ code: "unauthenticated", status: 401 });
  });

  it("bad input: unknown method → bad_route, malformed JSON → malformed, wrong types, protobuf accepted", async () => {
    const token = await (async () => {
      const at = new AccessToken(c.apiKey, c.apiSecret, { identity: "app" });
      at.addGrant({ roomList: true, roomCreate: true });
      return at.toJwt();
    })();
    const post = async (path: string, body: BodyInit, type = "application/json", method = "POST") => {
      const r = await fetch(`${c.workerUrl}/${path}`, {
        method,
        headers: { "content-type": type, authorization: `Bearer ${token}` },
        ...(method === "POST" ? { body } : {}),
      });
      return {
        status: r.status,
        type: r.headers.get("content-type"),
        body:
          r.headers.get("content-type") === "application/json" ? await r.json() : new Uint8Array(await r.arrayBuffer()),
      };
    };
    const svcPath = "twirp/livekit.RoomService/";
    expect(await post(`${svcPath}Nope`, "{}")).toMatchObject({
      status: 404,
      type: "application/json",
      body: { code: "bad_route" },
    });
    expect(await post("twirp/livekit.Egress/ListEgress", "{}")).toMatchObject({
      status: 404,
      body: { code: "bad_route" },
    });
    expect(await post(`${svcPath}ListRooms`, "", "application/json", "GET")).toMatchObject({
      status: 404,
      body: { code: "bad_route" },
    });
    expect(await post(`${svcPath}ListRooms`, "{}", "text/plain")).toMatchObject({
      status: 404,
      body: { code: "bad_route" },
    });
    expect(await post(`${svcPath}ListRooms`, "{not json")).toMatchObject({ status: 400, body: { code: "malformed" } });
    expect(await post(`${svcPath}CreateRoom`, JSON.stringify({ name: 5 }))).toMatchObject({
      status: 400,
      body: { code: "malformed" },
    });
    expect(await post(`${svcPath}CreateRoom`, JSON.stringify({ name: "" }))).toMatchObject({
      status: 400,
      body: { code: "invalid_argument" },
    });
    expect(
      await post(`${svcPath}CreateRoom`, JSON.stringify({ name: "rs-big", metadata: "x".repeat(16 * 1024 + 1) })),
    ).toMatchObject({ status: 400, body: { code: "invalid_argument" } });
    expect(await post(`${svcPath}ListRooms`, "x".repeat(300 * 1024))).toMatchObject({
      status: 400,
      body: { code: "malformed" },
    });
    // Unknown fields are ignored, as Twirp does; protobuf binary works both ways.
    expect(await post(`${svcPath}ListRooms`, JSON.stringify({ names: [], futureField: 1 }))).toMatchObject({
      status: 200,
      body: { rooms: expect.any(Array) },
    });
    const { CreateRoomRequest, Room } = await import("@livekit/protocol");
    const bin = await post(
      `${svcPath}CreateRoom`,
      new CreateRoomRequest({ name: "rs-proto", maxParticipants: 3 }).toBinary() as Uint8Array<ArrayBuffer>,
      "application/protobuf",
    );
    expect(bin).toMatchObject({ status: 200, type: "application/protobuf" });
    expect(Room.fromBinary(bin.body as Uint8Array)).toMatchObject({ name: "rs-proto", maxParticipants: 3 });
  });

  it("a hosting node that does not answer → unavailable within the RPC timeout; one not listening → at once", async () => {
    const r = c.redis!.client();
    const listener = new Redis(c.redisUrl);
    try {
      const seen: string[] = [];
      await listener.subscribe(keys.nodeBus("rs-ghost"));
      listener.on("message", (_ch, m) => seen.push(m));
      await r.hset(keys.room("rs-ghost-room"), "name", "rs-ghost-room", "node", "rs-ghost", "createdAt", Date.now());
      const t0 = performance.now();
      expect(await twirpError(svc.removeParticipant("rs-ghost-room", "x"))).toEqual({
        code: "unavailable",
        status: 503,
      });
      const waited = performance.now() - t0;
      expect(waited).toBeGreaterThanOrEqual(RPC_TIMEOUT_MS - 50);
      expect(waited).toBeLessThan(RPC_TIMEOUT_MS + 3000);
      // What reached the node's bus is sealed by the bus authentication (shared/bus.ts), from the
      // control plane, for that node's channel only; tampered, it no longer opens.
      const auth = new BusAuth(new Map([[c.apiKey, c.apiSecret]]), "rs-ghost");
      const channel = keys.nodeBus("rs-ghost");
      const opened = auth.open(channel, seen[0]!);
      expect(opened).toMatchObject({ from: CONTROL_PLANE });
      expect(JSON.parse((opened as { payload: string }).payload)).toMatchObject({
        type: "room.rpc",
        room: "rs-ghost-room",
        op: { op: "removeParticipant", identity: "x" },
      });
      expect(
        new BusAuth(new Map([[c.apiKey, c.apiSecret]]), "rs-ghost").open(channel, seen[0]!.replace('"x"', '"y"')),
      ).toBe("bad_mac");

      await r.hset(keys.room("rs-dead-room"), "name", "rs-dead-room", "node", "rs-dead", "createdAt", Date.now());
      const t1 = performance.now();
      expect(await twirpError(svc.removeParticipant("rs-dead-room", "x"))).toEqual({
        code: "unavailable",
        status: 503,
      });
      expect(performance.now() - t1).toBeLessThan(RPC_TIMEOUT_MS);
    } finally {
      listener.disconnect();
      r.disconnect();
    }
  });

  it("a node applies room.rpc only from the control plane: another node's (authenticated) request is refused", async () => {
    const room = "rs-forged";
    await svc.createRoom({ name: room });
    const victim = await joinAs(room, "victim");
    const node = c.node((await c.redis!.client().hget(keys.room(room), "node"))!);
    const other = c.nodes.find((n) => n.nodeId !== node.nodeId)!;
    const fromNode = new BusAuth(new Map([[c.apiKey, c.apiSecret]]), other.nodeId);
    const payload = JSON.stringify({
      type: "room.rpc",
      id: crypto.randomUUID(),
      room,
      deadline: Date.now() + 5000,
      op: { op: "removeParticipant", identity: "victim" },
    });
    const r = c.redis!.client();
    expect(await r.publish(keys.nodeBus(node.nodeId), fromNode.seal(keys.nodeBus(node.nodeId), payload))).toBe(1);
    await waitFor(
      () => metric(node, 'meridian_room_rpc_total{op="removeParticipant",result="refused"}'),
      (n) => n === 1,
      "request from a node refused",
    );
    expect((await svc.getParticipant(room, "victim")).identity).toBe("victim");
    expect(victim.client.isOpen).toBe(true);
    victim.client.close();
    r.disconnect();
  });
});
