// A real redis-server from PATH on a free loopback port (no persistence), with stop()/restart()
// on the same port so fault tests can model an outage.
import { spawn, type ChildProcess } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { freePort } from "./ports.ts";

export class RedisServer {
  readonly port: number;
  private readonly detached: boolean;
  private proc: ChildProcess | undefined;

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

  /** Starts (again) on the same port; resolves once it answers PING. */
  async restart(): Promise<void> {
    if (this.proc) throw new Error("redis already running");
    this.proc = spawn(
      "redis-server",
      ["--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no"],
      { stdio: "ignore", detached: this.detached },
    );
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const c = new Redis(this.port, "127.0.0.1", { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
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

  client(): Redis {
    return new Redis(this.port, "127.0.0.1", { maxRetriesPerRequest: 1 });
  }
}
