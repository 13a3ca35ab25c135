// Signaling against a real media node (child process, real mediasoup worker, real Redis): bad
// input gets typed errors and the socket survives; bad tokens are refused with close codes; room
// bookkeeping lands in Redis; Redis outages do not stop the node; room.delete closes a room.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Redis } from "ioredis";
import { connect } from "node:net";
import { ErrorCode } from "#shared/errors.ts";
import { keys } from "#shared/keys.ts";
import { CloseCode, MAX_MESSAGE_BYTES, type NotificationName } from "#shared/protocol.ts";
import { SignalClient, SignalError } from "../../media-node/client/signal-client.ts";
import { TestRedis } from "../support/redis.ts";
import { API_KEY, API_SECRET, MediaNodeProcess, readNodeRecord, waitFor } from "../support/media-node.ts";
import { CONTROL_PLANE } from "#shared/bus.ts";
import { BusAuth } from "../../media-node/src/cluster/bus-auth.ts";

let redis: TestRedis;
let r: Redis;
let node: MediaNodeProcess;

beforeAll(async () => {
  redis = await TestRedis.start();
  r = redis.client();
  node = await MediaNodeProcess.start({
    redisUrl: redis.url,
    env: { AUTH_TIMEOUT_MS: "500", EMPTY_ROOM_TIMEOUT_MS: "300", SIGNAL_RATE_PER_SEC: "20", SIGNAL_BURST: "30" },
  });
});

afterAll(async () => {
  await node?.stop();
  r?.disconnect();
  await redis?.stop();
});

/** Collects notifications of one client. */
function inbox(c: SignalClient): { name: NotificationName; data: unknown }[] {
  const got: { name: NotificationName; data: unknown }[] = [];
  c.onNotification((name, data) => got.push({ name, data }));
  return got;
}

async function joined(identity: string, room: string): Promise<SignalClient> {
  const c = await SignalClient.open(node.signalUrl, await node.token(identity, room));
  await c.request("join", {});
  return c;
}

async function errorCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "no error";
  } catch (e) {
    return e instanceof SignalError ? e.code : String(e);
  }
}

describe("bad input", () => {
  it("gets error replies with codes, and the socket keeps working", async () => {
    const c = await SignalClient.open(node.signalUrl, await node.token("bad-input", "room-bad"));
    const notes = inbox(c);
    // Before join: requests are refused, not dropped.
    expect(await errorCode(c.request("ping", {}))).toBe(ErrorCode.BadRequest);
    const joinedRes = await c.request("join", {});
    expect(joinedRes.room).toBe("room-bad");
    expect(joinedRes.routerRtpCapabilities).toHaveProperty("codecs");

    c.sendRaw("{not json");
    c.sendRaw(JSON.stringify({ v: 1, id: 900, method: "selfDestruct" }));
    c.sendRaw(JSON.stringify({ v: 1, id: 901, method: "pauseProducer", data: "x".repeat(MAX_MESSAGE_BYTES + 10) }));
    await waitFor(
      async () => notes.filter((n) => n.name === "error").length,
      (n) => n >= 2,
      "error notifications",
    );
    expect(await errorCode(c.request("createTransport", { direction: "sideways" as "send" }))).toBe(
      ErrorCode.BadRequest,
    );
    expect(
      await errorCode(
        c.request("connectTransport", {
          transportId: "nope",
          dtlsParameters: { fingerprints: [{ algorithm: "sha-256", value: "AA" }] },
        }),
      ),
    ).toBe(ErrorCode.NotFound);
    expect(await errorCode(c.request("consume", { trackId: "nope" }))).toBe(ErrorCode.NotFound);
    // mediasoup's own validation (a malformed RTP parameter set) is the caller's fault too.
    const send = await c.request("createTransport", { direction: "send" });
    expect(
      await errorCode(
        c.request("produce", {
          transportId: send.transportId,
          kind: "video",
          rtpParameters: { codecs: [{ mimeType: "video/NOPE", payloadType: 96, clockRate: 90000 }] },
        }),
      ),
    ).toBe(ErrorCode.BadRequest);
    expect(await errorCode(c.request("join", {}))).toBe(ErrorCode.Conflict);

    expect(c.isOpen).toBe(true);
    expect((await c.request("ping", {})).now).toBeGreaterThan(0);
    c.close();
  });

  it("rate-limits floods without closing the socket", async () => {
    const c = await joined("flooder", "room-flood");
    const results = await Promise.allSettled(Array.from({ length: 60 }, () => c.request("ping", {})));
    const codes = results.map((x) => (x.status === "fulfilled" ? "ok" : (x.reason as SignalError).code));
    // The burst (30) minus the join, plus whatever refilled meanwhile.
    expect(codes.filter((x) => x === "ok").length).toBeGreaterThanOrEqual(29);
    expect(codes.filter((x) => x === ErrorCode.RateLimited).length).toBeGreaterThan(0);
    expect(codes.every((x) => x === "ok" || x === ErrorCode.RateLimited)).toBe(true);
    expect(c.isOpen).toBe(true);
    // Tokens come back: a later request succeeds.
    await waitFor(
      () =>
        c.request("ping", {}).then(
          () => true,
          () => false,
        ),
      Boolean,
      "ping after flood",
    );
    c.close();
  });
});

describe("tokens", () => {
  const closeCode = async (
    url: string,
    token: string | undefined,
    join: Parameters<SignalClient["request"]>[1] = {},
  ) => {
    const c = await SignalClient.open(url, token);
    const code = await errorCode(c.request("join", join as never));
    return { error: code, close: (await c.closed).code };
  };

  it("refuses bad signature, expired, wrong room, no roomJoin, other node", async () => {
    const good = await node.token("t1", "room-t");
    const forged = good.slice(0, -4) + (good.endsWith("AAAA") ? "BBBB" : "AAAA");
    expect(await closeCode(node.signalUrl, forged)).toEqual({
      error: ErrorCode.Unauthorized,
      close: CloseCode.Unauthorized,
    });
    const expired = await node.token("t1", "room-t", {}, { now: Math.floor(Date.now() / 1000) - 7200, ttlSeconds: 60 });
    expect(await closeCode(node.signalUrl, expired)).toEqual({
      error: ErrorCode.Unauthorized,
      close: CloseCode.Unauthorized,
    });
    expect(await closeCode(node.signalUrl, good, { room: "other-room" })).toEqual({
      error: ErrorCode.Forbidden,
      close: CloseCode.Forbidden,
    });
    const noJoin = await node.token("t1", "room-t", { roomJoin: false });
    expect(await closeCode(node.signalUrl, noJoin)).toEqual({ error: ErrorCode.Forbidden, close: CloseCode.Forbidden });
    const noClaim = await node.token("t1", "room-t", {}, { meridian: null });
    expect(await closeCode(node.signalUrl, noClaim)).toEqual({
      error: ErrorCode.Forbidden,
      close: CloseCode.Forbidden,
    });
    const elsewhere = await node.token("t1", "room-t", {}, { meridian: { node: "another-node", region: "local" } });
    expect(await closeCode(node.signalUrl, elsewhere)).toEqual({
      error: ErrorCode.WrongNode,
      close: CloseCode.WrongNode,
    });
  });

  it("accepts the token in the join request, and times out a socket that never joins", async () => {
    const c = await SignalClient.open(node.signalUrl);
    const res = await c.request("join", { token: await node.token("late", "room-late") });
    expect(res.participant.identity).toBe("late");
    c.close();
    const idle = await SignalClient.open(node.signalUrl);
    expect((await idle.closed).code).toBe(CloseCode.AuthTimeout);
  });

  it("refuses subscribing when the token does not allow it", async () => {
    const c = await SignalClient.open(
      node.signalUrl,
      await node.token("viewer", "room-perm", { canSubscribe: false, canPublish: false, canPublishData: false }),
    );
    const res = await c.request("join", {});
    expect(res.permissions).toEqual({ canPublish: false, canSubscribe: false, canPublishData: false, hidden: false });
    expect(await errorCode(c.request("createTransport", { direction: "recv" }))).toBe(ErrorCode.Forbidden);
    expect(await errorCode(c.request("createTransport", { direction: "send" }))).toBe(ErrorCode.Forbidden);
    c.close();
  });
});

describe("grants", () => {
  const opus = {
    codecs: [{ mimeType: "audio/opus", payloadType: 100, clockRate: 48000, channels: 2 }],
    encodings: [{ ssrc: 1111 }],
  };
  const vp8 = { codecs: [{ mimeType: "video/VP8", payloadType: 101, clockRate: 90000 }], encodings: [{ ssrc: 2222 }] };
  const produceAudio = async (c: SignalClient) => {
    const send = await c.request("createTransport", { direction: "send" });
    return {
      send,
      track: await c.request("produce", { transportId: send.transportId, kind: "audio", rtpParameters: opus }),
    };
  };

  it("canPublishSources: microphone may be published, camera is forbidden, and the socket survives", async () => {
    const watcher = await joined("watcher", "room-src");
    const seen = inbox(watcher);
    const mic = await SignalClient.open(
      node.signalUrl,
      await node.token("mic-only", "room-src", { canPublishSources: ["microphone"] }),
    );
    expect((await mic.request("join", {})).permissions).toMatchObject({
      canPublish: true,
      canPublishSources: ["microphone"],
    });

    const { send, track } = await produceAudio(mic);
    const published = await waitFor(
      async () => seen.find((n) => n.name === "trackPublished"),
      Boolean,
      "trackPublished",
    );
    expect(published!.data).toMatchObject({
      identity: "mic-only",
      track: { trackId: track.trackId, kind: "audio", source: "microphone" },
    });
    const rec = await waitFor(
      () => r.hget(keys.roomParticipants("room-src"), "mic-only"),
      (x) => x?.includes(track.trackId) === true,
      "track in Redis",
    );
    expect(JSON.parse(rec!).tracks).toEqual([
      { sid: track.trackId, kind: "audio", source: "microphone", muted: false, mimeType: "audio/opus" },
    ]);

    const video = (source?: "camera" | "microphone" | "screen_share") =>
      errorCode(
        mic.request("produce", {
          transportId: send.transportId,
          kind: "video",
          rtpParameters: vp8,
          ...(source ? { source } : {}),
        }),
      );
    expect(await video()).toBe(ErrorCode.Forbidden); // defaults to camera
    expect(await video("screen_share")).toBe(ErrorCode.Forbidden);
    // Calling a video track "microphone" does not get it past the grant.
    expect(await video("microphone")).toBe(ErrorCode.BadRequest);

    expect(mic.isOpen).toBe(true);
    expect((await mic.request("ping", {})).now).toBeGreaterThan(0);
    expect(seen.filter((n) => n.name === "trackPublished")).toHaveLength(1);
    mic.close();
    watcher.close();
  });

  it("canPublishSources: [] is every source (LiveKit): camera and screen share may be published", async () => {
    const any = await SignalClient.open(
      node.signalUrl,
      await node.token("any-source", "room-src-all", { canPublishSources: [] }),
    );
    const join = await any.request("join", {});
    expect(join.permissions.canPublish).toBe(true);
    expect(join.permissions).not.toHaveProperty("canPublishSources");
    const send = await any.request("createTransport", { direction: "send" });
    for (const [i, source] of (["camera", "screen_share"] as const).entries()) {
      const rtpParameters = { ...vp8, encodings: [{ ssrc: 3000 + i }] };
      const track = await any.request("produce", {
        transportId: send.transportId,
        kind: "video",
        rtpParameters,
        source,
      });
      expect(track.trackId).toBeTruthy();
    }
    any.close();
  });

  it("a track is consumed once per subscriber: a repeated consume is refused and the socket survives", async () => {
    const pub = await joined("pub", "room-dup");
    const { track } = await produceAudio(pub);
    const sub = await SignalClient.open(node.signalUrl, await node.token("sub", "room-dup"));
    const { routerRtpCapabilities } = await sub.request("join", {});
    await sub.request("setRtpCapabilities", { rtpCapabilities: routerRtpCapabilities });
    await sub.request("createTransport", { direction: "recv" });
    const first = await sub.request("consume", { trackId: track.trackId });
    expect(first).toMatchObject({ trackId: track.trackId, identity: "pub", kind: "audio" });
    expect(await errorCode(sub.request("consume", { trackId: track.trackId }))).toBe(ErrorCode.Conflict);
    expect(sub.isOpen).toBe(true);
    await sub.request("pauseConsumer", { consumerId: first.consumerId });
    sub.close();
    pub.close();
  });

  it("a participant may publish at most 16 tracks; the 17th is refused and the socket survives", async () => {
    const c = await joined("hoarder", "room-hoard");
    const send = await c.request("createTransport", { direction: "send" });
    const produce = (i: number) =>
      c.request("produce", {
        transportId: send.transportId,
        kind: "audio",
        rtpParameters: { ...opus, encodings: [{ ssrc: 5000 + i }] },
      });
    for (let i = 0; i < 16; i++) expect((await produce(i)).trackId).toBeTruthy();
    expect(await errorCode(produce(16))).toBe(ErrorCode.Conflict);
    expect((await c.request("ping", {})).now).toBeGreaterThan(0);
    c.close();
  });

  it("canPublishData follows canPublish when absent (LiveKit)", async () => {
    const c = await SignalClient.open(node.signalUrl, await node.token("listener", "room-data", { canPublish: false }));
    expect((await c.request("join", {})).permissions).toMatchObject({
      canPublish: false,
      canPublishData: false,
      canSubscribe: true,
    });
    expect(await errorCode(c.request("createTransport", { direction: "send", enableSctp: true }))).toBe(
      ErrorCode.Forbidden,
    );
    c.close();
  });

  it("a hidden participant is never announced, nor are its tracks", async () => {
    const bob = await joined("bob", "room-hidden");
    const seen = inbox(bob);
    const ghost = await SignalClient.open(node.signalUrl, await node.token("ghost", "room-hidden", { hidden: true }));
    const ghostJoin = await ghost.request("join", {});
    expect(ghostJoin.permissions.hidden).toBe(true);
    expect(ghostJoin.participants.map((p) => p.identity)).toEqual(["bob"]); // a hidden one still sees everyone
    await produceAudio(ghost);

    // Carol's events reach bob after everything ghost did before them (one socket, in order).
    const carol = await SignalClient.open(node.signalUrl, await node.token("carol", "room-hidden"));
    expect((await carol.request("join", {})).participants.map((p) => p.identity)).toEqual(["bob"]);
    await produceAudio(carol);
    await waitFor(
      async () => seen.filter((n) => n.name === "trackPublished").length,
      (n) => n >= 1,
      "carol's track",
    );
    ghost.close();
    await waitFor(
      () => r.hexists(keys.roomParticipants("room-hidden"), "ghost"),
      (x) => x === 0,
      "ghost left",
    );
    carol.close();
    await waitFor(async () => seen.some((n) => n.name === "participantLeft"), Boolean, "carol left");

    const about = (n: { data: unknown }) => JSON.stringify(n.data);
    expect(seen.map((n) => n.name)).toEqual([
      "participantJoined",
      "trackPublished",
      "trackUnpublished",
      "participantLeft",
    ]);
    expect(seen.every((n) => about(n).includes("carol"))).toBe(true);
    expect(seen.some((n) => about(n).includes("ghost"))).toBe(false);
    bob.close();
  });
});

describe("rooms and Redis", () => {
  it("mirrors participants, closes empty rooms, and tells others who left", async () => {
    // As the control plane places it: emptyTimeout (300 s) is for a room nobody joins; after the
    // last participant leaves, the node's departure timeout (300 ms here) must close it.
    await r.hset(keys.room("room-life"), { node: node.nodeId, emptyTimeout: 300, maxParticipants: 0 });
    const a = await joined("alice", "room-life");
    const notesA = inbox(a);
    const b = await SignalClient.open(node.signalUrl, await node.token("bob", "room-life"));
    const bJoin = await b.request("join", {});
    expect(bJoin.participants.map((p) => p.identity)).toEqual(["alice"]);
    await waitFor(async () => notesA.some((n) => n.name === "participantJoined"), Boolean, "participantJoined");
    const hash = await waitFor(
      () => r.hgetall(keys.roomParticipants("room-life")),
      (h) => Object.keys(h).length === 2,
      "participants hash",
    );
    expect(JSON.parse(hash.alice!)).toMatchObject({ identity: "alice", signalNode: node.nodeId });
    expect(await r.sismember(keys.nodeRooms(node.nodeId), "room-life")).toBe(1);

    b.close();
    await waitFor(async () => notesA.some((n) => n.name === "participantLeft"), Boolean, "participantLeft");
    await waitFor(
      () => r.hkeys(keys.roomParticipants("room-life")),
      (k) => k.length === 1,
      "bob removed",
    );
    a.close();
    await waitFor(
      () => r.sismember(keys.nodeRooms(node.nodeId), "room-life"),
      (m) => m === 0,
      "room closed after empty timeout",
    );
    expect(await r.exists(keys.room("room-life"), keys.roomParticipants("room-life"))).toBe(0);
    await waitFor(
      () => readNodeRecord(r, node.nodeId),
      (rec) => rec?.stats.rooms === 0 && rec.stats.clients === 0,
      "stats back to zero",
    );
  });

  it("a second connection with the same identity replaces the first", async () => {
    const first = await joined("dup", "room-dup");
    const second = await joined("dup", "room-dup");
    expect((await first.closed).code).toBe(CloseCode.DuplicateIdentity);
    expect((await second.request("ping", {})).now).toBeGreaterThan(0);
    second.close();
  });

  it("room.delete on the node bus closes the room and tells its participants", async () => {
    const c = await joined("doomed", "room-del");
    const notes = inbox(c);
    const channel = keys.nodeBus(node.nodeId);
    await r.publish(
      channel,
      new BusAuth(new Map([[API_KEY, API_SECRET]]), CONTROL_PLANE).seal(
        channel,
        JSON.stringify({ type: "room.delete", room: "room-del" }),
      ),
    );
    expect((await c.closed).code).toBe(CloseCode.RoomClosed);
    expect(notes).toContainEqual({ name: "roomClosed", data: { reason: "deleted" } });
    await waitFor(
      () => r.sismember(keys.nodeRooms(node.nodeId), "room-del"),
      (m) => m === 0,
      "room gone from node rooms",
    );
  });

  it("keeps serving while Redis is down and re-registers when it is back", async () => {
    await readNodeRecord(r, node.nodeId).then((rec) => expect(rec?.state).toBe("SERVING"));
    await redis.stop();
    const c = await joined("offline", "room-offline");
    expect((await c.request("ping", {})).now).toBeGreaterThan(0);
    await redis.restart();
    const r2 = redis.client();
    try {
      const rec = await waitFor(
        () => readNodeRecord(r2, node.nodeId),
        (x) => x !== null && x.stats.clients >= 1,
        "record after Redis restart",
      );
      expect(rec!.state).toBe("SERVING");
      // The participant that joined during the outage is re-synced.
      await waitFor(
        () => r2.hkeys(keys.roomParticipants("room-offline")),
        (k) => k.includes("offline"),
        "re-synced participant",
      );
    } finally {
      r2.disconnect();
      c.close();
    }
  });
});

describe("room settings and failures", () => {
  it("honours the room settings the control plane stored (maxParticipants)", async () => {
    await r.hset(keys.room("room-small"), { node: node.nodeId, emptyTimeout: 1, maxParticipants: 1 });
    const first = await joined("first", "room-small");
    const second = await SignalClient.open(node.signalUrl, await node.token("second", "room-small"));
    expect(await errorCode(second.request("join", {}))).toBe(ErrorCode.Conflict);
    expect((await second.closed).code).toBe(CloseCode.ProtocolError);
    expect(first.isOpen).toBe(true);
    first.close();
  });

  it("a crashed mediasoup worker closes its rooms, is replaced, and new joins work", async () => {
    const victim = await joined("victim", "room-crash");
    const notes = inbox(victim);
    const pids = node.logs
      .filter((l) => l.includes("mediasoup worker ready"))
      .map((l) => (JSON.parse(l) as { pid: number }).pid);
    process.kill(pids.at(-1)!, "SIGKILL");
    expect((await victim.closed).code).toBe(CloseCode.RoomClosed);
    expect(notes).toContainEqual({ name: "roomClosed", data: { reason: "worker_died" } });
    await waitFor(
      async () => node.logs.filter((l) => l.includes("mediasoup worker ready")).length,
      (n) => n === pids.length + 1,
      "replacement worker",
    );
    const again = await joined("survivor", "room-crash");
    expect((await again.request("createTransport", { direction: "recv" })).transportId).toBeTruthy();
    again.close();
  });
});

describe("HTTP", () => {
  it("serves health, readiness, metrics and the demo", async () => {
    expect((await fetch(`${node.httpUrl}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${node.httpUrl}/readyz`)).json()).toMatchObject({ status: "ready" });
    const metrics = await (await fetch(`${node.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/^meridian_rooms \d+/m);
    expect(metrics).toMatch(/meridian_signal_errors_total\{code="bad_request"\} \d+/);
    expect(await (await fetch(`${node.httpUrl}/demo`)).text()).toContain("/client.js");
    const js = await fetch(`${node.httpUrl}/client.js`);
    expect(js.status).toBe(200);
    expect((await js.text()).length).toBeGreaterThan(10_000);
    const nope = await fetch(`${node.httpUrl}/nope`);
    expect(nope.status).toBe(404);
    expect(await nope.json()).toEqual({ error: { code: ErrorCode.NotFound, message: "no route /nope" } });
  });

  it("answers a request target no URL parser accepts with an error, and keeps serving", async () => {
    const port = new URL(node.httpUrl).port;
    const statusOf = (head: string) =>
      new Promise<string>((resolve, reject) => {
        const s = connect(Number(port), "127.0.0.1", () => s.write(head));
        s.once("data", (d) => {
          resolve(String(d).split("\r\n")[0]!);
          s.destroy();
        });
        s.once("error", reject);
        s.once("close", () => resolve("closed without a response"));
      });
    expect(await statusOf("GET //[ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")).toBe("HTTP/1.1 400 Bad Request");
    const upgrade =
      "GET //[ HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    expect(await statusOf(upgrade)).toBe("HTTP/1.1 404 Not Found");
    expect((await fetch(`${node.httpUrl}/healthz`)).status).toBe(200);
  });
});
