// The bridge between two endpoints (two "nodes" in one process) over a real redis-server:
// round trips, ordering, dedup and reordering, refusal, size limit, close propagation, cleanup.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestRedis } from "../support/redis.ts";
import { BridgeCloseCode, BridgeEndpoint, type BridgeSession } from "../../media-node/src/bridge/index.ts";
import { randomUUID } from "node:crypto";
import { keys } from "#shared/keys.ts";
import { BusAuth } from "../../media-node/src/cluster/bus-auth.ts";
import { encode } from "../../media-node/src/bridge/envelope.ts";
import { busKeys, closed, collect, echo, FakeNode, opened, startEndpoint, until } from "./support.ts";

let redis: TestRedis;
let signal: BridgeEndpoint; // the node the client's WebSocket landed on
let host: BridgeEndpoint; // the node hosting the room
const hosted: BridgeSession[] = [];

beforeAll(async () => {
  redis = await TestRedis.start();
  signal = await startEndpoint(redis, "sig-1");
  host = await startEndpoint(redis, "host-1");
  host.onSession((session, init) => {
    if (init.assertion === "wrong-room") return session.close(BridgeCloseCode.WrongNode, "room moved");
    if (init.assertion === "explode") throw new Error("handler bug");
    hosted.push(session);
    echo(session);
  });
});

afterAll(async () => {
  await signal?.close();
  await host?.close();
  await redis?.stop();
});

async function settled(): Promise<void> {
  await until(() => signal.sizes.relayed === 0 && host.sizes.hosted === 0, 10_000, "both sides to free their sessions");
}

describe("bridge delivery", () => {
  it("round-trips frames both ways and carries the init to the host", async () => {
    const s = signal.open("host-1", { assertion: "tok-A", query: { reconnect: "0" }, remoteAddress: "127.0.0.9" });
    const got = collect(s);
    s.send("queued before open"); // the relay may forward a client frame before the host accepts
    await opened(s);
    s.send("hello");
    expect(await got.waitFor(2)).toEqual(["queued before open", "hello"]);

    const h = hosted.at(-1)!;
    expect(h.init).toEqual({ assertion: "tok-A", query: { reconnect: "0" }, remoteAddress: "127.0.0.9" });
    expect(h.peerNodeId).toBe("sig-1");
    h.send("pushed by host");
    await got.waitFor(3);
    expect(got.frames[2]).toBe("pushed by host");

    const hostSaw = closed(h);
    s.close(1000, "client left");
    expect(await hostSaw).toEqual({ code: 1000, reason: "client left", remote: true });
    await settled();
  });

  it("keeps order across 1,000 frames each way, coalescing into fewer publishes", async () => {
    const s = signal.open("host-1", { assertion: "tok-B" });
    const got = collect(s);
    await opened(s);
    const before = signal.metrics.envelopesSent;
    const n = 1_000;
    for (let i = 0; i < n; i++) s.send(`f${i}`);
    const frames = await got.waitFor(n);
    expect(frames).toEqual(Array.from({ length: n }, (_, i) => `f${i}`));
    // One publish per frame would be ≥ n envelopes; batching and piggybacked acks stay well under.
    expect(signal.metrics.envelopesSent - before).toBeLessThan(n / 2);
    expect(s.bufferedAmount).toBe(0);
    s.close();
    await settled();
  });

  it("surfaces a wrong_node refusal so the signal node can re-resolve", async () => {
    const s = signal.open("host-1", { assertion: "wrong-room" });
    const ev = await closed(s);
    expect(ev).toEqual({ code: BridgeCloseCode.WrongNode, reason: "room moved", remote: true });
    expect(s.state).toBe("closed");
    await settled();
  });

  it("refuses with Refused when the host's handler throws", async () => {
    const s = signal.open("host-1", { assertion: "explode" });
    expect((await closed(s)).code).toBe(BridgeCloseCode.Refused);
    await settled();
  });

  it("bridges a node to itself, and refuses when no session handler is registered", async () => {
    const s = signal.open("sig-1", { assertion: "t" }); // sig-1 relays and would host: no handler there
    expect(await closed(s)).toMatchObject({ code: BridgeCloseCode.Refused, remote: true });
    await settled();
  });

  it("fails start() clearly when Redis is unreachable", async () => {
    const ep = new BridgeEndpoint({
      nodeId: "nowhere",
      redisUrl: "redis://127.0.0.1:1",
      apiKeys: busKeys,
      log: { info() {}, warn() {} },
    });
    await expect(ep.start()).rejects.toThrow(/ECONNREFUSED|Connection is closed/);
    // A relay that calls open() anyway gets a session that closes with a clear code.
    expect(await closed(ep.open("x", { assertion: "t" }))).toMatchObject({ code: BridgeCloseCode.EndpointClosed });
  });

  it("closes with OpenTimeout when no node answers", async () => {
    const s = signal.open("nobody-home", { assertion: "t" });
    const ev = await closed(s);
    expect(ev.code).toBe(BridgeCloseCode.OpenTimeout);
    expect(ev.remote).toBe(false);
    await settled();
  });

  it("enforces the frame size limit", async () => {
    const small = await startEndpoint(redis, "sig-small", { maxFrameBytes: 1_000, maxBatchBytes: 1_000 });
    try {
      const s = small.open("host-1", { assertion: "tok-C" });
      await opened(s);
      const hostSide = hosted.at(-1)!;
      const hostSaw = closed(hostSide);
      expect(s.send("x".repeat(1_001))).toBe(false);
      expect((await closed(s)).code).toBe(BridgeCloseCode.MessageTooBig);
      expect((await hostSaw).code).toBe(BridgeCloseCode.MessageTooBig);
    } finally {
      await small.close();
    }
    await settled();
  });

  it("propagates a host-side close and tells late senders the session is gone", async () => {
    const s = signal.open("host-1", { assertion: "tok-D" });
    await opened(s);
    const sigSaw = closed(s);
    hosted.at(-1)!.close(BridgeCloseCode.Draining, "bye");
    expect(await sigSaw).toEqual({ code: BridgeCloseCode.Draining, reason: "bye", remote: true });
    expect(s.send("too late")).toBe(false);
    await settled();
  });

  it("hands non-bridge inbox messages to the bus handler with their sender and drops garbage", async () => {
    const fake = await FakeNode.start(redis, "control-plane");
    const seen: unknown[] = [];
    host.onBusMessage((m, from) => seen.push({ m, from }));
    const dropped = host.metrics.envelopesDropped;
    await fake.sealed("host-1", JSON.stringify({ type: "room.delete", room: "r1" }));
    await fake.sealed("host-1", "{not json");
    await fake.sealed("host-1", JSON.stringify({ t: "bridge", v: 2, k: "data" }));
    await until(() => seen.length === 1 && host.metrics.envelopesDropped >= dropped + 2, 5_000, "bus message");
    expect(seen).toEqual([{ m: { type: "room.delete", room: "r1" }, from: "control-plane" }]);
    fake.stop();
  });

  it("refuses unsigned, forged, replayed, stale, misdirected and impersonating messages, counted", async () => {
    const fake = await FakeNode.start(redis, "control-plane");
    const seen: unknown[] = [];
    host.onBusMessage((m) => seen.push(m));
    const before = host.metrics.busRejected;
    const del = JSON.stringify({ type: "room.delete", room: "r-forged" });
    const channel = keys.nodeBus("host-1");
    const genuine = new BusAuth(busKeys, "control-plane").seal(channel, del);
    const outsider = new BusAuth(new Map([["bridge-test", "some-other-secret-of-decent-length"]]), "control-plane");
    await fake.raw("host-1", del); // what anyone with the Redis credential could do before
    await fake.raw("host-1", outsider.seal(channel, del)); // right format, wrong key
    await fake.raw("host-1", genuine.replace('"r-forged"', '"r-other"')); // tampered payload
    await fake.raw("host-1", new BusAuth(busKeys, "control-plane").seal(keys.nodeBus("sig-1"), del)); // sealed for another node
    await fake.raw("host-1", new BusAuth(busKeys, "control-plane").seal(channel, del, Date.now() - 60_000)); // stale
    await fake.raw("host-1", genuine);
    await fake.raw("host-1", genuine); // replayed
    // A bridge envelope claiming another sender than the one that sealed it.
    await fake.sealed("host-1", encode("sig-1", { k: "close", s: randomUUID(), r: "s", c: 1000, w: "" }));
    const rejectedNow = () => host.metrics.busRejected;
    await until(
      () =>
        seen.length === 1 &&
        rejectedNow().replayed > before.replayed &&
        rejectedNow().sender_mismatch > before.sender_mismatch,
      5_000,
      "rejections",
    );
    expect(seen).toEqual([JSON.parse(del)]); // only the genuine one, once
    const delta = Object.fromEntries(
      Object.entries(rejectedNow()).map(([k, n]) => [k, n - before[k as keyof typeof before]]),
    );
    expect(delta).toEqual({
      unsigned: 1,
      malformed: 0,
      unknown_key: 0,
      bad_mac: 3,
      stale: 1,
      replayed: 1,
      too_large: 0,
      sender_mismatch: 1,
    });
    fake.stop();
  });
});

describe("bridge reliability against a raw peer", () => {
  it("delivers duplicated and reordered frames once, in order, and acks cumulatively", async () => {
    const fake = await FakeNode.start(redis, "fake-host");
    const s = signal.open("fake-host", { assertion: "t" });
    const got = collect(s);
    const open = await fake.waitFor((e) => e.k === "open");
    const id = open.s as string;
    await fake.send("sig-1", { k: "accept", s: id, r: "h" });
    await opened(s);

    const data = (q: number, m: string[]) => fake.send("sig-1", { k: "data", s: id, r: "h", q, m, a: 0 });
    await data(3, ["c"]); // early: buffered
    await data(1, ["a"]);
    await data(1, ["a"]); // duplicate
    await data(5, ["e", "f"]); // early, leaves a gap at 4
    await data(2, ["b", "c"]); // fills the gap at 2, duplicate 3
    await data(4, ["d", "e"]); // fills 4, duplicate 5
    await data(3, ["c", "d", "e", "f", "g"]); // overlapping retransmission
    expect(await got.waitFor(7)).toEqual(["a", "b", "c", "d", "e", "f", "g"]);
    await fake.waitFor((e) => e.k === "ack" && e.s === id && e.a === 7);
    expect(signal.metrics.framesDuplicate).toBeGreaterThanOrEqual(6);

    // Unacked frames from the signal side are retransmitted until the peer acks them.
    const rtx = signal.metrics.framesRetransmitted;
    s.send("needs-ack");
    await fake.waitFor((e) => e.k === "data" && e.s === id && (e.m as string[]).includes("needs-ack"));
    await until(() => fake.inbox.filter((e) => e.k === "data" && e.s === id).length >= 2, 5_000, "retransmission");
    expect(signal.metrics.framesRetransmitted).toBeGreaterThan(rtx);
    const first = fake.inbox.find((e) => e.k === "data" && e.s === id)!;
    await fake.send("sig-1", { k: "ack", s: id, r: "h", a: first.q as number });
    await until(() => s.bufferedAmount === 0, 5_000, "ack to trim the queue");

    const done = closed(s);
    await fake.send("sig-1", { k: "close", s: id, r: "h", c: 1000, w: "" });
    expect((await done).remote).toBe(true);
    // Anything after the close is answered with the code it closed with.
    await data(9, ["late"]);
    await fake.waitFor((e) => e.k === "close" && e.s === id && e.c === 1000);
    fake.stop();
    await settled();
  });
});
