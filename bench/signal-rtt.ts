// @bench-smoke
// Signaling round trip through the signaling bridge vs directly on the hosting node, same run:
// two real media-node processes on one real redis-server; client D speaks to the hosting node
// directly, client R to the other node, which relays every frame over the Redis bridge to the host
// and back. Both send the protocol's `ping` request and wait for its response (the full path: the
// client's WebSocket, zod parsing on the host, the bridge's sequencing and acks). Blocks of both
// alternate so machine noise hits both alike.
//
//   node bench/signal-rtt.ts [--smoke] [--n 4000]
import { SignalClient } from "../media-node/client/signal-client.ts";
import { MediaNodeProcess } from "../test/support/media-node.ts";
import { TestRedis } from "../test/support/redis.ts";
import { alternateRoundTrips, printAdded, roundTripRow } from "./lib/alternate.ts";
import { benchArgs, percentile, printRatio, printTable } from "./lib/report.ts";

const args = benchArgs({ n: { type: "string" } });
const N = args.n === undefined ? (args.smoke ? 400 : 4_000) : Number(args.n);
const BLOCKS = 4;
const WARMUP = args.smoke ? 50 : 200;
// The per-connection rate limit protects nodes from clients; the bench is not one.
const env = { SIGNAL_RATE_PER_SEC: "1000000", SIGNAL_BURST: "1000000", LOG_LEVEL: "warn" };

const redis = await TestRedis.start();
const nodes: MediaNodeProcess[] = [];
try {
  const [host, relay] = await Promise.all([
    MediaNodeProcess.start({ nodeId: "bench-host", region: "east", redisUrl: redis.url, env }),
    MediaNodeProcess.start({ nodeId: "bench-signal", region: "west", redisUrl: redis.url, env }),
  ]);
  nodes.push(host, relay);
  const open = async (url: string, identity: string) => {
    const c = await SignalClient.open(url, await host.token(identity, "bench-room"));
    await c.request("join", {});
    return c;
  };
  const direct = await open(host.signalUrl, "direct");
  const relayed = await open(relay.signalUrl, "relayed");
  const ping = (c: SignalClient) => () => c.request("ping", {});
  const [d, r] = (await alternateRoundTrips([ping(direct), ping(relayed)], {
    n: N,
    blocks: BLOCKS,
    warmup: WARMUP,
  })) as [number[], number[]];

  console.log(`signaling ping round trip, ${d.length} each, real media nodes + loopback redis-server`);
  printTable(
    ["path", "n", "p50 ms", "p99 ms", "mean ms"],
    [
      roundTripRow("direct: client → hosting node", d),
      roundTripRow("bridged: client → signal node → Redis → hosting node", r),
    ],
  );
  printAdded("the bridge", d, r);
  printRatio(
    "signal-rtt",
    percentile(r, 50) / percentile(d, 50),
    "bridged signaling round trip p50 / direct p50, same run (1.0 = no overhead; on loopback the direct path is ~0.1 ms, so the ratio is large while the bridge adds well under 1 ms: two Redis pub/sub hops; over a real network the client's own RTT dominates both)",
  );
  direct.close();
  relayed.close();
} finally {
  await Promise.all(nodes.map((n) => n.stop()));
  await redis.stop();
}
