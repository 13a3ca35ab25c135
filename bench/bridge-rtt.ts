// @bench-smoke
// Signaling bridge round trip: a request/response through a bridged session (signal node →
// hosting node → back, both BridgeEndpoints over one real redis-server) against the floor — a bare
// Redis PUBLISH → subscriber → PUBLISH → subscriber round trip on the same server, same run.
// Blocks of both alternate so machine noise hits both alike. Also counts Redis publishes per
// round trip: acks ride on the traffic, so the bridge should need ~2 like the bare floor (LiveKit's
// psrpc needs ≥ 4: publish + ack each way).
//
//   node bench/bridge-rtt.ts [--smoke] [--n 4000] [--frame-bytes 200]
import { once } from "node:events";
import { BridgeEndpoint, type BridgeSession } from "../media-node/src/bridge/index.ts";
import { TestRedis } from "../test/support/redis.ts";
import { alternateRoundTrips, printAdded, roundTripRow } from "./lib/alternate.ts";
import { benchArgs, percentile, printRatio, printTable } from "./lib/report.ts";

const args = benchArgs({ n: { type: "string" }, "frame-bytes": { type: "string", default: "200" } });
const N = args.n === undefined ? (args.smoke ? 400 : 4_000) : Number(args.n);
const BLOCKS = 4;
const WARMUP = args.smoke ? 50 : 200;
const payload = "x".repeat(Number(args["frame-bytes"]));
const quiet = { info: () => {}, warn: () => {} };

const redis = await TestRedis.start();
try {
  // Bare floor: A publishes to B's channel, B answers on A's channel.
  const aPub = redis.client();
  const aSub = redis.client();
  const bPub = redis.client();
  const bSub = redis.client();
  bSub.on("message", (_c: string, m: string) => void bPub.publish("bench:a", m));
  await bSub.subscribe("bench:b");
  await aSub.subscribe("bench:a");
  const bareOnce = async () => {
    const reply = once(aSub, "message");
    await aPub.publish("bench:b", payload);
    await reply;
  };

  // Bridge: the hosting node echoes; the signal side measures send → message.
  // Every envelope is sealed and checked (HMAC-SHA256, replay cache) as on real nodes.
  const apiKeys = new Map([["bench", "bench-secret-long-enough-for-hmac-sha256"]]);
  const sig = new BridgeEndpoint({ nodeId: "bench-sig", redisUrl: redis.url, apiKeys, log: quiet });
  const host = new BridgeEndpoint({ nodeId: "bench-host", redisUrl: redis.url, apiKeys, log: quiet });
  await Promise.all([sig.start(), host.start()]);
  host.onSession((s) => void s.on("message", (f) => s.send(f)));
  const session: BridgeSession = sig.open("bench-host", { assertion: "bench" });
  await once(session, "open");
  const bridgeOnce = async () => {
    const reply = once(session, "message");
    session.send(payload);
    await reply;
  };

  const pubsBefore = sig.metrics.envelopesSent + host.metrics.envelopesSent;
  const [bare, bridge] = (await alternateRoundTrips([bareOnce, bridgeOnce], {
    n: N,
    blocks: BLOCKS,
    warmup: WARMUP,
  })) as [number[], number[]];
  // Over every bridge round trip, warm-up included (the bare variant publishes through neither endpoint).
  const bridgePubs = (sig.metrics.envelopesSent + host.metrics.envelopesSent - pubsBefore) / (WARMUP + bridge.length);

  console.log(
    `bridge round trip vs bare pub/sub round trip, ${bridge.length} each, ${payload.length}-byte frames, loopback redis-server`,
  );
  printTable(
    ["variant", "n", "p50 ms", "p99 ms", "mean ms", "publishes/rtt"],
    [
      [...roundTripRow("bare PUBLISH→SUBSCRIBE→PUBLISH", bare), 2],
      [...roundTripRow("bridge session request/response", bridge), bridgePubs],
    ],
  );
  printAdded("the bridge", bare, bridge);
  printRatio(
    "bridge-rtt",
    percentile(bridge, 50) / percentile(bare, 50),
    "bridged signaling round trip p50 / bare Redis pub/sub round trip p50, same run (goal ≤ 2: the bridge adds tens of µs of JSON + zod to a ~0.1 ms floor; 1.0 is the floor)",
  );
  session.close();
  await Promise.all([sig.close(), host.close()]);
  for (const c of [aPub, aSub, bPub, bSub]) c.disconnect();
} finally {
  await redis.stop();
}
