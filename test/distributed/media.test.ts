// The distributed system end to end with real WebRTC peers (headless Chromium, fake camera + mic):
// client A joins from us-west-2 and signals through the us-west-2 node while the room is hosted in
// us-east; client B joins on the hosting node itself; both decode each other's video. Then Redis
// goes away for 10 s mid-call (media keeps flowing, nodes re-register), and the hosting node is
// SIGKILLed (the room is re-placed, both clients rejoin by themselves through the control plane,
// Redis forgets the dead node). Durations are printed, never asserted.
import { setTimeout as sleep } from "node:timers/promises";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode } from "#shared/errors.ts";
import { keys } from "#shared/keys.ts";
import { REPORT_INTERVAL_MS } from "#shared/node.ts";
import { ClusterError } from "../../infra/local/cluster.ts";
import { waitFor } from "../support/media-node.ts";
import {
  PORTLAND,
  WASHINGTON,
  WEST,
  EAST_A,
  EAST_B,
  dumpRedisWith,
  metric,
  participantsOf,
  type Cluster,
  type Where,
} from "./cluster.ts";
import { callStatus, joinCall, startCall, stopCall, type PageGlobals, type Participant } from "./call.ts";

const ROOM = "distributed-call";
const OUTAGE_MS = 10_000;

let c: Cluster;
let browser: Browser;
let a: Participant;
let b: Participant;
let host: string;

beforeAll(async () => void ({ c, browser } = await startCall()), 90_000);
afterAll(() => stopCall(c, browser));

function context(): string {
  return [
    `A console:`,
    ...(a?.console.slice(-10) ?? []),
    `B console:`,
    ...(b?.console.slice(-10) ?? []),
    c.logs(),
  ].join("\n");
}

const participant = (identity: string, where: Where) => joinCall(c, browser, identity, ROOM, where);

describe("distributed call", () => {
  it("A signals through the us-west-2 node to the us-east host, B joins on the host; both decode each other's video", async () => {
    b = await participant("bob", WASHINGTON);
    host = (await callStatus(b)).node!;
    expect([EAST_A, EAST_B]).toContain(host);
    a = await participant("alice", PORTLAND);
    for (const p of [a, b]) {
      await waitFor(
        () => callStatus(p),
        (s) => s.flows,
        `${p.identity} decodes video and receives audio`,
        45_000,
      ).catch((e) => {
        throw new Error(`${e}\n${context()}`);
      });
    }
    expect((await callStatus(a)).node).toBe(host); // A's room is on the host, not on its signal node

    // Redis: one node hosts the room; A's participant record names the bridging node.
    expect(await c.ioredis.hget(keys.room(ROOM), "node")).toBe(host);
    const holders = [];
    for (const id of [WEST, EAST_A, EAST_B]) if (await c.ioredis.sismember(keys.nodeRooms(id), ROOM)) holders.push(id);
    expect(holders).toEqual([host]);
    const ps = await participantsOf(c.ioredis, ROOM);
    expect(ps.alice?.signalNode).toBe(WEST);
    expect(ps.bob?.signalNode).toBe(host);
    // The bridge carried A's whole signaling (join, transports, produce, consume...).
    const framesSent = await metric(c.node(WEST), "meridian_bridge_frames_sent");
    const framesReceived = await metric(c.node(WEST), "meridian_bridge_frames_received");
    expect(framesSent).toBeGreaterThan(5);
    expect(framesReceived).toBeGreaterThan(5);
    expect(await metric(c.node(WEST), "meridian_rooms")).toBe(0);
    console.log(
      `[distributed] room on ${host}; bridge via ${WEST}: ${framesSent} frames sent, ${framesReceived} received`,
    );
  });

  it("Redis down for 10 s mid-call: media keeps flowing, nodes stay healthy, the control plane answers 503; all re-register after", async () => {
    const before = await Promise.all([callStatus(a), callStatus(b)]);
    await c.redis.stop();
    const stoppedAt = Date.now();
    try {
      const refused = await c.join({ identity: "carol", room: ROOM, location: WASHINGTON }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(ClusterError);
      expect(refused).toMatchObject({ status: 503, body: { error: { code: ErrorCode.RedisUnavailable } } });
      for (const n of c.nodes) expect((await fetch(`${n.httpUrl}/healthz`)).status).toBe(200);
      await sleep(OUTAGE_MS / 2 - (Date.now() - stoppedAt));
      const mid = await Promise.all([callStatus(a), callStatus(b)]);
      await sleep(OUTAGE_MS - (Date.now() - stoppedAt));
      const end = await Promise.all([callStatus(a), callStatus(b)]);
      for (const i of [0, 1]) {
        expect(mid[i]!.frames, "frames grow in the first half of the outage").toBeGreaterThan(before[i]!.frames);
        expect(end[i]!.frames, "frames grow in the second half").toBeGreaterThan(mid[i]!.frames);
        expect(end[i]!.node).toBe(host); // nobody had to move
      }
      const health = await (await fetch(`${c.node(host).httpUrl}/healthz`)).json();
      expect(health).toMatchObject({ status: "ok", redis: "unreachable" });
      console.log(
        `[distributed] frames decoded during the ${OUTAGE_MS / 1000} s outage: A ${before[0]!.frames}→${end[0]!.frames}, B ${before[1]!.frames}→${end[1]!.frames}`,
      );
    } finally {
      await c.redis.restart();
    }
    // The restarted Redis is empty: every node re-registers and the host reclaims the room.
    const restartedAt = Date.now();
    await waitFor(
      () => c.ioredis.zcard(keys.nodes()),
      (n) => n === 3,
      "three nodes re-registered",
    );
    await waitFor(
      () => c.ioredis.hget(keys.room(ROOM), "node"),
      (n) => n === host,
      "room mapping reclaimed by its host",
    );
    await waitFor(
      () => participantsOf(c.ioredis, ROOM),
      (p) => p.alice?.signalNode === WEST && p.bob?.signalNode === host,
      "participants re-synced",
    );
    console.log(`[distributed] re-registered ${Date.now() - restartedAt} ms after Redis came back`);
    // The bridged signaling session survived the outage.
    const pong = await a.page.evaluate(() => {
      const client = (globalThis as unknown as PageGlobals).meridian.client as unknown as {
        signal: { request(m: string, d: object): Promise<{ now: number }> };
      };
      return client.signal.request("ping", {});
    });
    expect(pong.now).toBeGreaterThan(0);
    expect((await c.join({ identity: "carol", room: ROOM, location: WASHINGTON })).node).toBe(host);
  });

  it("SIGKILL the hosting node: the room is re-placed, both clients rejoin by themselves and decode video again; Redis forgets the dead node", async () => {
    const dead = host;
    const killedAt = Date.now();
    c.node(dead).signal("SIGKILL");
    await c.node(dead).exited;
    const back = async (p: Participant) =>
      waitFor(
        () => callStatus(p),
        (s) => s.node !== undefined && s.node !== dead && s.flows,
        `${p.identity} back with media`,
        60_000,
      ).catch((e) => {
        throw new Error(`${e}\n${context()}`);
      });
    const [sa, sb] = await Promise.all([back(a), back(b)]);
    const failoverMs = Date.now() - killedAt;
    expect(sa.node).toBe(sb.node);
    expect(sa.moves).toBeGreaterThanOrEqual(1);
    expect(sb.moves).toBeGreaterThanOrEqual(1);
    const newHost = sa.node!;
    expect(await c.ioredis.hget(keys.room(ROOM), "node")).toBe(newHost);
    const firstLive = [...a.rejoins, ...b.rejoins]
      .filter((j) => j.at > killedAt && j.node !== dead)
      .sort((x, y) => x.at - y.at)[0]!;
    console.log(
      `[distributed] failover: kill → first join placed on a live node ${firstLive.at - killedAt} ms (2 report intervals = ${2 * REPORT_INTERVAL_MS} ms); ` +
        `kill → both clients decoding video again ${failoverMs} ms; new host ${newHost}; rejoin calls A ${a.rejoins.length}, B ${b.rejoins.length}`,
    );
    const left = await waitFor(
      () => dumpRedisWith(c.ioredis, dead),
      (k) => k.length === 0,
      `no Redis keys mentioning ${dead}`,
      15_000,
    ).catch(async (e) => {
      throw new Error(`${e}\n${(await dumpRedisWith(c.ioredis, dead)).join("\n")}`);
    });
    expect(left).toEqual([]);
    expect(await c.ioredis.zscore(keys.nodes(), dead)).toBeNull();
  });
});
