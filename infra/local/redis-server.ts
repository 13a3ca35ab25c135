// A real redis-server from PATH on a free loopback port (no persistence), with stop()/restart()
// on the same port so fault tests can model an outage, and snapshot()/restart(snapshot) to model
// Redis going back in time (an RDB restore, a failover to a lagging replica).
import { spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { freePort } from "./ports.ts";

// Working dirs (RDB files only) of this process's servers, deleted when it exits.
const dirs = new Set<string>();
function workDir(): string {
  if (dirs.size === 0)
    process.once("exit", () => {
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    });
  const d = mkdtempSync(join(tmpdir(), "meridian-redis-"));
  dirs.add(d);
  return d;
}

export class RedisServer {
  readonly port: number;
  private readonly detached: boolean;
  private proc: ChildProcess | undefined;
  /** The server's working dir: SAVE writes dump.rdb here, a restart from a snapshot loads it. */
  private readonly dir = workDir();
  private snapshots = 0;

  private constructor(port: number, detached: boolean) {
    this.port = port;
    this.detached = detached;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** The server's pid while it runs. */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** detached: own process group, so a terminal's Ctrl-C reaches only the launcher (which stops it last). */
  static async start(o: { port?: number; detached?: boolean } = {}): Promise<RedisServer> {
    const r = new RedisServer(o.port ?? (await freePort()), o.detached ?? false);
    await r.restart();
    return r;
  }

  /** Starts (again) on the same port, empty or with the data of `snapshot` (keys whose TTL ran
   * out since are dropped on load, as with any RDB); resolves once it answers PING. */
  async restart(snapshot?: string): Promise<void> {
    if (this.proc) throw new Error("redis already running");
    const rdb = join(this.dir, "dump.rdb");
    rmSync(rdb, { force: true });
    if (snapshot) copyFileSync(snapshot, rdb);
    this.proc = spawn(
      "redis-server",
      [
        "--port",
        String(this.port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--protected-mode",
        "no",
        "--dir",
        this.dir,
      ],
      { stdio: "ignore", detached: this.detached },
    );
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const c = new Redis(this.port, "127.0.0.1", {
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      c.on("error", () => {}); // connection refused while the server boots is expected
      try {
        await c.connect();
        if ((await c.ping()) === "PONG") return;
      } catch {
        /* not up yet */
      } finally {
        c.disconnect();
      }
      await sleep(50);
    }
    throw new Error(`redis-server did not start on ${this.port}`);
  }

  /** Stops the server (SIGKILL: models a crash; nothing is persisted anyway). */
  async stop(): Promise<void> {
    const p = this.proc;
    if (!p) return;
    this.proc = undefined;
    await new Promise<void>((resolve) => {
      if (p.exitCode !== null || p.signalCode !== null) return resolve();
      p.once("exit", () => resolve());
      p.kill("SIGKILL");
    });
  }

  /** SAVE, and a copy of the RDB it wrote: pass it to restart() to go back to this moment. */
  async snapshot(): Promise<string> {
    const c = this.client();
    try {
      await c.save();
    } finally {
      c.disconnect();
    }
    const file = join(this.dir, `snapshot-${++this.snapshots}.rdb`);
    copyFileSync(join(this.dir, "dump.rdb"), file);
    return file;
  }

  client(): Redis {
    return new Redis(this.port, "127.0.0.1", { maxRetriesPerRequest: 1 });
  }
}
