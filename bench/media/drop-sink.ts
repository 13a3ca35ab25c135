// A loopback UDP port that nobody reads: a child process binds it with a tiny receive buffer and
// blocks its own event loop, so the kernel drops what consumers send there and counts the drops
// (/proc/net/udp). Delivery is still checked — every packet reached the host's socket — but the
// benchmark process spends no CPU reading tens of thousands of packets per second, CPU the media
// workers it measures would otherwise have to share on a small machine.
import { type ChildProcess, spawn } from "node:child_process";
import { kernelDrops } from "./rtp.ts";

const CHILD = `
const s = require("node:dgram").createSocket({ type: "udp4", recvBufferSize: 4096 });
s.bind(0, "127.0.0.1", () => {
  process.stdout.write(s.address().port + "\\n");
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); // never reads again
});`;

export class DropSink {
  private child: ChildProcess | undefined;
  port = 0;

  async start(): Promise<number> {
    const child = spawn(process.execPath, ["-e", CHILD], { stdio: ["ignore", "pipe", "inherit"] });
    this.child = child;
    // Its event loop is blocked for good: nothing but a signal ends it, so it must not outlive us.
    process.once("exit", () => child.kill("SIGKILL"));
    this.port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("drop sink did not start in 10 s")), 10_000);
      child.once("exit", (code) => reject(new Error(`drop sink exited (${code})`)));
      child.stdout!.once("data", (d: Buffer) => {
        clearTimeout(timer);
        resolve(Number(String(d).trim()));
      });
    });
    return this.port;
  }

  /** Packets that reached the port (all but the few its buffer holds were dropped there). */
  delivered(): number {
    return kernelDrops(this.port);
  }

  close(): void {
    this.child?.kill("SIGKILL");
  }
}
