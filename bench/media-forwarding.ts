// @bench-smoke
// Media forwarding cost (benchmark 5): mediasoup worker CPU per forwarded video stream on a real
// media node vs a bare mediasoup script forwarding the same RTP, measured side by side in the same
// time windows.
//
//   node bench/media-forwarding.ts [--smoke] [--counts 0,25,50,100,200] [--window-ms 4000] [--reps 3]
//
// Node side: a MediaNode started in this process exactly as media-node/src/main.ts does (cluster
// mode against a TestRedis, so its registry reports and polls transport stats every 2 s), with a
// room created through the real signaling protocol: a publisher and one subscriber per consumer
// join over WebSocket and create their WebRTC transports. The signaling protocol only offers WebRTC
// transports (ICE + DTLS + SRTP), which a Node script cannot drive, so the media itself goes
// through PlainTransports attached to that room's router: one producer fed generated VP8 RTP,
// N consumers. Bare side: mediasoup.createWorker() + one router with the same codecs and the very
// same PlainTransport setup (bench/media/forwarder.ts). One VideoSource feeds both producers the
// same packets. CPU = the worker's own getrusage (user + system) deltas per window.
import * as mediasoup from "mediasoup";
import type { types } from "mediasoup";
import { setTimeout as sleep } from "node:timers/promises";
import { resolveConfig } from "../media-node/src/config.ts";
import { MEDIA_CODECS } from "../media-node/src/rooms/media-codecs.ts";
import { MediaNode } from "../media-node/src/media-node.ts";
import { SignalClient } from "../media-node/client/signal-client.ts";
import { mintToken } from "#shared/token.ts";
import { loopbackNodeEnv } from "../infra/local/media-node.ts";
import { TestRedis } from "../test/support/redis.ts";
import { PlainForwarder, workerCpuMs } from "./media/forwarder.ts";
import { CAMERA_720P, packetsPerSecond, RtpSink, VideoSource } from "./media/rtp.ts";
import { benchArgs, fmt, percentile, printRatio, printTable } from "./lib/report.ts";

const args = benchArgs({ counts: { type: "string" }, "window-ms": { type: "string" }, reps: { type: "string" } });
const COUNTS =
  (args.counts as string | undefined)?.split(",").map(Number) ?? (args.smoke ? [0, 4, 8] : [0, 25, 50, 100, 200]);
const WINDOW_MS = Number(args["window-ms"] ?? (args.smoke ? 1_000 : 4_000));
const REPS = Number(args.reps ?? (args.smoke ? 1 : 3));
const SETTLE_MS = args.smoke ? 300 : 1_500;
const DEADLINE = Date.now() + (args.smoke ? 9_000 : 240_000);
const MAX_CONSUMERS = 500;
if (COUNTS.some((n) => !Number.isInteger(n) || n < 0 || n > MAX_CONSUMERS))
  throw new Error(`--counts: integers in 0..${MAX_CONSUMERS}`);

const ROOM = "forwarding-bench";
const API_KEY = "bench";
const API_SECRET = `bench-secret-${process.pid}-${Date.now()}`;

// ---- node side: a real media node, room created through signaling ----
const redis = await TestRedis.start();
const config = resolveConfig(
  {},
  await loopbackNodeEnv({ nodeId: "bench-node", apiKeys: `${API_KEY}:${API_SECRET}`, redisUrl: redis.url }),
);
const node = await MediaNode.start(config);
const signalUrl = `ws://127.0.0.1:${node.httpPort}/rtc`;
const clients: SignalClient[] = [];

async function joinRoom(identity: string, direction: "send" | "recv"): Promise<void> {
  const token = await mintToken({
    apiKey: API_KEY,
    apiSecret: API_SECRET,
    identity,
    video: { roomJoin: true, room: ROOM },
    meridian: { node: config.node_id, region: config.region },
    ttlSeconds: 600,
  });
  const c = await SignalClient.open(signalUrl, token);
  clients.push(c);
  await c.request("join", {});
  await c.request("createTransport", { direction });
}

await joinRoom("publisher", "send");
const room = node.rooms.rooms.get(ROOM);
if (!room) throw new Error("the node did not open the room on join");
const nodeRouter = room.routers.first();
const nodeWorker = nodeRouter.slot.worker;

// ---- bare side: one worker, one router, nothing else ----
const bareWorker = await mediasoup.createWorker({ logLevel: "warn" });
const bareRouter = await bareWorker.createRouter({ mediaCodecs: MEDIA_CODECS });

const sinks = { node: new RtpSink(), bare: new RtpSink() };
const sides = {
  node: await PlainForwarder.attach(nodeRouter.router, 0x1111, await sinks.node.start()),
  bare: await PlainForwarder.attach(bareRouter, 0x1111, await sinks.bare.start()),
};
const workers: Record<keyof typeof sides, types.Worker> = { node: nodeWorker, bare: bareWorker };
const source = new VideoSource(CAMERA_720P, 0x1111);
await source.start([sides.node.producerPort, sides.bare.producerPort]);

type Side = keyof typeof sides;
interface Sample {
  consumers: number;
  /** Packets/s the source actually sent in the window (a busy machine sends a little late). */
  pps: number;
  cpu: Record<Side, number>;
  delivered: Record<Side, number>;
}
const samples: Sample[] = [];
const PPS = packetsPerSecond(CAMERA_720P);

async function measureWindow(n: number): Promise<Sample> {
  const read = async () => ({
    t: performance.now(),
    sent: source.sent,
    node: { cpu: await workerCpuMs(workers.node), rx: sinks.node.delivered() },
    bare: { cpu: await workerCpuMs(workers.bare), rx: sinks.bare.delivered() },
  });
  const a = await read();
  await sleep(WINDOW_MS);
  const b = await read();
  const ms = b.t - a.t;
  const sent = b.sent - a.sent;
  const side = (s: Side) => ({
    cpu: (b[s].cpu - a[s].cpu) / ms,
    delivered: n === 0 || sent === 0 ? 1 : (b[s].rx - a[s].rx) / (sent * n),
  });
  const nodeS = side("node");
  const bareS = side("bare");
  return {
    consumers: n,
    pps: (sent * 1000) / ms,
    cpu: { node: nodeS.cpu, bare: bareS.cpu },
    delivered: { node: nodeS.delivered, bare: bareS.delivered },
  };
}

let subscribers = 0;
for (const n of COUNTS) {
  if (Date.now() > DEADLINE) {
    console.log(`time budget spent: skipping ${n} consumers and above`);
    break;
  }
  while (subscribers < n) await joinRoom(`subscriber-${subscribers++}`, "recv");
  await Promise.all([sides.node.growTo(n), sides.bare.growTo(n)]);
  await sleep(SETTLE_MS);
  for (let r = 0; r < REPS && Date.now() < DEADLINE; r++) samples.push(await measureWindow(n));
}

// ---- results ----
/** Least-squares line through (forwarded packets/s, worker CPU share of one core): the slope is
 * CPU seconds per forwarded packet, independent of how punctual the source was. */
function fit(side: Side): { slope: number; intercept: number } {
  const xs = samples.map((s) => s.consumers * s.pps);
  const ys = samples.map((s) => s.cpu[side]);
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < xs.length; i++) {
    sxy += (xs[i]! - mx) * (ys[i]! - my);
    sxx += (xs[i]! - mx) ** 2;
  }
  const slope = sxx === 0 ? NaN : sxy / sxx;
  return { slope, intercept: my - slope * mx };
}

const rows = [...new Set(samples.map((s) => s.consumers))].map((n) => {
  const at = samples.filter((s) => s.consumers === n);
  const med = (f: (s: Sample) => number) => percentile(at.map(f), 50);
  return [
    String(n),
    med((s) => s.cpu.bare * 100),
    med((s) => s.cpu.node * 100),
    med((s) => s.delivered.bare * 100),
    med((s) => s.delivered.node * 100),
  ];
});
console.log(
  `forwarding one generated VP8 track (${PPS} packets/s, ${Math.round((PPS * (CAMERA_720P.payloadBytes + 12) * 8) / 1000)} kbit/s) to N PlainTransport consumers; ` +
    `${REPS} × ${WINDOW_MS} ms windows per N, bare and node measured in the same windows`,
);
printTable(["consumers", "bare worker CPU %", "node worker CPU %", "bare delivered %", "node delivered %"], rows);

const bare = fit("bare");
const nodeFit = fit("node");
const perStream = (f: { slope: number }) => f.slope * PPS * 100;
const usPerPacket = (f: { slope: number }) => f.slope * 1e6;
const at80 = (f: { slope: number; intercept: number }) => (0.8 - f.intercept) / (f.slope * PPS);
console.log("");
printTable(
  [
    "side",
    `% of a core per stream (${PPS} pkt/s)`,
    "µs CPU per forwarded packet",
    "idle + producer % (intercept)",
    "consumers at 80% of a core (linear extrapolation)",
  ],
  [
    ["bare mediasoup", perStream(bare), usPerPacket(bare), bare.intercept * 100, Math.floor(at80(bare))],
    ["media node", perStream(nodeFit), usPerPacket(nodeFit), nodeFit.intercept * 100, Math.floor(at80(nodeFit))],
  ],
);

const undelivered = samples.filter((s) => s.consumers > 0 && (s.delivered.node < 0.5 || s.delivered.bare < 0.5));
const ratio = nodeFit.slope / bare.slope;
printRatio(
  "media-forwarding",
  ratio,
  `node/bare worker CPU per forwarded stream (${fmt(perStream(nodeFit), 4)} vs ${fmt(perStream(bare), 4)} % of a core); ` +
    `${Math.floor(at80(nodeFit))} consumers per worker at 80% of a core (extrapolated); goal ≤ 1.05: ${ratio <= 1.05 ? "MET" : "NOT MET"}`,
);

source.close();
for (const c of clients) c.close();
for (const s of Object.values(sides)) s.close();
for (const s of Object.values(sinks)) s.close();
bareWorker.close();
await node.stop();
await redis.stop();
if (undelivered.length > 0) {
  console.error(`consumers did not deliver the stream: ${JSON.stringify(undelivered)}`);
  process.exit(1);
}
process.exit(0);
