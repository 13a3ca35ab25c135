// Data channels across a node pair (cascade/node-pipe.ts), with real mediasoup workers in two pools
// standing for two nodes, joined by the PipeTransport pair the cascade uses (SRTP, SCTP): a data
// producer crosses with its SCTP stream parameters (a lossy channel stays lossy), messages arrive
// once and in order, and a flood beyond the pipe's send buffer is dropped by the worker and
// counted — what the pipe queues is bounded. Data between participants on different nodes, in
// browsers: test/distributed/cascade-rooms.test.ts.
import type { types } from "mediasoup";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseLinkMessage } from "../../media-node/src/cascade/link-protocol.ts";
import { NodePipe, PIPE_SCTP_SEND_BUFFER_BYTES } from "../../media-node/src/cascade/node-pipe.ts";
import { createLogger } from "../../media-node/src/log.ts";
import { RouterGroup, type RoomRouter } from "../../media-node/src/rooms/router-group.ts";
import { WorkerPool } from "../../media-node/src/rooms/worker-pool.ts";
import { waitFor } from "../support/media-node.ts";
import { freePort } from "../support/redis.ts";

const log = createLogger("silent", "node-pipe-data-test");
const pools: WorkerPool[] = [];
let near: RoomRouter;
let far: RoomRouter;
let dropped = 0;
let a: NodePipe;
let b: NodePipe;

async function routerOfNewPool(): Promise<RoomRouter> {
  const pool = await WorkerPool.start({
    count: 1,
    listenIp: "127.0.0.1",
    announcedAddress: "127.0.0.1",
    firstPort: await freePort(),
    logLevel: "error",
    log,
  });
  pools.push(pool);
  return (await RouterGroup.open({ pool, consumerBudget: 0, log })).admit(0);
}

beforeAll(async () => {
  [near, far] = [await routerOfNewPool(), await routerOfNewPool()];
  a = await NodePipe.create(near.router, { listenIp: "127.0.0.1" }, () => dropped++);
  b = await NodePipe.create(far.router, { listenIp: "127.0.0.1" });
  await a.connect(b.local);
  await b.connect(a.local);
}, 30_000);
afterAll(() => {
  for (const p of pools) p.close();
});

/** The far side of `source`: the offer goes through the link protocol's validation, as on a link. */
async function cross(source: types.DataProducer): Promise<types.DataProducer> {
  const m = parseLinkMessage(JSON.stringify({ t: "offer", trackId: source.id, offer: await a.offerData(source.id) }));
  if (m?.t !== "offer" || m.offer.kind !== "data") throw new Error("the data offer does not pass validation");
  return b.acceptData(m.offer);
}

describe("data producers across a node pipe", { timeout: 60_000 }, () => {
  it("a lossy channel stays lossy on the far node, with its label and protocol", async () => {
    const t = await near.router.createPlainTransport({
      listenInfo: { protocol: "udp", ip: "127.0.0.1" },
      enableSctp: true,
    });
    // (mediasoup's worker keeps maxRetransmits 0 as "absent": unordered streams are sent lossy
    // either way; 3 shows a limit crossing.)
    const source = await t.produceData({
      sctpStreamParameters: { streamId: 5, ordered: false, maxRetransmits: 3 },
      label: "game",
      protocol: "p1",
    });
    const copy = await cross(source);
    expect(copy.id).toBe(source.id);
    expect(copy.sctpStreamParameters).toMatchObject({ ordered: false, maxRetransmits: 3 });
    expect([copy.label, copy.protocol]).toEqual(["game", "p1"]);
    // Offered once per producer: a second offer is the same pipe data consumer.
    expect((await a.offerData(source.id)).sctpStreamParameters.streamId).toBe(copy.sctpStreamParameters!.streamId);
    t.close();
  });

  it("messages arrive once and in order; a flood beyond the send buffer is dropped and counted, not queued", async () => {
    const source = await (await near.router.createDirectTransport()).produceData({ label: "chat" });
    const copy = await cross(source);
    const sink = await (await far.router.createDirectTransport()).consumeData({ dataProducerId: copy.id });
    const got: string[] = [];
    sink.on("message", (m: Buffer) => got.push(m.length > 64 ? `big ${m.length}` : m.toString()));
    const small = Array.from({ length: 20 }, (_, i) => `m${i}`);
    for (const m of small) source.send(m);
    await waitFor(
      async () => got.length,
      (n) => n >= small.length,
      "the small messages",
    );
    expect(got).toEqual(small);

    // 100 × 200 KB at once: ten times the pipe's whole send buffer.
    const big = Buffer.alloc(200_000, 7);
    const flood = 100;
    expect(flood * big.length).toBeGreaterThan(5 * PIPE_SCTP_SEND_BUFFER_BYTES);
    for (let i = 0; i < flood; i++) source.send(big);
    const arrived = () => got.length - small.length;
    await waitFor(
      async () => arrived() + dropped,
      (n) => n >= flood,
      "every flood message arrived or was counted",
      20_000,
    );
    expect(dropped, "the worker refused what did not fit").toBeGreaterThan(0);
    expect(arrived() + dropped).toBe(flood);
    expect(got.slice(small.length).every((m) => m === `big ${big.length}`)).toBe(true);
    // What the /metrics gauge reads: handed to the pipe (dropped included) and received on the far side.
    expect(await a.dataMessages()).toEqual({ sent: small.length + flood, received: 0 });
    expect(await b.dataMessages()).toEqual({ sent: 0, received: got.length });
  });
});
