// @bench-smoke
// RoomService end to end: livekit-server-sdk's RoomServiceClient → the control-plane Worker
// (Miniflare) → Upstash REST stand-in → Redis PUBLISH on the hosting node's bus → the node applies
// the operation → the participant sees the effect on its signaling socket; the Worker's reply comes
// back by BLPOP. Timed from the SDK call to the participant observing the effect:
//   RemoveParticipant → `disconnected` notification; MutePublishedTrack → `trackMuted` to the
//   publisher (alternating mute/unmute).
// Two placements of the participant: signalling on the hosting node itself ("same node"), or on
// another node that bridges it to the host ("other node": a us-west-2 client of a us-east room).
// Floor, same run, same redis-server: a bare Redis PUBLISH → subscriber → PUBLISH round trip.
//
//   npm run bench:roomservice [-- --smoke] [--n 200]
import { once } from "node:events";
import { RoomServiceClient } from "livekit-server-sdk";
import { startCluster } from "../infra/local/cluster.ts";
import { SignalClient } from "../media-node/client/signal-client.ts";
import type { NotificationName } from "../shared/protocol.ts";
import { alternateRoundTrips, roundTripRow } from "./lib/alternate.ts";
import { benchArgs, percentile, printRatio, printTable } from "./lib/report.ts";

const args = benchArgs({ n: { type: "string" } });
const N = args.n === undefined ? (args.smoke ? 12 : 200) : Number(args.n);
const WASHINGTON = { lat: 38.9, lon: -77.04 };
const PORTLAND = { lat: 45.52, lon: -122.68 };
const ROOM = "bench-rs";
const opus = {
  codecs: [{ mimeType: "audio/opus", payloadType: 100, clockRate: 48000, channels: 2 }],
  encodings: [{ ssrc: 1111 }],
};

const c = await startCluster({
  regions: [
    { name: "us-east", lat: 39.04, lon: -77.49 },
    { name: "us-west-2", lat: 45.84, lon: -119.7 },
  ],
  defaultRegion: "us-east",
  nodes: [
    { nodeId: "bench-east", region: "us-east", env: { LOG_LEVEL: "warn" } },
    { nodeId: "bench-west", region: "us-west-2", env: { LOG_LEVEL: "warn" } },
  ],
});
let exitCode = 0;
try {
  const svc = new RoomServiceClient(c.workerUrl, c.apiKey, c.apiSecret);

  /** A participant of ROOM from `where`; resolves once joined, with a waiter for its notifications. */
  let seq = 0;
  const participant = async (where: typeof WASHINGTON) => {
    const identity = `p${seq++}`;
    const j = await c.join({ identity, room: ROOM, location: where });
    const client = await SignalClient.open(j.url, j.token);
    const waiters: { name: NotificationName; resolve: () => void }[] = [];
    client.onNotification((name) => {
      const i = waiters.findIndex((w) => w.name === name);
      if (i >= 0) waiters.splice(i, 1)[0]!.resolve();
    });
    await client.request("join", {});
    const next = (name: NotificationName) => new Promise<void>((resolve) => waiters.push({ name, resolve }));
    return { identity, client, host: j.node, signal: j.url, next };
  };

  // The room is placed in us-east by its first participant; a Portland participant signals via us-west-2.
  const anchor = await participant(WASHINGTON);
  const probe = await participant(PORTLAND);
  if (probe.signal === anchor.signal) throw new Error("the Portland participant was not bridged: no 'other node' case");

  const publisher = async (where: typeof WASHINGTON) => {
    const p = await participant(where);
    const send = await p.client.request("createTransport", { direction: "send" });
    const { trackId } = await p.client.request("produce", {
      transportId: send.transportId,
      kind: "audio",
      rtpParameters: opus,
    });
    let muted = false;
    return async () => {
      muted = !muted;
      const seen = p.next("trackMuted");
      await svc.mutePublishedTrack(ROOM, p.identity, trackId, muted);
      await seen;
    };
  };
  const muteSame = await publisher(WASHINGTON);
  const muteOther = await publisher(PORTLAND);

  // Each removal needs a fresh participant; its join happens before the clock starts.
  const remover = (where: typeof WASHINGTON) => {
    let next: Awaited<ReturnType<typeof participant>> | undefined;
    return async () => {
      const p = next ?? (await participant(where));
      const t0 = performance.now();
      const seen = p.next("disconnected");
      await svc.removeParticipant(ROOM, p.identity);
      await seen;
      const ms = performance.now() - t0;
      next = await participant(where); // joined before the next call, outside its timing
      return ms;
    };
  };
  const removeSame = remover(WASHINGTON);
  const removeOther = remover(PORTLAND);

  // Bare floor on the cluster's redis-server.
  const aPub = c.redis!.client();
  const aSub = c.redis!.client();
  const bPub = c.redis!.client();
  const bSub = c.redis!.client();
  bSub.on("message", (_ch: string, m: string) => void bPub.publish("bench:rs:a", m));
  await bSub.subscribe("bench:rs:b");
  await aSub.subscribe("bench:rs:a");
  const bare = async () => {
    const reply = once(aSub, "message");
    await aPub.publish("bench:rs:b", "x".repeat(200));
    await reply;
  };

  // Context: one HTTP round trip to the Worker (Miniflare) that touches no Redis.
  const workerHttp = async () => void (await (await fetch(`${c.workerUrl}/healthz`)).text());

  // Removals time themselves (the replacement join is excluded); the rest are timed around the call.
  const removeTimes: number[][] = [[], []];
  const timedRemove = (f: () => Promise<number>, into: number[]) => async () => void into.push(await f());
  const blocks = args.smoke ? 2 : 4;
  const warmup = args.smoke ? 2 : 10;
  const [floor, http, muteS, muteO] = (await alternateRoundTrips(
    [
      bare,
      workerHttp,
      muteSame,
      muteOther,
      timedRemove(removeSame, removeTimes[0]!),
      timedRemove(removeOther, removeTimes[1]!),
    ],
    { n: N, blocks, warmup },
  )) as [number[], number[], number[], number[]];
  const remS = removeTimes[0]!.slice(warmup);
  const remO = removeTimes[1]!.slice(warmup);

  const p50 = (x: number[]) => percentile(x, 50);
  const floor50 = p50(floor);
  console.log(
    `RoomService request → participant observes the effect; ${N} per variant; floor = bare Redis pub/sub round trip (same redis-server, same run)`,
  );
  printTable(
    ["variant", "n", "p50 ms", "p99 ms", "mean ms", "p50 / floor p50", "p99 / floor p99"],
    [
      [...roundTripRow("bare PUBLISH→SUBSCRIBE→PUBLISH", floor), 1, 1],
      [
        ...roundTripRow("HTTP GET /healthz on the Worker", http),
        p50(http) / floor50,
        percentile(http, 99) / percentile(floor, 99),
      ],
      [
        ...roundTripRow("RemoveParticipant, same node", remS),
        p50(remS) / floor50,
        percentile(remS, 99) / percentile(floor, 99),
      ],
      [
        ...roundTripRow("RemoveParticipant, other node", remO),
        p50(remO) / floor50,
        percentile(remO, 99) / percentile(floor, 99),
      ],
      [
        ...roundTripRow("MutePublishedTrack, same node", muteS),
        p50(muteS) / floor50,
        percentile(muteS, 99) / percentile(floor, 99),
      ],
      [
        ...roundTripRow("MutePublishedTrack, other node", muteO),
        p50(muteO) / floor50,
        percentile(muteO, 99) / percentile(floor, 99),
      ],
    ],
  );
  printRatio(
    "roomservice",
    p50(remS) / floor50,
    "RemoveParticipant (SDK call → the participant is told) p50 / bare Redis pub/sub round trip p50, same run. The path is SDK → Worker (Miniflare) → 2 REST round trips (PUBLISH script, BLPOP) + node: expect tens of floors, bounded by HTTP, not by the bus",
  );
  for (const r of [aPub, aSub, bPub, bSub]) r.disconnect();
  anchor.client.close();
  probe.client.close();
} catch (e) {
  console.error(e);
  console.error(c.logs(40));
  exitCode = 1;
} finally {
  await c.stop();
}
process.exit(exitCode);
