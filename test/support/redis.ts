// A real redis-server per test run, on a free loopback port, so fault tests can stop and restart
// it without touching the machine's shared instance.
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

export class TestRedis {
  readonly port: number;
  private proc: ChildProcess | undefined;

  private constructor(port: number) {
    this.port = port;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<TestRedis> {
    const r = new TestRedis(await freePort());
    await r.restart();
    return r;
  }

  /** Starts (again) on the same port; resolves once it answers PING. */
  async restart(): Promise<void> {
    if (this.proc) throw new Error("redis already running");
    this.proc = spawn(
      "redis-server",
      ["--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no"],
      { stdio: "ignore" },
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
