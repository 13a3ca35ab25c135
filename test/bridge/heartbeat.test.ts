// Liveness per node pair: K idle sessions between two nodes cost O(1) publishes per keepalive
// interval (counted by redis-server itself), a killed peer still closes all K with PeerTimeout,
// and a peer that restarted or dropped sessions unheard is found through the heartbeat digest.
import type { ChildProcess } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestRedis } from "../support/redis.ts";
import { BridgeCloseCode, type BridgeEndpoint, type BridgeSession } from "../../media-node/src/bridge/index.ts";
import { digestOf } from "../../media-node/src/bridge/peers.ts";
import { closed, FakeNode, fastTimers, opened, sigkill, spawnNode, startEndpoint, until } from "./support.ts";

const K = 40;
let redis: TestRedis;
let stats: Redis;
const children: ChildProcess[] = [];
const endpoints: BridgeEndpoint[] = [];

beforeAll(async () => {
  redis = await TestRedis.start();
  stats = redis.client();
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  for (const ep of endpoints) await ep.close();
  stats?.disconnect();
  await redis?.stop();
});

async function endpoint(nodeId: string, extra: Parameters<typeof startEndpoint>[2] = {}): Promise<BridgeEndpoint> {
  const ep = await startEndpoint(redis, nodeId, extra);
  endpoints.push(ep);
  return ep;
}

function spawnHost(nodeId: string): Promise<ChildProcess> {
  return spawnNode(redis, [nodeId, "host"], "ready", children);
}

async function openMany(ep: BridgeEndpoint, host: string, n: number): Promise<BridgeSession[]> {
  const sessions = Array.from({ length: n }, (_, i) => ep.open(host, { assertion: `t${i}` }));
  for (const s of sessions) await opened(s);
  return sessions;
}

/** PUBLISH calls redis-server has served so far (every node's, both directions). */
async function publishes(): Promise<number> {
  return Number(/cmdstat_publish:calls=(\d+)/.exec(await stats.info("commandstats"))?.[1] ?? 0);
}

describe("bridge node-pair heartbeats", () => {
  it("K idle sessions cost O(1) publishes per interval, and a killed peer still closes all K with PeerTimeout", async () => {
    const a = await endpoint("hb-a");
    const child = await spawnHost("hb-host");
    const sessions = await openMany(a, "hb-host", K);
    await sleep(3 * fastTimers.keepaliveIntervalMs); // delayed acks of the opens go out first

    const p0 = await publishes();
    const hb0 = a.metrics.heartbeatsSent;
    const t0 = Date.now();
    await sleep(10 * fastTimers.keepaliveIntervalMs);
    const elapsed = Date.now() - t0;
    const spent = (await publishes()) - p0;
    // One heartbeat per side per interval; per-session keepalives would be 2K = 80 per interval.
    const intervals = Math.ceil(elapsed / fastTimers.keepaliveIntervalMs) + 1;
    expect(spent).toBeGreaterThan(0); // the pair is still heartbeating
    expect(spent).toBeLessThanOrEqual(2 * intervals);
    expect(a.metrics.heartbeatsSent - hb0).toBeLessThanOrEqual(intervals);
    expect(a.metrics.sessionProbes).toBe(0);
    expect(sessions.every((s) => s.state === "open")).toBe(true);

    const closes = sessions.map(closed);
    await sigkill(child);
    const events = await Promise.all(closes);
    expect(events.map((e) => e.code)).toEqual(Array(K).fill(BridgeCloseCode.PeerTimeout));
    expect(a.sizes).toMatchObject({ relayed: 0, peers: 0 });
  });

  it("closes every session with SessionUnknown when the peer restarts before the peer timeout", async () => {
    // A peer timeout this long cannot fire during the test: only the digest check can close them.
    const a = await endpoint("hb-patient", { peerTimeoutMs: 60_000 });
    const first = await spawnHost("hb-restarting");
    const sessions = await openMany(a, "hb-restarting", 10);
    await until(() => a.metrics.heartbeatsSent > 0, 5_000, "a heartbeat to the host");
    const closes = sessions.map(closed);
    await sigkill(first);
    await spawnHost("hb-restarting");
    const events = await Promise.all(closes);
    expect(events.map((e) => e.code)).toEqual(Array(10).fill(BridgeCloseCode.SessionUnknown));
    expect(a.metrics.sessionProbes).toBeGreaterThanOrEqual(10);
    expect(a.sizes).toMatchObject({ relayed: 0, peers: 0 });
  });

  it("probes only when the peer's digest disagrees, and then closes just the session the peer lost", async () => {
    const a = await endpoint("hb-digest", { peerTimeoutMs: 60_000 });
    const fake = await FakeNode.start(redis, "hb-fake");
    try {
      const sessions = [0, 1, 2].map((i) => a.open("hb-fake", { assertion: `d${i}` }));
      for (const s of sessions) {
        const open = await fake.waitFor((e) => e.k === "open" && e.s === s.id);
        await fake.send("hb-digest", { k: "accept", s: open.s as string, r: "h" });
        await opened(s);
      }
      const heartbeat = (held: BridgeSession[]) =>
        fake.send("hb-digest", { k: "hb", e: "fake-epoch", ...digestOf(held) });

      // Agreeing heartbeats: no session is pinged.
      for (let i = 0; i < 3; i++) await heartbeat(sessions);
      await fake.waitFor((e) => e.k === "hb"); // a heartbeats the fake too
      await heartbeat(sessions);
      expect(a.metrics.sessionProbes).toBe(0);

      // The fake "lost" sessions[2] without a's hearing of it: two disagreeing heartbeats probe all.
      const lost = sessions[2]!;
      await heartbeat(sessions.slice(0, 2));
      await heartbeat(sessions.slice(0, 2));
      for (const s of sessions) await fake.waitFor((e) => e.k === "ping" && e.s === s.id);
      expect(a.metrics.sessionProbes).toBe(3);

      // The fake answers the probe of the lost session as a real node would.
      const ev = closed(lost);
      await fake.send("hb-digest", {
        k: "close",
        s: lost.id,
        r: "h",
        c: BridgeCloseCode.SessionUnknown,
        w: "peer node has no such session",
      });
      expect((await ev).code).toBe(BridgeCloseCode.SessionUnknown);
      expect(sessions.slice(0, 2).every((s) => s.state === "open")).toBe(true);
    } finally {
      fake.stop();
    }
  });
  it("a silent peer the node confirms dead (onSilentPeer) has its sessions closed at once; unconfirmed silence keeps them", async () => {
    const a = await endpoint("hb-suspect", { peerTimeoutMs: 60_000, suspectAfterMs: 400 });
    let dead = false;
    const asked: string[] = [];
    a.onSilentPeer(async (peer) => {
      asked.push(peer);
      return dead;
    });
    const child = await spawnHost("hb-suspect-host");
    const sessions = await openMany(a, "hb-suspect-host", 3);
    expect(asked).toEqual([]); // heard from: never asked
    await sigkill(child);
    await until(() => asked.length >= 2, 10_000, "asked about the silent peer, again while it stays silent");
    expect(
      sessions.every((s) => s.state === "open"),
      "silence alone closes nothing",
    ).toBe(true);
    const closes = sessions.map(closed);
    dead = true;
    const events = await Promise.all(closes);
    expect(events.map((e) => e.code)).toEqual(Array(3).fill(BridgeCloseCode.PeerTimeout));
    expect(new Set(asked)).toEqual(new Set(["hb-suspect-host"]));
    expect(a.sizes).toMatchObject({ relayed: 0, peers: 0 });
  });
});
