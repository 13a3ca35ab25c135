// Helpers for the bridge tests: endpoints with short timeouts, awaitable session events, and a raw
// Redis "fake node" that speaks the wire format directly so tests can inject what a real peer never
// would (duplicates, reordering, silence).
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import type { Redis } from "ioredis";
import { keys } from "#shared/keys.ts";
import {
  BridgeEndpoint,
  type BridgeEndpointConfig,
  type BridgeCloseEvent,
  type BridgeSession,
} from "../../media-node/src/bridge/index.ts";
import { encode, type Outgoing } from "../../media-node/src/bridge/envelope.ts";
import { BusAuth } from "../../media-node/src/cluster/bus-auth.ts";
import type { TestRedis } from "../support/redis.ts";

export const quietLog = { info: () => {}, warn: () => {} };

/** The API keys every test endpoint derives its bus key from (shared/bus.ts). */
export const busKeys: ReadonlyMap<string, string> = new Map([
  ["bridge-test", "bridge-test-secret-long-enough-for-hmac"],
]);

/** Timeouts short enough for tests; outcomes are asserted, never durations. */
export const fastTimers = {
  keepaliveIntervalMs: 200,
  peerTimeoutMs: 1_500,
  openTimeoutMs: 1_500,
  initialRtoMs: 100,
  maxRtoMs: 400,
} satisfies Partial<BridgeEndpointConfig>;

export async function startEndpoint(
  redis: TestRedis,
  nodeId: string,
  extra: Partial<BridgeEndpointConfig> = {},
): Promise<BridgeEndpoint> {
  const ep = new BridgeEndpoint({
    nodeId,
    redisUrl: redis.url,
    apiKeys: busKeys,
    log: quietLog,
    ...fastTimers,
    ...extra,
  });
  await ep.start();
  return ep;
}

/** Hosting-side handler that echoes every frame back. */
export function echo(session: BridgeSession): void {
  session.on("message", (f) => session.send(f));
}

export async function opened(s: BridgeSession): Promise<void> {
  if (s.state === "open") return;
  const r = await Promise.race([
    once(s, "open").then(() => "open" as const),
    once(s, "close").then(([e]) => e as BridgeCloseEvent),
  ]);
  if (r !== "open") throw new Error(`session closed instead of opening: ${r.code} ${r.reason}`);
}

export function closed(s: BridgeSession): Promise<BridgeCloseEvent> {
  return once(s, "close").then(([e]) => e as BridgeCloseEvent);
}

/** Collects a session's frames; `next(n)` waits until n more have arrived. */
export function collect(s: BridgeSession): { frames: string[]; waitFor(n: number, ms?: number): Promise<string[]> } {
  const frames: string[] = [];
  s.on("message", (f) => frames.push(f));
  return {
    frames,
    async waitFor(n, ms = 10_000) {
      await until(() => frames.length >= n, ms, `${n} frames (got ${frames.length})`);
      return frames;
    },
  };
}

export async function until(pred: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

const nodeFixture = fileURLToPath(new URL("./fixtures/bridge-node.ts", import.meta.url));

/** Starts fixtures/bridge-node.ts in its own process (so a test can SIGKILL a "node"); resolves
 *  once it printed readyLine. The child is pushed to `children` for the caller's cleanup. */
export async function spawnNode(
  redis: TestRedis,
  args: string[],
  readyLine: string,
  children: ChildProcess[],
): Promise<ChildProcess> {
  const child = spawn(process.execPath, [nodeFixture, redis.url, ...args], { stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  await until(() => out.includes(readyLine), 20_000, `child ${args.join(" ")} to print ${readyLine}`);
  return child;
}

export async function sigkill(child: ChildProcess): Promise<void> {
  const exited = once(child, "exit");
  child.kill("SIGKILL");
  await exited;
}

/** A node that exists only as raw Redis connections: sees its inbox, publishes raw envelopes
 *  (sealed with the cluster's bus key, as a real node does; `raw` publishes anything). */
export class FakeNode {
  readonly id: string;
  readonly inbox: Array<Record<string, unknown>> = [];
  #sub: Redis;
  #pub: Redis;
  #auth: BusAuth;

  private constructor(id: string, sub: Redis, pub: Redis) {
    this.id = id;
    this.#sub = sub;
    this.#pub = pub;
    this.#auth = new BusAuth(busKeys, id);
  }

  static async start(redis: TestRedis, id: string): Promise<FakeNode> {
    const node = new FakeNode(id, redis.client(), redis.client());
    node.#sub.on("message", (channel: string, raw: string) => {
      const opened = node.#auth.open(channel, raw);
      if (typeof opened !== "string") node.inbox.push(JSON.parse(opened.payload) as Record<string, unknown>);
    });
    await node.#sub.subscribe(keys.nodeBus(id));
    return node;
  }

  async waitFor(pred: (e: Record<string, unknown>) => boolean, ms = 5_000): Promise<Record<string, unknown>> {
    let hit: Record<string, unknown> | undefined;
    await until(() => (hit = this.inbox.find(pred)) !== undefined, ms, "envelope at fake node");
    return hit!;
  }

  send(to: string, out: Outgoing): Promise<number> {
    return this.sealed(to, encode(this.id, out));
  }

  /** Publishes any payload, sealed with the cluster's bus key as from this node, or as from
   *  `as` (an insider holding the key can claim to be any node). */
  sealed(to: string, payload: string, as?: string): Promise<number> {
    const channel = keys.nodeBus(to);
    const auth = as === undefined || as === this.id ? this.#auth : new BusAuth(busKeys, as);
    return this.#pub.publish(channel, auth.seal(channel, payload));
  }

  raw(to: string, message: string | Buffer): Promise<number> {
    return this.#pub.publish(keys.nodeBus(to), message);
  }

  stop(): void {
    this.#sub.disconnect();
    this.#pub.disconnect();
  }
}
