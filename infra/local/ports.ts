// Free loopback ports for local processes. Chosen below the kernel's ephemeral range
// (ip_local_port_range): a port the OS hands out as free (listen on 0) is in that range, where any
// outgoing connection of a parallel test can take it before our process binds; below it only
// another listener can, and each candidate is checked bindable (TCP and UDP) first.
import { createSocket } from "node:dgram";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";

const CANDIDATES = 200;

/** The lowest port the kernel uses for outgoing connections (Linux default 32768). */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 1024 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

function tcpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

function udpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket("udp4");
    s.unref();
    s.once("error", () => resolve(false));
    s.bind(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

/** The first of `count` consecutive ports free for TCP and UDP on 127.0.0.1 (a media node's
 *  workers listen on RTC_PORT + index). */
export async function freePort(count = 1): Promise<number> {
  const high = ephemeralLow() - count;
  const low = Math.max(1025, high - 12_000);
  for (let i = 0; i < CANDIDATES; i++) {
    const base = low + Math.floor(Math.random() * (high - low));
    let ok = true;
    for (let p = base; ok && p < base + count; p++) ok = (await tcpFree(p)) && (await udpFree(p));
    if (ok) return base;
  }
  throw new Error(`no ${count} free consecutive loopback ports below ${high + count} after ${CANDIDATES} tries`);
}
