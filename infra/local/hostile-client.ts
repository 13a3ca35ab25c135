// Hostile signaling clients for tests and the reliability suite: a WebSocket spoken by hand over a
// TCP socket that never reads what the node sends (socket paused), so whatever the node queues
// for it stays queued on the node. Every loop here is bounded in time.
import { randomBytes } from "node:crypto";
import { connect, type Socket } from "node:net";
import { setImmediate as yieldToLoop, setTimeout as sleep } from "node:timers/promises";

/** One masked client frame (RFC 6455 §5.2): text unless `binary`. */
export function clientFrame(payload: Buffer | string, binary = false): Buffer {
  const data = typeof payload === "string" ? Buffer.from(payload) : payload;
  const len = data.length;
  const head = len < 126 ? 2 : len < 65_536 ? 4 : 10;
  const out = Buffer.alloc(head + 4 + len);
  out[0] = 0x80 | (binary ? 0x2 : 0x1);
  if (len < 126) out[1] = 0x80 | len;
  else if (len < 65_536) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(len, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeBigUInt64BE(BigInt(len), 2);
  }
  const mask = randomBytes(4);
  mask.copy(out, head);
  for (let i = 0; i < len; i++) out[head + 4 + i] = data[i]! ^ mask[i & 3]!;
  return out;
}

/** A masked, empty client ping (opcode 0x9). */
const PING = Buffer.from([0x89, 0x80, 0, 0, 0, 0]);

/** A WebSocket connection that sends but never reads after the handshake. */
export class DeafSocket {
  private readonly socket: Socket;
  private closedAt: number | undefined;
  readonly closed: Promise<void>;
  bytesSent = 0;
  framesSent = 0;

  private constructor(socket: Socket) {
    this.socket = socket;
    this.closed = new Promise((resolve) =>
      socket.once("close", () => {
        this.closedAt ??= Date.now();
        resolve();
      }),
    );
    socket.on("error", () => undefined); // EPIPE/ECONNRESET once the node closed it: that is the point
  }

  /** Opens `ws://host:port/path?query` by hand and stops reading once the upgrade is answered. */
  static open(url: string, timeoutMs = 5_000): Promise<DeafSocket> {
    const u = new URL(url);
    return new Promise((resolve, reject) => {
      const socket = connect(Number(u.port), u.hostname);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`no upgrade from ${u.host} in ${timeoutMs} ms`));
      }, timeoutMs);
      let head = "";
      socket.once("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
      socket.on("connect", () => {
        socket.write(
          `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        );
      });
      const onData = (chunk: Buffer) => {
        head += chunk.toString("latin1");
        const end = head.indexOf("\r\n\r\n");
        if (end < 0) return;
        clearTimeout(timer);
        socket.off("data", onData);
        socket.pause(); // never read again: the node's replies pile up on the node's side
        if (!head.startsWith("HTTP/1.1 101")) {
          socket.destroy();
          return reject(new Error(`upgrade refused: ${head.split("\r\n")[0]}`));
        }
        resolve(new DeafSocket(socket));
      };
      socket.on("data", onData);
    });
  }

  get isClosed(): boolean {
    return this.closedAt !== undefined || this.socket.destroyed;
  }

  /** Writes `frame` until `durationMs` passes or the node closes the connection, as fast as the
   * socket takes it (waits for drain, so this process's own buffer stays small). Resolves with
   * whether the node closed the connection within the time. */
  async flood(frame: Buffer, durationMs: number): Promise<boolean> {
    const chunk = Buffer.concat(
      Array.from({ length: Math.max(1, Math.floor((64 * 1024) / frame.length)) }, () => frame),
    );
    const perChunk = Math.floor(chunk.length / frame.length);
    const deadline = Date.now() + durationMs;
    while (!this.isClosed && Date.now() < deadline) {
      const more = this.socket.write(chunk);
      this.bytesSent += chunk.length;
      this.framesSent += perChunk;
      if (!more)
        await Promise.race([
          new Promise((r) => this.socket.once("drain", r)),
          this.closed,
          sleep(Math.max(0, deadline - Date.now())),
        ]);
      else await yieldToLoop();
    }
    return this.isClosed;
  }

  /** Sends frames one by one (a join, a request...). */
  send(...frames: Buffer[]): void {
    for (const f of frames) {
      this.socket.write(f);
      this.bytesSent += f.length;
      this.framesSent++;
    }
  }

  /** Waits up to `ms` for the node to close the connection; whether it did. A socket that does not
   * read only notices a close when it writes: it sends a WebSocket ping every 100 ms meanwhile
   * (the writes after the node dropped the connection fail, which closes this end). */
  async waitClosed(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!this.isClosed && Date.now() < deadline) {
      this.socket.write(PING);
      await Promise.race([this.closed, sleep(100)]);
    }
    return this.isClosed;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Resident set size of a process in bytes (Linux /proc), or NaN when it is gone. */
export async function rssOf(pid: number): Promise<number> {
  const { readFile } = await import("node:fs/promises");
  try {
    const status = await readFile(`/proc/${pid}/status`, "utf8");
    const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
    return kb === undefined ? NaN : Number(kb) * 1024;
  } catch {
    return NaN;
  }
}

/** Samples a process's RSS every `everyMs` until stopped; the peak it saw. */
export function rssSampler(pid: number, everyMs = 50): { stop: () => Promise<number> } {
  let peak = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const rss = await rssOf(pid);
      if (rss > peak) peak = rss;
      await sleep(everyMs);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return peak;
    },
  };
}
