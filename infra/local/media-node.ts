// A real media node as a child process (`node media-node/src/main.ts`, exactly what the Docker
// image runs) on free loopback ports, plus media-token minting for it. Logs are kept (bounded)
// for failure messages; tokens never appear in them (the node does not log them).
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { mintToken, type VideoGrant } from "#shared/token.ts";
import { freePort } from "./ports.ts";

const MAIN = fileURLToPath(new URL("../../media-node/src/main.ts", import.meta.url));
const WORKER_BIN = fileURLToPath(
  new URL("../../node_modules/mediasoup/worker/out/Release/mediasoup-worker", import.meta.url),
);
const MAX_LOG_LINES = 2000;

/** Whether the mediasoup worker binary is installed (infra/mediasoup/build-worker.sh). */
export const mediasoupWorkerAvailable = (): boolean => existsSync(process.env.MEDIASOUP_WORKER_BIN ?? WORKER_BIN);

/** Environment (config keys) of a media node on loopback with free ports and one worker, for a
 * node run in the caller's own process (MediaNode.start(resolveConfig({}, env))). */
export async function loopbackNodeEnv(o: {
  nodeId: string;
  apiKeys: string;
  redisUrl?: string;
  logLevel?: string;
}): Promise<Record<string, string>> {
  return {
    NODE_ID: o.nodeId,
    REGION: "local",
    API_KEYS: o.apiKeys,
    HTTP_HOST: "127.0.0.1",
    HTTP_PORT: String(await freePort()),
    LISTEN_IP: "127.0.0.1",
    ANNOUNCED_ADDRESS: "127.0.0.1",
    RTC_PORT: String(await freePort()),
    WORKERS: "1",
    ...(o.redisUrl ? { REDIS_URL: o.redisUrl } : {}),
    LOG_LEVEL: o.logLevel ?? "warn",
    SERVE_DEMO: "false",
  };
}

export interface MediaNodeChildOptions {
  apiKey: string;
  apiSecret: string;
  nodeId?: string;
  region?: string;
  /** Cluster mode when set. */
  redisUrl?: string;
  /** Extra env (config keys in UPPER_CASE). */
  env?: Record<string, string>;
  /** Every log line as it arrives (they are also kept in `logs`). */
  onLog?: (line: string) => void;
  /** Own process group, so a terminal's Ctrl-C reaches only the launcher, which stops nodes in order. */
  detached?: boolean;
  /** Fixed ports (a restart "on the same address"); default: free ones. */
  httpPort?: number;
  rtcPort?: number;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface TokenOptions {
  ttlSeconds?: number;
  now?: number;
  /** null: no `meridian` claim (a standalone-mode token). roomSid: as the control plane mints it. */
  meridian?: { node: string; region: string; roomSid?: string } | null;
}

export function mintMediaToken(
  key: { apiKey: string; apiSecret: string },
  identity: string,
  room: string,
  video: Partial<VideoGrant> = {},
  o: TokenOptions = {},
): Promise<string> {
  return mintToken({
    apiKey: key.apiKey,
    apiSecret: key.apiSecret,
    identity,
    video: { roomJoin: true, room, ...video },
    ...(o.meridian ? { meridian: o.meridian } : {}),
    ttlSeconds: o.ttlSeconds ?? 600,
    ...(o.now !== undefined ? { now: o.now } : {}),
  });
}

export class MediaNodeChild {
  readonly nodeId: string;
  readonly region: string;
  readonly httpPort: number;
  readonly rtcPort: number;
  readonly logs: string[] = [];
  readonly exited: Promise<Exit>;
  private readonly proc: ChildProcess;
  private readonly key: { apiKey: string; apiSecret: string };

  private constructor(
    o: MediaNodeChildOptions & { nodeId: string; region: string },
    httpPort: number,
    rtcPort: number,
    proc: ChildProcess,
  ) {
    this.nodeId = o.nodeId;
    this.region = o.region;
    this.httpPort = httpPort;
    this.rtcPort = rtcPort;
    this.proc = proc;
    this.key = { apiKey: o.apiKey, apiSecret: o.apiSecret };
    const keep = (chunk: Buffer) => {
      for (const line of chunk.toString().split("\n")) {
        if (!line) continue;
        this.logs.push(line);
        o.onLog?.(line);
      }
      if (this.logs.length > MAX_LOG_LINES) this.logs.splice(0, this.logs.length - MAX_LOG_LINES);
    };
    proc.stdout?.on("data", keep);
    proc.stderr?.on("data", keep);
    this.exited = new Promise((resolve) => proc.once("exit", (code, signal) => resolve({ code, signal })));
  }

  static async start(o: MediaNodeChildOptions): Promise<MediaNodeChild> {
    const nodeId = o.nodeId ?? `node-${Math.random().toString(36).slice(2, 8)}`;
    const region = o.region ?? "local";
    const httpPort = o.httpPort ?? (await freePort());
    // one RTC port per worker: RTC_PORT + index
    const rtcPort = o.rtcPort ?? (await freePort(Math.max(1, Number(o.env?.WORKERS ?? 1) || 1)));
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
      API_KEYS: `${o.apiKey}:${o.apiSecret}`,
      LOG_LEVEL: "info",
      ...(o.redisUrl ? { REDIS_URL: o.redisUrl } : {}),
      ...(process.env.MEDIASOUP_WORKER_BIN ? { MEDIASOUP_WORKER_BIN: process.env.MEDIASOUP_WORKER_BIN } : {}),
      ...o.env,
    };
    const proc = spawn(process.execPath, [MAIN], {
      env,
      // The IPC channel is the node's lifeline: it stops when this process goes (media-node/src/main.ts).
      stdio: ["ignore", "pipe", "pipe", "ipc"],
      detached: o.detached ?? false,
    });
    proc.channel?.unref(); // the lifeline must not keep this process alive
    const node = new MediaNodeChild({ ...o, nodeId, region }, httpPort, rtcPort, proc);
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
    throw new Error(
      `media node ${nodeId} did not become healthy (exit ${JSON.stringify(exit)}):\n${node.logs.slice(-30).join("\n")}`,
    );
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
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
    if (this.running) {
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
    return mintMediaToken(this.key, identity, room, video, {
      meridian: { node: this.nodeId, region: this.region },
      ...o,
    });
  }
}
