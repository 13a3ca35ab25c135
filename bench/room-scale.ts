// @bench-smoke
// Room scale (issue 9): how large an all-audio+video room the media path holds at ≤ 80 % of a core
// per worker — on 1 worker, on 2 workers of one node (router-group.ts: pipeToRouter), and on 2
// nodes (cascade/node-pipe.ts: a PipeTransport pair with SRTP + RTX, over loopback) — plus the
// bytes a published track costs on a node pair and the latency a piped hop adds.
//
//   node bench/room-scale.ts [--smoke] [--sizes 4,6,8,10] [--window-ms 3000]
//
// Synthetic participants over PlainTransports, as bench/media-forwarding.ts does (a Node script
// cannot drive WebRTC transports): each participant publishes a 720p-like VP8 track (150 packets/s)
// and an Opus-like track (50 packets/s) and consumes every other participant's two tracks on one
// receive transport, on the router its configuration puts it on. The routers and pipes are the
// node's own code (WorkerPool, RouterGroup, NodePipe). CPU = each worker's getrusage deltas.
//
// Capacity is extrapolated, not measured (2 shared cores cannot run a worker at 80 %): per
// configuration, a least-squares line of worker CPU against the packets the worker handles (in +
// out, which the traffic model gives for any room size) over all measured sizes and workers; the
// capacity is the largest room whose busiest worker the line puts at ≤ 80 %.
import { createSocket, type Socket } from "node:dgram";
import { setTimeout as sleep } from "node:timers/promises";
import type { types } from "mediasoup";
import { NodePipe } from "../media-node/src/cascade/node-pipe.ts";
import { createLogger } from "../media-node/src/log.ts";
import { RouterGroup, type RoomRouter } from "../media-node/src/rooms/router-group.ts";
import { WorkerPool } from "../media-node/src/rooms/worker-pool.ts";
import { freePort } from "../test/support/redis.ts";
import { workerCpuMs } from "./media/forwarder.ts";
import { CAMERA_720P, isRtp, packetsPerSecond, RtpSink, VideoSource, VP8_PAYLOAD_TYPE } from "./media/rtp.ts";
import { benchArgs, fmt, percentile, printRatio, printTable } from "./lib/report.ts";

const args = benchArgs({ sizes: { type: "string" }, "window-ms": { type: "string" } });
const SIZES = (args.sizes as string | undefined)?.split(",").map(Number) ?? (args.smoke ? [3, 4] : [4, 6, 8, 10]);
const WINDOW_MS = Number(args["window-ms"] ?? (args.smoke ? 800 : 3_000));
const SETTLE_MS = args.smoke ? 800 : 1_500;
const DEADLINE = Date.now() + (args.smoke ? 20_000 : 300_000);
const MAX_SIZE = 24;
if (SIZES.some((n) => !Number.isInteger(n) || n < 2 || n > MAX_SIZE))
  throw new Error(`--sizes: integers in 2..${MAX_SIZE}`);

const OPUS_PT = 100;
const AUDIO_PPS = 50;
const VIDEO_PPS = packetsPerSecond(CAMERA_720P);
const PPS = AUDIO_PPS + VIDEO_PPS; // per participant, both tracks
const LOOPBACK = { protocol: "udp", ip: "127.0.0.1" } as const;
const log = createLogger("warn", "room-scale");

/** Opus-like packets, 50/s, 120-byte payload; the payload's first 4 bytes number the packet (the
 * latency probe reads them on both sides of a hop). */
class AudioSource {
  private readonly socket: Socket = createSocket("udp4");
  private readonly ssrc: number;
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;
  private targets: number[] = [];
  /** Send time (performance.now()) per packet number, for the latency probe. */
  readonly sentAt = new Map<number, number>();
  /** Packets sent (each to every target). */
  sent = 0;
  constructor(ssrc: number) {
    this.ssrc = ssrc;
  }
  async start(targets: number[]): Promise<void> {
    this.targets = targets;
    await new Promise<void>((r) => this.socket.bind(0, "127.0.0.1", r));
    this.timer = setInterval(() => {
      const b = Buffer.alloc(12 + 120);
      b[0] = 0x80;
      b[1] = OPUS_PT;
      b.writeUInt16BE(this.seq & 0xffff, 2);
      b.writeUInt32BE((this.seq * 960) >>> 0, 4);
      b.writeUInt32BE(this.ssrc, 8);
      b.writeUInt32BE(this.seq, 12);
      if (this.sentAt.size < 10_000) this.sentAt.set(this.seq, performance.now());
      this.seq++;
      this.sent++;
      for (const port of this.targets) this.socket.send(b, port, "127.0.0.1");
    }, 1000 / AUDIO_PPS);
  }
  close(): void {
    clearInterval(this.timer);
    this.socket.close();
  }
}

/** Arrival time of each numbered audio packet on one loopback port. */
class ProbeSink {
  private readonly socket: Socket = createSocket("udp4");
  readonly at = new Map<number, number>();
  async start(): Promise<number> {
    this.socket.on("message", (m) => {
      if (!isRtp(m) || this.at.size >= 10_000) return;
      // The payload starts after the CSRCs and any header extension the consumer added.
      let off = 12 + 4 * (m[0]! & 0x0f);
      if (m[0]! & 0x10) off += 4 + 4 * m.readUInt16BE(off + 2);
      if (m.length >= off + 4) this.at.set(m.readUInt32BE(off), performance.now());
    });
    await new Promise<void>((r) => this.socket.bind(0, "127.0.0.1", r));
    return this.socket.address().port;
  }
  close(): void {
    this.socket.close();
  }
}

const audioCodec = { mimeType: "audio/opus", payloadType: OPUS_PT, clockRate: 48000, channels: 2 };
const videoCodec = {
  mimeType: "video/VP8",
  payloadType: VP8_PAYLOAD_TYPE,
  clockRate: 90000,
  rtcpFeedback: [{ type: "nack" }, { type: "nack", parameter: "pli" }, { type: "ccm", parameter: "fir" }],
};

/** A synthetic participant: two send transports (comedia locks one source address each) and one
 * receive transport sending every consumed track to the configuration's sink. */
interface Member {
  router: RoomRouter;
  /** Which node (2-node configuration) or 0. */
  node: number;
  producers: types.Producer[];
  sendTransports: types.PlainTransport[];
  recv: types.PlainTransport;
  audioPort: number;
  videoPort: number;
}

async function member(router: RoomRouter, node: number, sinkPort: number): Promise<Member> {
  const r = router.router;
  const ta = await r.createPlainTransport({ listenInfo: LOOPBACK, rtcpMux: true, comedia: true });
  const tv = await r.createPlainTransport({ listenInfo: LOOPBACK, rtcpMux: true, comedia: true });
  const a = await ta.produce({ kind: "audio", rtpParameters: { codecs: [audioCodec], encodings: [{ ssrc: 0x2222 }] } });
  const v = await tv.produce({ kind: "video", rtpParameters: { codecs: [videoCodec], encodings: [{ ssrc: 0x1111 }] } });
  const recv = await r.createPlainTransport({ listenInfo: LOOPBACK, rtcpMux: true, comedia: false });
  await recv.connect({ ip: "127.0.0.1", port: sinkPort });
  return {
    router,
    node,
    producers: [a, v],
    sendTransports: [ta, tv],
    recv,
    audioPort: ta.tuple.localPort,
    videoPort: tv.tuple.localPort,
  };
}

interface Sample {
  config: string;
  n: number;
  /** Per worker: CPU share of one core and packets handled per second (model). */
  workers: { cpu: number; handled: number }[];
  delivered: number;
  /** 2 nodes: pipe bytes A→B / bytes A's publishers sent, per window. */
  pipeRatio?: number;
}

interface Config {
  name: string;
  /** Builds a room of n participants; returns what to measure and how to tear it down. */
  build(n: number, sinkPort: number): Promise<Built>;
}

interface Built {
  members: Member[];
  workers: types.Worker[];
  /** Packets each worker handles per second (in + out) in this room, from the traffic model. */
  handled: number[];
  pipeBytes?: () => Promise<{ pipe: number; published: number }>;
  close(): void;
}

/** Consumes every other member's tracks on each member's receive transport (paused, then resumed
 * as the node's rooms do), getting the producer's id on the member's router from `idOn`. */
async function subscribeAll(
  members: Member[],
  idOn: (p: types.Producer, owner: Member, sub: Member) => Promise<string>,
): Promise<void> {
  for (const sub of members) {
    for (const owner of members) {
      if (owner === sub) continue;
      for (const p of owner.producers) {
        const c = await sub.recv.consume({
          producerId: await idOn(p, owner, sub),
          rtpCapabilities: sub.router.router.rtpCapabilities,
          paused: true,
        });
        await c.resume();
      }
    }
  }
}

/** Packets a worker handles per second: its publishers' tracks in, copies piped in, one copy out
 * per local subscriber of each track, and one per track piped out (`remoteRouters` far routers). */
function handledOn(local: number, n: number, remoteRouters: number): number {
  const remote = n - local;
  const inPkts = local * PPS + (remote > 0 ? remote * PPS : 0);
  const outPkts = local * (n - 1) * PPS + (remote > 0 ? local * PPS * remoteRouters : 0);
  return inPkts + outPkts;
}

/** Worker pools live for the whole run (their WebRtcServers hold fixed ports); rooms come and go. */
const pools: WorkerPool[] = [];
async function startPool(count: number): Promise<WorkerPool> {
  const pool = await WorkerPool.start({
    count,
    listenIp: "127.0.0.1",
    announcedAddress: "127.0.0.1",
    firstPort: await freePort(),
    logLevel: "warn",
    log,
  });
  pools.push(pool);
  return pool;
}

async function singleNodeConfig(name: string, workers: number): Promise<Config> {
  const pool = await startPool(workers);
  return {
    name,
    async build(n, sinkPort) {
      // A budget that fills the first router with ceil(n/k) participants, as the node would.
      const perRouter = Math.ceil(n / workers);
      const group = await RouterGroup.open({ pool, consumerBudget: workers === 1 ? 0 : perRouter * 2 * (n - 1), log });
      const routers: RoomRouter[] = [];
      for (let i = 0; i < n; i++) routers.push(await group.admit(2 * (n - 1)));
      const members: Member[] = [];
      for (const r of routers) members.push(await member(r, 0, sinkPort));
      await subscribeAll(members, (p, owner, sub) => group.producerOn("producer", p.id, owner.router, sub.router));
      const all = group.all();
      return {
        members,
        workers: all.map((r) => r.slot.worker),
        handled: all.map((r) => handledOn(members.filter((m) => m.router === r).length, n, all.length - 1)),
        close: () => group.close(),
      };
    },
  };
}

async function twoNodeConfig(): Promise<Config> {
  const pa = await startPool(1);
  const pb = await startPool(1);
  return {
    name: "2 nodes",
    async build(n, sinkPort) {
      const ga = await RouterGroup.open({ pool: pa, consumerBudget: 0, log });
      const gb = await RouterGroup.open({ pool: pb, consumerBudget: 0, log });
      const ra = await ga.admit(0);
      const rb = await gb.admit(0);
      const pipeA = await NodePipe.create(ra.router, { listenIp: "127.0.0.1" });
      const pipeB = await NodePipe.create(rb.router, { listenIp: "127.0.0.1" });
      await pipeA.connect(pipeB.local);
      await pipeB.connect(pipeA.local);
      const local = Math.ceil(n / 2);
      const members: Member[] = [];
      for (let i = 0; i < n; i++) members.push(await member(i < local ? ra : rb, i < local ? 0 : 1, sinkPort));
      const pipes = [pipeA, pipeB];
      const crossed = new Set<string>();
      // A track crosses once: the far node produces the copy under the source id, and every far
      // subscriber consumes that copy.
      await subscribeAll(members, async (p, owner, sub) => {
        if (owner.node === sub.node) return p.id;
        const from = pipes[owner.node]!;
        const to = pipes[sub.node]!;
        const offer = await from.offer(p.id);
        if (!crossed.has(p.id)) {
          crossed.add(p.id);
          await to.accept(offer);
        }
        return p.id;
      });
      return {
        members,
        workers: [ra.slot.worker, rb.slot.worker],
        handled: [handledOn(local, n, 1), handledOn(n - local, n, 1)],
        pipeBytes: async () => {
          let published = 0;
          for (const m of members)
            if (m.node === 0)
              for (const t of m.sendTransports) published += (await t.getStats())[0]?.bytesReceived ?? 0;
          return { pipe: (await pipeA.bytes()).sent, published };
        },
        close: () => {
          pipeA.close();
          pipeB.close();
          ga.close();
          gb.close();
        },
      };
    },
  };
}

/** The latency a piped hop adds: one numbered Opus stream published on node A, consumed on A and,
 * through the SRTP pipe, on node B; per packet, arrival at B's consumer minus arrival at A's. */
async function measureHop(ms: number): Promise<number[]> {
  const groups = await Promise.all(pools.slice(-2).map((pool) => RouterGroup.open({ pool, consumerBudget: 0, log })));
  const [ra, rb] = [groups[0]!.first().router, groups[1]!.first().router];
  const [pipeA, pipeB] = await Promise.all([
    NodePipe.create(ra, { listenIp: "127.0.0.1" }),
    NodePipe.create(rb, { listenIp: "127.0.0.1" }),
  ]);
  await pipeA.connect(pipeB.local);
  await pipeB.connect(pipeA.local);
  const send = await ra.createPlainTransport({ listenInfo: LOOPBACK, rtcpMux: true, comedia: true });
  const producer = await send.produce({
    kind: "audio",
    rtpParameters: { codecs: [audioCodec], encodings: [{ ssrc: 0x3333 }] },
  });
  await pipeB.accept(await pipeA.offer(producer.id));
  const sinks = [new ProbeSink(), new ProbeSink()];
  for (const [i, router] of [ra, rb].entries()) {
    const t = await router.createPlainTransport({ listenInfo: LOOPBACK, rtcpMux: true, comedia: false });
    await t.connect({ ip: "127.0.0.1", port: await sinks[i]!.start() });
    await t.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities });
  }
  const source = new AudioSource(0x3333);
  await source.start([send.tuple.localPort]);
  await sleep(ms);
  source.close();
  await sleep(100);
  const added: number[] = [];
  for (const [k, atA] of sinks[0]!.at) {
    const atB = sinks[1]!.at.get(k);
    if (atB !== undefined) added.push(atB - atA);
  }
  for (const s of sinks) s.close();
  pipeA.close();
  pipeB.close();
  for (const g of groups) g.close();
  return added;
}

async function measure(config: Config, n: number): Promise<Sample[]> {
  const sink = new RtpSink();
  const built = await config.build(n, await sink.start());
  const video = new VideoSource(CAMERA_720P, 0x1111);
  const audio = new AudioSource(0x2222);
  await video.start(built.members.map((m) => m.videoPort));
  await audio.start(built.members.map((m) => m.audioPort));
  await sleep(SETTLE_MS);
  const read = async () => ({
    t: performance.now(),
    cpu: await Promise.all(built.workers.map((w) => workerCpuMs(w))),
    rx: sink.delivered(),
    sent: video.sent + audio.sent,
    pipe: await built.pipeBytes?.(),
  });
  const a = await read();
  await sleep(WINDOW_MS);
  const b = await read();
  video.close();
  audio.close();
  built.close();
  sink.close();
  const ms = b.t - a.t;
  // What the sources really sent (a busy machine fires their timers late): each packet goes to
  // every participant's producer and from there to the n − 1 others.
  const expected = (b.sent - a.sent) * n * (n - 1);
  const sample: Sample = {
    config: config.name,
    n,
    workers: built.workers.map((_, i) => ({ cpu: (b.cpu[i]! - a.cpu[i]!) / ms, handled: built.handled[i]! })),
    delivered: (b.rx - a.rx) / expected,
  };
  if (a.pipe && b.pipe) sample.pipeRatio = (b.pipe.pipe - a.pipe.pipe) / (b.pipe.published - a.pipe.published);
  return [sample];
}

/** Least squares of worker CPU (share of a core) on packets handled per second. */
function fit(samples: Sample[]): { slope: number; intercept: number } {
  const pts = samples.flatMap((s) => s.workers.map((w) => [w.handled, w.cpu] as const));
  const mx = pts.reduce((a, p) => a + p[0], 0) / pts.length;
  const my = pts.reduce((a, p) => a + p[1], 0) / pts.length;
  let sxy = 0;
  let sxx = 0;
  for (const [x, y] of pts) {
    sxy += (x - mx) * (y - my);
    sxx += (x - mx) ** 2;
  }
  // One room size only (a smoke run): a line through the origin.
  if (sxx === 0) return { slope: my / mx, intercept: 0 };
  const slope = sxy / sxx;
  return { slope, intercept: my - slope * mx };
}

/** Largest room whose busiest worker the fitted line puts at ≤ 80 % of a core. */
function capacity(f: { slope: number; intercept: number }, routers: number): number {
  let best = 0;
  for (let n = 2; n <= 400; n++) {
    const local = Math.ceil(n / routers);
    const busiest = routers === 1 ? handledOn(n, n, 0) : handledOn(local, n, routers - 1);
    if (f.intercept + f.slope * busiest <= 0.8) best = n;
    else break;
  }
  return best;
}

const configs = [await singleNodeConfig("1 worker", 1), await singleNodeConfig("2 workers", 2), await twoNodeConfig()];
const routersOf: Record<string, number> = { "1 worker": 1, "2 workers": 2, "2 nodes": 2 };
const samples: Sample[] = [];
outer: for (const n of SIZES) {
  for (const c of configs) {
    if (Date.now() > DEADLINE) {
      console.log(`time budget spent: skipping room size ${n} and above`);
      break outer;
    }
    samples.push(...(await measure(c, n)));
  }
}
const hop = await measureHop(args.smoke ? 1_000 : 5_000);

console.log(
  `all-audio+video room of N synthetic participants (VP8 ${VIDEO_PPS} packets/s + Opus ${AUDIO_PPS} packets/s each, every participant ` +
    `subscribed to every other): one ${WINDOW_MS} ms window per size and configuration`,
);
printTable(
  [
    "config",
    "participants",
    "worker CPU % (each)",
    "packets handled/s (each, model)",
    "delivered %",
    "pipe bytes / published bytes",
  ],
  samples.map((s) => [
    s.config,
    String(s.n),
    s.workers.map((w) => fmt(w.cpu * 100, 2)).join(" / "),
    s.workers.map((w) => String(w.handled)).join(" / "),
    s.delivered * 100,
    s.pipeRatio === undefined ? "-" : fmt(s.pipeRatio, 3),
  ]),
);
const fits = Object.fromEntries(configs.map((c) => [c.name, fit(samples.filter((s) => s.config === c.name))]));
const caps = Object.fromEntries(configs.map((c) => [c.name, capacity(fits[c.name]!, routersOf[c.name]!)]));
console.log("");
printTable(
  [
    "config",
    "µs worker CPU per packet handled",
    "idle % (intercept)",
    "largest room at ≤ 80 % of a core per worker (extrapolated)",
    "consumers in that room",
  ],
  configs.map((c) => [
    c.name,
    fits[c.name]!.slope * 1e6,
    fits[c.name]!.intercept * 100,
    caps[c.name]!,
    caps[c.name]! * (caps[c.name]! - 1) * 2,
  ]),
);
const pipeRatios = samples.flatMap((s) => (s.pipeRatio === undefined ? [] : [s.pipeRatio]));
const maxPipe = Math.max(...pipeRatios);
console.log("");
console.log(
  `bytes crossing the node pair per published track / bytes of one copy: max ${fmt(maxPipe, 3)} over far-side subscriber counts ` +
    `${samples
      .filter((s) => s.pipeRatio !== undefined)
      .map((s) => s.n - Math.ceil(s.n / 2))
      .join(", ")} (goal ≤ 1.05: ${maxPipe <= 1.05 ? "MET" : "NOT MET"})`,
);
console.log(
  `added one-way latency of a piped hop (SRTP pipe, loopback): p50 ${fmt(percentile(hop, 50), 3)} ms, p99 ${fmt(percentile(hop, 99), 3)} ms over ${hop.length} packets`,
);
const ratio = caps["2 workers"]! / caps["1 worker"]!;
const streamRatio = (caps["2 workers"]! * (caps["2 workers"]! - 1)) / (caps["1 worker"]! * (caps["1 worker"]! - 1));
console.log(`2 nodes: ${caps["2 nodes"]} participants (${fmt(caps["2 nodes"]! / caps["1 worker"]!, 3)} × 1 worker)`);
printRatio(
  "room-scale",
  ratio,
  `capacity(2 workers) / capacity(1 worker) in participants (${caps["2 workers"]} vs ${caps["1 worker"]}); in forwarded streams ${fmt(streamRatio, 3)}. ` +
    `Goal ≥ 1.8: ${ratio >= 1.8 ? "MET" : "NOT MET"} — an all-to-all room costs n·(n−1) streams, so k workers hold at most √k × the participants`,
);
for (const p of pools) p.close();
const undelivered = samples.filter((s) => s.delivered < 0.5);
if (undelivered.length > 0) {
  console.error(`consumers did not deliver the streams: ${JSON.stringify(undelivered)}`);
  process.exit(1);
}
process.exit(0);
