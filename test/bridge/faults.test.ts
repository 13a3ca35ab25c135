// Failure modes: a peer node killed mid-session, Redis stopped and restarted, a peer that stops
// draining. Outcomes asserted: close codes, delivered frames, freed state, bounded queues.
import type { ChildProcess } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestRedis } from "../support/redis.ts";
import { BridgeCloseCode, type BridgeEndpoint, type BridgeSession } from "../../media-node/src/bridge/index.ts";
import {
  closed,
  collect,
  echo,
  FakeNode,
  opened,
  sigkill,
  spawnNode as spawnChild,
  startEndpoint,
  until,
} from "./support.ts";

let redis: TestRedis;
let a: BridgeEndpoint;
let b: BridgeEndpoint;
const hostedOnA: BridgeSession[] = [];
const children: ChildProcess[] = [];

beforeAll(async () => {
  redis = await TestRedis.start();
  a = await startEndpoint(redis, "node-a");
  b = await startEndpoint(redis, "node-b");
  a.onSession((s) => {
    hostedOnA.push(s);
    echo(s);
  });
  b.onSession(echo);
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  await a?.close();
  await b?.close();
  await redis?.stop();
});

function spawnNode(args: string[], readyLine: string): Promise<ChildProcess> {
  return spawnChild(redis, args, readyLine, children);
}

describe("bridge faults", () => {
  it("closes the signal side with PeerTimeout when the hosting node is SIGKILLed", async () => {
    const child = await spawnNode(["host-child", "host"], "ready");
    const s = a.open("host-child", { assertion: "t" });
    const got = collect(s);
    await opened(s);
    s.send("ping");
    await got.waitFor(1);
    const ev = closed(s);
    await sigkill(child);
    expect(await ev).toMatchObject({ code: BridgeCloseCode.PeerTimeout, remote: false });
    expect(a.sizes.relayed).toBe(0);
  });

  it("closes the hosting side with PeerTimeout when the signal node is SIGKILLed", async () => {
    const child = await spawnNode(["sig-child", "signal", "node-a"], "open");
    await until(() => hostedOnA.some((s) => s.peerNodeId === "sig-child"), 5_000, "hosted session");
    const s = hostedOnA.find((x) => x.peerNodeId === "sig-child")!;
    const ev = closed(s);
    await sigkill(child);
    expect((await ev).code).toBe(BridgeCloseCode.PeerTimeout);
    expect(a.sizes.hosted).toBe(0);
  });

  it("carries a session across a Redis stop/restart and opens new sessions after", async () => {
    const s = a.open("node-b", { assertion: "t" });
    const got = collect(s);
    await opened(s);
    for (let i = 0; i < 10; i++) s.send(`before-${i}`);
    await got.waitFor(10);

    await redis.stop();
    await until(() => !a.redisReachable && !b.redisReachable, 5_000, "endpoints to notice the outage");
    for (let i = 0; i < 10; i++) s.send(`during-${i}`); // queued, publishes fail, retransmitted later
    await sleep(2_000); // longer than peerTimeoutMs: silence during an outage must not kill sessions
    expect(s.state).toBe("open");
    await redis.restart();

    const frames = await got.waitFor(20, 20_000);
    expect(frames).toEqual([
      ...Array.from({ length: 10 }, (_, i) => `before-${i}`),
      ...Array.from({ length: 10 }, (_, i) => `during-${i}`),
    ]);
    expect(a.metrics.framesRetransmitted).toBeGreaterThan(0);
    expect(s.state).toBe("open");

    const fresh = b.open("node-a", { assertion: "t2" });
    const freshGot = collect(fresh);
    await opened(fresh);
    fresh.send("after restart");
    expect(await freshGot.waitFor(1)).toEqual(["after restart"]);
    fresh.close();
    s.close();
    await until(() => a.metrics.sessionsOpen === 0 && b.metrics.sessionsOpen === 0, 10_000, "sessions freed");
  });

  it("closes with RedisUnavailable when the outage outlasts the grace period", async () => {
    const brief = await startEndpoint(redis, "node-brief", { redisOutageGraceMs: 500 });
    try {
      const s = brief.open("node-b", { assertion: "t" });
      await opened(s);
      const ev = closed(s);
      await redis.stop();
      expect((await ev).code).toBe(BridgeCloseCode.RedisUnavailable);
      expect(brief.sizes.relayed).toBe(0);
    } finally {
      await redis.restart();
      await brief.close();
    }
    // The other endpoints reconnect by themselves.
    await until(() => a.redisReachable && b.redisReachable, 10_000, "reconnect");
    const s = a.open("node-b", { assertion: "t" });
    const got = collect(s);
    await opened(s);
    s.send("x");
    await got.waitFor(1);
    s.close();
  });

  it("closes with Overflow when the peer stops draining, and the queue stays bounded", async () => {
    const maxQueuedBytes = 64 * 1024;
    const maxQueuedFrames = 200;
    const flooder = await startEndpoint(redis, "node-flood", {
      maxQueuedBytes,
      maxQueuedFrames,
      peerTimeoutMs: 60_000,
    });
    const fake = await FakeNode.start(redis, "silent-host");
    try {
      const s = flooder.open("silent-host", { assertion: "t" });
      const open = await fake.waitFor((e) => e.k === "open");
      await fake.send("node-flood", { k: "accept", s: open.s as string, r: "h" });
      await opened(s);
      fake.stop(); // the peer is gone: nothing will ever be acked
      const ev = closed(s);
      let sent = 0;
      let peak = 0;
      while (sent < 10_000 && s.send("y".repeat(500))) {
        sent++;
        peak = Math.max(peak, s.bufferedAmount);
        if (sent % 50 === 0) await sleep(1); // let publishes go out, as a real relay would
      }
      expect((await ev).code).toBe(BridgeCloseCode.Overflow);
      expect(sent).toBeLessThanOrEqual(maxQueuedFrames);
      expect(peak).toBeLessThanOrEqual(maxQueuedBytes);
      expect(s.bufferedAmount).toBe(0);
      expect(flooder.sizes.relayed).toBe(0);
    } finally {
      await flooder.close();
    }
  });
});
