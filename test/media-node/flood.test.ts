// Issue 12 finding 1: a client that floods the node without reading what it answers. A real node
// (child process) and raw sockets that never read: the node must close them (not queue replies
// for them without bound), its RSS must stay bounded, another participant must keep being served
// and /metrics must answer and count what was dropped. Outcomes only, no timings: each flood is
// bounded to a few seconds and "closed" means closed within that bound.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CloseCode, PROTOCOL_VERSION } from "#shared/protocol.ts";
import { SignalClient } from "../../media-node/client/signal-client.ts";
import { DeafSocket, clientFrame, rssOf, rssSampler } from "../../infra/local/hostile-client.ts";
import { MediaNodeProcess, mediasoupWorkerAvailable, waitFor } from "../support/media-node.ts";

const FLOOD_MS = 4_000;
/** What a flood may add to the node's RSS: the review saw +1.4 GiB in 24 s on the old code. */
const RSS_BOUND = 96 * 1024 * 1024;
const MiB = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MiB`;

let node: MediaNodeProcess;
let bystander: SignalClient;

beforeAll(async () => {
  // Standalone and generous rate limits, so the slow reader below can make the node answer a lot;
  // the default auth timeout (10 s), so "closed" below is not the auth timeout.
  node = await MediaNodeProcess.start({
    env: { SIGNAL_RATE_PER_SEC: "100000", SIGNAL_BURST: "100000", SIGNAL_MAX_BUFFERED_BYTES: "262144" },
  });
  bystander = await SignalClient.open(
    node.signalUrl,
    await node.token("bystander", "room-calm", {}, { meridian: null }),
  );
  await bystander.request("join", {});
}, 60_000);

afterAll(async () => {
  bystander?.close();
  await node?.stop();
});

const frame = (method: string, id: number, data: unknown = {}) =>
  clientFrame(JSON.stringify({ v: PROTOCOL_VERSION, id, method, data }));

async function metricsText(): Promise<string> {
  const r = await fetch(`${node.httpUrl}/metrics`, { signal: AbortSignal.timeout(5_000) });
  expect(r.status).toBe(200);
  return r.text();
}

/** Floods with `f` while the bystander pings; returns whether the node closed the socket, its
 * RSS growth at the peak, and whether the bystander's ping was answered. */
async function floodAndWatch(sock: DeafSocket, f: Buffer): Promise<{ closed: boolean; growth: number; ping: boolean }> {
  const pid = node.pid!;
  const before = await rssOf(pid);
  const sampler = rssSampler(pid);
  const flooding = sock.flood(f, FLOOD_MS);
  const ping = bystander.request("ping", {}, FLOOD_MS + 5_000).then(
    () => true,
    () => false,
  );
  const closed = await flooding;
  const peak = await sampler.stop();
  sock.destroy();
  return { closed, growth: peak - before, ping: await ping };
}

describe.skipIf(!mediasoupWorkerAvailable())("a client flooding without reading", () => {
  it("unauthenticated, 1-byte frames: closed at once, RSS bounded, others served", { timeout: 30_000 }, async () => {
    const sock = await DeafSocket.open(node.signalUrl);
    const r = await floodAndWatch(sock, clientFrame("x"));
    expect(r.closed, `socket still open after ${sock.framesSent} frames (RSS +${MiB(r.growth)})`).toBe(true);
    expect(r.growth, `RSS grew ${MiB(r.growth)}`).toBeLessThan(RSS_BOUND);
    expect(r.ping).toBe(true);
    const m = await metricsText();
    expect(m).toMatch(/meridian_signal_frames_dropped_total\{reason="(unauthenticated|invalid)"\} [1-9]/);
    expect(m).toMatch(/meridian_signal_closes_total\{reason="flood"\} [1-9]/);
  });

  it("joined, 1-byte frames: closed, RSS bounded, others served", { timeout: 30_000 }, async () => {
    const sock = await DeafSocket.open(
      `${node.signalUrl}?access_token=${await node.token("flooder", "room-flood", {}, { meridian: null })}`,
    );
    sock.send(frame("join", 1));
    const r = await floodAndWatch(sock, clientFrame("x"));
    expect(r.closed, `socket still open after ${sock.framesSent} frames (RSS +${MiB(r.growth)})`).toBe(true);
    expect(r.growth, `RSS grew ${MiB(r.growth)}`).toBeLessThan(RSS_BOUND);
    expect(r.ping).toBe(true);
    expect(await metricsText()).toMatch(/meridian_signal_frames_dropped_total\{reason="invalid"\} [1-9]/);
  });

  it("a slow reader in a busy room is closed once its send buffer is full", { timeout: 40_000 }, async () => {
    const room = "room-deaf";
    // Someone in the room keeps muting and unmuting a track: every change is broadcast to everyone.
    const busy = await SignalClient.open(
      node.signalUrl,
      await node.token("b".repeat(200), room, {}, { meridian: null }),
    );
    await busy.request("join", {});
    const send = await busy.request("createTransport", { direction: "send" });
    const opus = { mimeType: "audio/opus", payloadType: 100, clockRate: 48_000, channels: 2 };
    const { trackId } = await busy.request("produce", {
      transportId: send.transportId,
      kind: "audio",
      rtpParameters: { codecs: [opus], encodings: [{ ssrc: 1111 }] },
    });
    const sock = await DeafSocket.open(
      `${node.signalUrl}?access_token=${await node.token("deaf", room, {}, { meridian: null })}`,
    );
    sock.send(frame("join", 1));
    // It cannot read the join's answer: wait until the node counts it as a participant.
    await waitFor(
      async () => /^meridian_clients (\d+)$/m.exec(await metricsText())?.[1],
      (n) => n === "3",
      "the slow reader joined",
    );

    const pid = node.pid!;
    const before = await rssOf(pid);
    const sampler = rssSampler(pid);
    const deadline = Date.now() + 2 * FLOOD_MS;
    let changes = 0;
    // A client that does not read does not see its socket cut either (the FIN waits behind the
    // unread bytes): the node's own count says when it closed the slow reader.
    const cut = async () => /meridian_signal_closes_total\{reason="send_buffer_full"\} [1-9]/.test(await metricsText());
    while (!sock.isClosed && Date.now() < deadline && !(changes % 1000 === 0 && changes > 0 && (await cut()))) {
      await Promise.all(
        Array.from({ length: 100 }, (_, i) => busy.request(i % 2 ? "resumeProducer" : "pauseProducer", { trackId })),
      );
      changes += 100;
    }
    const growth = (await sampler.stop()) - before;
    const closed = await sock.waitClosed(2_000);
    console.log(`[flood] slow reader: ${changes} broadcasts, node RSS +${MiB(growth)}`);
    sock.destroy();
    busy.close();
    expect(closed, `slow reader still open after ${changes} broadcasts (RSS +${MiB(growth)})`).toBe(true);
    expect(growth, `RSS grew ${MiB(growth)}`).toBeLessThan(RSS_BOUND);
    expect((await bystander.request("ping", {})).now).toBeGreaterThan(0);
    expect(await metricsText()).toMatch(/meridian_signal_closes_total\{reason="send_buffer_full"\} [1-9]/);
  });

  it("a reading client sending garbage gets a bounded number of error replies, then the documented close code", {
    timeout: 20_000,
  }, async () => {
    const c = await SignalClient.open(node.signalUrl);
    let errors = 0;
    c.onNotification((name) => void (name === "error" && errors++));
    for (let i = 0; i < 200 && c.isOpen; i++) c.sendRaw("x");
    const closed = await Promise.race([c.closed, new Promise<undefined>((r) => setTimeout(r, 5_000))]);
    expect(closed?.code).toBe(CloseCode.TooManyMessages);
    expect(errors).toBeGreaterThan(0);
    expect(errors).toBeLessThan(20);
    // The node still serves: the bystander's session is intact.
    expect((await bystander.request("ping", {})).now).toBeGreaterThan(0);
  });
});
