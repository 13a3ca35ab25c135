// The thread of one ProbeSink (probe-sink.ts): binds a loopback UDP port and stamps each numbered
// RTP packet with the monotonic clock as soon as its own event loop reads it.
import { createSocket } from "node:dgram";
import { parentPort } from "node:worker_threads";
import { isRtp } from "./rtp.ts";

const MAX_PACKETS = 10_000;
const socket = createSocket("udp4");
const at = new Map<number, number>();
socket.on("message", (m) => {
  const now = Number(process.hrtime.bigint()) / 1e6;
  if (!isRtp(m) || at.size >= MAX_PACKETS) return;
  // The payload starts after the CSRCs and any header extension the consumer added.
  let off = 12 + 4 * (m[0]! & 0x0f);
  if (m[0]! & 0x10) off += 4 + 4 * m.readUInt16BE(off + 2);
  if (m.length >= off + 4) at.set(m.readUInt32BE(off), now);
});
socket.bind(0, "127.0.0.1", () => parentPort!.postMessage({ port: socket.address().port }));
parentPort!.once("message", () => {
  socket.close();
  parentPort!.postMessage({ at: [...at] });
});
