// A real coturn (Debian's `turnserver`) on loopback for one test file: foreground, temp config
// dir, time-limited credentials (use-auth-secret), stopped by its pid. Notes:
// /work/shared/notes/webrtc-turn-simulcast.md (loopback peers must be allowed explicitly).
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "../../infra/local/wait.ts";
import { freePort } from "../../infra/local/ports.ts";

const TURNSERVER = process.env.TURNSERVER_PATH ?? "/usr/bin/turnserver";

export class TurnServer {
  readonly logs: string[] = [];
  readonly port: number;
  readonly secret: string;
  private readonly proc: ChildProcess;
  private readonly dir: string;
  private constructor(port: number, secret: string, proc: ChildProcess, dir: string) {
    this.port = port;
    this.secret = secret;
    this.proc = proc;
    this.dir = dir;
  }

  /** `port`/`secret`: the same again (a TURN server restarted on its address). */
  static async start(o: { port?: number; secret?: string } = {}): Promise<TurnServer> {
    const port = o.port ?? (await freePort());
    const secret = o.secret ?? randomBytes(24).toString("hex");
    const dir = mkdtempSync(join(tmpdir(), "meridian-turn-"));
    // Relay ports: a random block, so parallel test files rarely collide.
    const lo = 40_000 + Math.floor(Math.random() * 400) * 50;
    const proc = spawn(
      TURNSERVER,
      [
        "-n",
        `--listening-ip=127.0.0.1`,
        `--listening-port=${port}`,
        "--use-auth-secret",
        `--static-auth-secret=${secret}`,
        "--realm=meridian.test",
        "--no-tls",
        "--no-dtls",
        "--no-cli",
        "--log-file=stdout",
        "--simple-log",
        "--allow-loopback-peers",
        `--min-port=${lo}`,
        `--max-port=${lo + 49}`,
        `--pidfile=${join(dir, "turnserver.pid")}`,
        `--userdb=${join(dir, "turndb")}`,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    const t = new TurnServer(port, secret, proc, dir);
    for (const s of [proc.stdout!, proc.stderr!])
      s.on("data", (d: Buffer) => {
        t.logs.push(...d.toString().split("\n").filter(Boolean));
        if (t.logs.length > 500) t.logs.splice(0, t.logs.length - 500);
      });
    await waitFor(
      () => tcpOpen(port),
      (ok) => ok || proc.exitCode !== null,
      "turnserver listening",
      10_000,
    );
    if (proc.exitCode !== null) throw new Error(`turnserver exited: ${t.logs.slice(-10).join("\n")}`);
    return t;
  }

  /** turn: URI for udp or tcp. */
  url(transport: "udp" | "tcp" = "udp"): string {
    return `turn:127.0.0.1:${this.port}?transport=${transport}`;
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      const exited = new Promise((r) => this.proc.once("exit", r));
      this.proc.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3_000))]);
      if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill("SIGKILL");
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}
