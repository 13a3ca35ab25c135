// A room spanning the workers of one node (router-group.ts), with real mediasoup workers: a tiny
// consumer budget puts the second participant on a router of another worker; subscriptions across
// routers are piped once per (producer, router), pauses and closes reach the far consumers as on
// one router, and closing producers, participants and the room leaves no pipe or router behind.
// Real media across workers is checked with Chromium in test/e2e/workers.test.ts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode } from "../../shared/errors.ts";
import { ProtocolError, type NotificationName } from "../../shared/protocol.ts";
import { createLogger } from "../../media-node/src/log.ts";
import type { Permissions } from "../../shared/grants.ts";
import type { ParticipantSink } from "../../media-node/src/rooms/participant.ts";
import { RoomManager } from "../../media-node/src/rooms/room-manager.ts";
import type { RoomSession } from "../../media-node/src/rooms/room-session.ts";
import { WorkerPool } from "../../media-node/src/rooms/worker-pool.ts";
import { freePort } from "../support/redis.ts";
import { waitFor } from "../support/media-node.ts";

const log = createLogger("silent", "router-group-test");
let pool: WorkerPool;
let rooms: RoomManager;

const PERMS: Permissions = { canPublish: true, canSubscribe: true, canPublishData: true, hidden: false };
const NO_OBSERVER = { roomOpened() {}, roomClosed() {}, participantUpdated() {}, participantLeft() {} };

/** What a participant's connection received. */
class Inbox implements ParticipantSink {
  readonly notes: { name: string; data: unknown }[] = [];
  closed: string | undefined;
  notify(name: NotificationName, data: unknown): void {
    this.notes.push({ name, data });
  }
  notifyEncoded(frame: string): void {
    const { notification, data } = JSON.parse(frame) as { notification: string; data: unknown };
    this.notes.push({ name: notification, data });
  }
  close(_code: number, reason: string): void {
    this.closed = reason;
  }
}

const VP8 = {
  mimeType: "video/VP8",
  payloadType: 101,
  clockRate: 90000,
  rtcpFeedback: [{ type: "nack", parameter: "pli" }],
};
const OPUS = { mimeType: "audio/opus", payloadType: 111, clockRate: 48000, channels: 2 };
const RECV_CAPS = {
  codecs: [
    {
      kind: "audio",
      mimeType: "audio/opus",
      clockRate: 48000,
      channels: 2,
      preferredPayloadType: 111,
      rtcpFeedback: [],
    },
    {
      kind: "video",
      mimeType: "video/VP8",
      clockRate: 90000,
      preferredPayloadType: 101,
      rtcpFeedback: [{ type: "nack", parameter: "pli" }],
    },
  ],
  headerExtensions: [],
};

interface Member {
  s: RoomSession;
  inbox: Inbox;
  send?: string;
  recv?: string;
}

async function member(room: string, identity: string): Promise<Member> {
  const inbox = new Inbox();
  const s = await rooms.open(
    {
      room,
      identity,
      name: undefined,
      permissions: PERMS,
      hostNode: undefined,
      roomSid: undefined,
      signalNode: "here",
    },
    inbox,
  );
  const send = ((await call(s, "createTransport", { direction: "send", enableSctp: true })) as { transportId: string })
    .transportId;
  const recv = ((await call(s, "createTransport", { direction: "recv", enableSctp: true })) as { transportId: string })
    .transportId;
  await call(s, "setRtpCapabilities", { rtpCapabilities: RECV_CAPS });
  return { s, inbox, send, recv };
}

async function publish(m: Member, kind: "audio" | "video"): Promise<string> {
  const codec = kind === "audio" ? OPUS : VP8;
  const r = (await call(m.s, "produce", {
    transportId: m.send!,
    kind,
    rtpParameters: { codecs: [codec], encodings: [{ ssrc: 1000 + Math.floor(Math.random() * 1e6) }] },
  })) as { trackId: string };
  return r.trackId;
}

/** A signaling request as the session receives it (already validated by the signaling layer). */
const call = (s: RoomSession, method: string, data: object): Promise<unknown> =>
  s.request({ id: 0, method, data } as never);

const consume = (m: Member, trackId: string) =>
  call(m.s, "consume", { trackId }) as Promise<{ consumerId: string; producerPaused: boolean }>;

function code(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => "ok",
    (e: unknown) => (e instanceof ProtocolError ? e.code : String(e)),
  );
}

/** A room manager over the test's pool with this consumer budget per worker. */
function manager(workerConsumerBudget: number): RoomManager {
  return new RoomManager({
    nodeId: "here",
    region: "local",
    pool,
    emptyTimeoutMs: 60_000,
    maxParticipantsPerRoom: 0,
    maxTracks: 0,
    workerConsumerBudget,
    observer: NO_OBSERVER,
    record: async () => ({ record: undefined }),
    log,
  });
}

beforeAll(async () => {
  pool = await WorkerPool.start({
    count: 2,
    listenIp: "127.0.0.1",
    announcedAddress: "127.0.0.1",
    firstPort: await freePort(2),
    logLevel: "warn",
    log,
  });
  // Tiny: a worker holding the first participant is full once a second one would subscribe.
  rooms = manager(1);
});

afterAll(() => {
  rooms?.closeAll();
  pool?.close();
});

describe("a room across two workers", () => {
  it("puts the second participant on another worker and pipes each producer once per router", async () => {
    const alice = await member("span", "alice");
    const room = rooms.rooms.get("span")!;
    const video = await publish(alice, "video");
    const audio = await publish(alice, "audio");
    const bob = await member("span", "bob");
    const carol = await member("span", "carol");
    const [ra, rb] = room.routers.all();
    expect(room.routers.all()).toHaveLength(2);
    expect(ra!.slot.index).not.toBe(rb!.slot.index);

    const bobVideo = await consume(bob, video);
    await consume(bob, audio);
    await consume(carol, video);
    // Both bob and carol sit on the second router: alice's two tracks crossed once each.
    // Bob sits on the second router: alice's two tracks crossed once each. Carol's router is the
    // one with the most headroom (both are over the tiny budget): either way no extra pipe.
    const carolOnB = room.participants.get("carol")!.router === rb;
    expect(room.routers.counts().pipedProducers).toBe(2);
    expect(ra!.consumers).toBe(carolOnB ? 2 : 3); // the two pipe consumers (+ carol's)
    expect(rb!.consumers).toBe(carolOnB ? 3 : 2);
    expect(ra!.slot.consumers + rb!.slot.consumers).toBe(5);
    expect(await code(consume(bob, video))).toBe(ErrorCode.Conflict);

    // Bob publishes on the second router; alice (first router) consumes it through a pipe back.
    const bobTrack = await publish(bob, "video");
    await consume(alice, bobTrack);
    expect(room.routers.counts().pipedProducers).toBe(3);

    // Pause and resume reach the piped copy's consumers.
    await call(alice.s, "pauseProducer", { trackId: video });
    const cons = () => [...room.participants.get("bob")!.consumers.values()].find((c) => c.id === bobVideo.consumerId)!;
    await waitFor(
      async () => cons().producerPaused,
      (p) => p,
      "producer pause seen on the far router",
    );
    await call(alice.s, "resumeProducer", { trackId: video });
    await waitFor(
      async () => cons().producerPaused,
      (p) => !p,
      "producer resume seen on the far router",
    );

    // Closing the producer closes both far consumers and the pipe.
    await call(alice.s, "closeProducer", { trackId: video });
    await waitFor(
      async () => bob.inbox.notes.filter((n) => n.name === "consumerClosed").length,
      (n) => n === 1,
      "bob's consumer closed",
    );
    await waitFor(
      async () => carol.inbox.notes.filter((n) => n.name === "consumerClosed").length,
      (n) => n === 1,
      "carol's consumer closed",
    );
    await waitFor(
      async () => room.routers.counts().pipedProducers,
      (n) => n === 2,
      "video pipe gone",
    );
    expect(ra!.consumers).toBe(2); // audio pipe consumer + alice's consumer of bob
    expect(rb!.consumers).toBe(2); // bob's audio consumer + the pipe consumer of bob's track

    // Bob and carol leave: their router closes with its pipes and consumers.
    bob.s.leave();
    carol.s.leave();
    await waitFor(
      async () => room.routers.all().length,
      (n) => n === 1,
      "second router closed",
    );
    expect(rb!.router.closed).toBe(true);
    await waitFor(
      async () => room.routers.counts().pipedProducers,
      (n) => n === 0,
      "pipes gone",
    );
    // alice's consumer of bob's track closes when the worker reports its producer gone
    await waitFor(
      async () => ra!.consumers,
      (n) => n === 0,
      "alice's consumer of bob's track closed",
    );
    expect(ra!.slot.consumers + rb!.slot.consumers).toBe(0);
    alice.s.leave();
    rooms.closeRoom("span", "deleted");
  });

  it("pipes data producers across workers and closes them with their source", async () => {
    const alice = await member("data", "alice");
    const bob = await member("data", "bob-data");
    const room = rooms.rooms.get("data")!;
    // Alice has no media yet: budget 1 admits bob (2 expected tracks) elsewhere.
    expect(room.routers.all()).toHaveLength(2);
    const { trackId } = (await call(alice.s, "produceData", {
      transportId: alice.send!,
      sctpStreamParameters: { streamId: 0, ordered: true },
      label: "chat",
    })) as { trackId: string };
    const dc = (await call(bob.s, "consumeData", { trackId })) as { label: string };
    expect(dc.label).toBe("chat");
    expect(room.routers.counts().pipedProducers).toBe(1);
    expect(await code(call(bob.s, "consumeData", { trackId }))).toBe(ErrorCode.Conflict);
    await call(alice.s, "closeProducer", { trackId });
    await waitFor(
      async () => bob.inbox.notes.filter((n) => n.name === "consumerClosed").length,
      (n) => n === 1,
      "data consumer closed",
    );
    await waitFor(
      async () => room.routers.counts().pipedProducers,
      (n) => n === 0,
      "data pipe gone",
    );
    rooms.closeRoom("data", "deleted");
    expect(room.routers.all()).toHaveLength(0);
  });

  it("without a budget a room stays on one router (today's behaviour)", async () => {
    const one = manager(0);
    const open = (id: string) =>
      one.open(
        {
          room: "solo",
          identity: id,
          name: undefined,
          permissions: PERMS,
          hostNode: undefined,
          roomSid: undefined,
          signalNode: "here",
        },
        new Inbox(),
      );
    await open("a");
    await open("b");
    await open("c");
    expect(one.rooms.get("solo")!.routers.all()).toHaveLength(1);
    one.closeAll();
  });

  it("a dead worker takes only its router's participants; the room lives on", async () => {
    const alice = await member("crash", "alice");
    await publish(alice, "video");
    await publish(alice, "audio");
    const bob = await member("crash", "bob");
    const room = rooms.rooms.get("crash")!;
    const [, rb] = room.routers.all();
    expect(room.participants.get("bob")!.router).toBe(rb);
    process.kill(rb!.slot.worker.pid!, "SIGKILL");
    await waitFor(
      async () => bob.inbox.closed,
      (r) => r !== undefined,
      "bob's connection closed",
    );
    expect(bob.inbox.notes).toContainEqual({ name: "roomClosed", data: { reason: "worker_died" } });
    expect(alice.inbox.closed).toBeUndefined();
    expect(alice.inbox.notes.some((n) => n.name === "participantLeft")).toBe(true);
    expect(rooms.rooms.get("crash")).toBe(room);
    expect(room.participants.has("alice")).toBe(true);
    rooms.closeRoom("crash", "deleted");
  });
});
