// A real media node as a child process (`node media-node/src/main.ts`, exactly what the Docker
// image runs) on free loopback ports, plus token minting for it. Logs are kept for failure
// messages; tokens never appear in them (the node does not log them).
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { keys } from "../../shared/keys.ts";
import { NodeRecord } from "../../shared/node.ts";
import { mintToken, type VideoGrant } from "../../shared/token.ts";
import { freePort } from "./redis.ts";

export const API_KEY = "test-key";
export const API_SECRET = "test-secret-that-is-long-enough-for-hs256";
const MAIN = fileURLToPath(new URL("../../media-node/src/main.ts", import.meta.url));
const WORKER_BIN = fileURLToPath(new URL("../../node_modules/mediasoup/worker/out/Release/mediasoup-worker", import.meta.url));

/** Whether the mediasoup worker binary is installed (infra/mediasoup/build-worker.sh). */
export const mediasoupWorkerAvailable = (): boolean => existsSync(process.env.MEDIASOUP_WORKER_BIN ?? WORKER_BIN);

export interface MediaNodeProcessOptions {
  nodeId?: string;
  region?: string;
  /** Cluster mode when set. */
  redisUrl?: string;
  /** Extra env (config keys in UPPER_CASE). */
  env?: Record<string, string>;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class MediaNodeProcess {
  readonly nodeId: string;
  readonly region: string;
  readonly httpPort: number;
  readonly logs: string[] = [];
  readonly exited: Promise<Exit>;
  private readonly proc: ChildProcess;

  private constructor(nodeId: string, region: string, httpPort: number, proc: ChildProcess) {
    this.nodeId = nodeId;
    this.region = region;
    this.httpPort = httpPort;
    this.proc = proc;
    const keep = (chunk: Buffer) => {
      for (const line of chunk.toString().split("\n")) if (line) this.logs.push(line);
      if (this.logs.length > 2000) this.logs.splice(0, this.logs.length - 2000);
    };
    proc.stdout?.on("data", keep);
    proc.stderr?.on("data", keep);
    this.exited = new Promise((resolve) => proc.once("exit", (code, signal) => resolve({ code, signal })));
  }

  static async start(o: MediaNodeProcessOptions = {}): Promise<MediaNodeProcess> {
    const nodeId = o.nodeId ?? `test-node-${Math.random().toString(36).slice(2, 8)}`;
    const region = o.region ?? "local";
    const httpPort = await freePort();
    const rtcPort = await freePort();
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "/tmp",
      NODE_ID: nodeId,
      REGION: region,
      HTTP_HOST: "127.0.0.1",
      HTTP_PORT: String(httpPort),
      LISTEN_IP: "127.0.0.1",
      ANNOUNCED_ADDRESS: "127.0.0.1",
      RTC_PORT: String(rtcPort),
      WORKERS: "1",
      API_KEYS: `${API_KEY}:${API_SECRET}`,
      LOG_LEVEL: "info",
      ...(o.redisUrl ? { REDIS_URL: o.redisUrl } : {}),
      ...(process.env.MEDIASOUP_WORKER_BIN ? { MEDIASOUP_WORKER_BIN: process.env.MEDIASOUP_WORKER_BIN } : {}),
      ...o.env,
    };
    const proc = spawn(process.execPath, [MAIN], { env, stdio: ["ignore", "pipe", "pipe"] });
    const node = new MediaNodeProcess(nodeId, region, httpPort, proc);
    let exit: Exit | undefined;
    void node.exited.then((e) => (exit = e));
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && !exit) {
      try {
        const r = await fetch(`${node.httpUrl}/healthz`);
        if (r.ok) return node;
      } catch {
        /* not listening yet */
      }
      await sleep(100);
    }
    proc.kill("SIGKILL");
    throw new Error(`media node did not become healthy (exit ${JSON.stringify(exit)}):\n${node.logs.slice(-30).join("\n")}`);
  }

  get httpUrl(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  get signalUrl(): string {
    return `ws://127.0.0.1:${this.httpPort}/rtc`;
  }

  signal(sig: NodeJS.Signals): void {
    this.proc.kill(sig);
  }

  /** Immediate stop (SIGINT), SIGKILL if it does not exit within 10 s. */
  async stop(): Promise<Exit> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill("SIGINT");
      const timer = setTimeout(() => this.proc.kill("SIGKILL"), 10_000);
      const e = await this.exited;
      clearTimeout(timer);
      return e;
    }
    return this.exited;
  }

  /** Mints a media token for this node (with the `meridian` claim, as the control plane does). */
  token(identity: string, room: string, video: Partial<VideoGrant> = {}, o: TokenOptions = {}): Promise<string> {
    return mediaToken(identity, room, video, { meridian: { node: this.nodeId, region: this.region }, ...o });
  }
}

export interface TokenOptions {
  ttlSeconds?: number;
  now?: number;
  /** null: no `meridian` claim (a standalone-mode token). */
  meridian?: { node: string; region: string } | null;
}

export function mediaToken(identity: string, room: string, video: Partial<VideoGrant> = {}, o: TokenOptions = {}): Promise<string> {
  return mintToken({
    apiKey: API_KEY,
    apiSecret: API_SECRET,
    identity,
    video: { roomJoin: true, room, ...video },
    ...(o.meridian ? { meridian: o.meridian } : {}),
    ttlSeconds: o.ttlSeconds ?? 600,
    ...(o.now !== undefined ? { now: o.now } : {}),
  });
}

/** The node's record in Redis, or null once it is gone. */
export async function readNodeRecord(redis: Redis, nodeId: string): Promise<NodeRecord | null> {
  const raw = await redis.get(keys.node(nodeId));
  return raw === null ? null : NodeRecord.parse(JSON.parse(raw));
}

/** Polls `read` until `ok` holds (bounded); returns the last value, or throws with it. */
export async function waitFor<T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await read();
    if (ok(last)) return last;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
}
