// @bench-smoke
// Simulcast (issue 10): what layer choice and dynacast save, with real Chromium (fake 720p camera)
// publishing into a real media node started in this process.
//
//   node bench/simulcast.ts [--smoke] [--window-ms 8000]
//
// 1. A low-layer (spatial 0) and a high-layer (spatial 2) subscriber of the same simulcast
//    publisher: bytes/s each receives (inbound-rtp), in the same window → the RATIO line.
// 2. Publisher uplink when nobody watches the high layer (the one subscriber left asks layer 0): media
//    bytes/s the node receives on the producer (mediasoup producer stats, all rids; the browser's
//    own bytesSent counts padding), with dynacast on, then with a publisher that ignores it
//    (`/demo?dynacast=0`).
// 3. Node CPU per forwarded stream: the mediasoup worker's CPU (getrusage) per second with one
//    subscriber at the top layer of a simulcast publisher (three layers in, one out) vs of a
//    single-layer 720p publisher (`/demo?simulcast=0`), minus the idle worker.
import type { Page } from "playwright-core";
import { setTimeout as sleep } from "node:timers/promises";
import { resolveConfig } from "../media-node/src/config.ts";
import { MediaNode } from "../media-node/src/media-node.ts";
import { mintToken } from "#shared/token.ts";
import { loopbackNodeEnv } from "../infra/local/media-node.ts";
import { waitFor } from "../infra/local/wait.ts";
import { launchChromium } from "../test/support/browser.ts";
import type { DemoState } from "../media-node/client/demo.ts";
import { workerCpuMs } from "./media/forwarder.ts";
import { benchArgs, printRatio, printTable } from "./lib/report.ts";

const args = benchArgs({ "window-ms": { type: "string" } });
const WINDOW_MS = Number(args["window-ms"] ?? (args.smoke ? 1_500 : 8_000));
const SETTLE_MS = args.smoke ? 1_000 : 6_000;
const WAIT_MS = 60_000;
const ROOM = "simulcast-bench";
const API_KEY = "bench";
const API_SECRET = `bench-secret-${process.pid}-${Date.now()}`;

const env = await loopbackNodeEnv({ nodeId: "bench-node", apiKeys: `${API_KEY}:${API_SECRET}` });
const config = resolveConfig({}, { ...env, SERVE_DEMO: "true" });
const node = await MediaNode.start(config);
const browser = await launchChromium();
const rows: (string | number)[][] = [];

async function open(identity: string, query: string): Promise<Page> {
  const token = await mintToken({
    apiKey: API_KEY,
    apiSecret: API_SECRET,
    identity,
    video: { roomJoin: true, room: ROOM },
    ttlSeconds: 600,
  });
  const page = await (await browser.newContext({ permissions: ["camera", "microphone"] })).newPage();
  await page.goto(`http://127.0.0.1:${node.httpPort}/demo?${query}#token=${encodeURIComponent(token)}`);
  return page;
}

const published = (page: Page) =>
  page.evaluate(() => (globalThis as unknown as { meridian: DemoState }).meridian.publishedAt !== undefined);

/** Bytes the page's client has received on video so far, and the width it decodes. */
function received(page: Page): Promise<{ bytes: number; width: number; trackId: string | undefined }> {
  return page.evaluate(async () => {
    const c = (globalThis as unknown as { meridian: DemoState }).meridian.client;
    const v = ((await c?.recvStats()) ?? []).filter((s) => s.type === "inbound-rtp" && s.kind === "video");
    return {
      bytes: v.reduce((n, s) => n + Number(s.bytesReceived ?? 0), 0),
      width: Math.max(0, ...v.map((s) => Number(s.frameWidth ?? 0))),
      trackId: c?.remoteTracks.filter((r) => r.kind === "video").at(-1)?.trackId,
    };
  });
}

async function subscribeAt(page: Page, layer: number, width: number): Promise<void> {
  const { trackId } = await waitFor(
    () => received(page),
    (r) => r.trackId !== undefined,
    "a video track subscribed",
    WAIT_MS,
  );
  await page.evaluate(
    ([id, l]) =>
      (globalThis as unknown as { meridian: DemoState }).meridian.client!.setPreferredLayers(id as string, l as number),
    [trackId!, layer] as const,
  );
  await waitFor(
    () => received(page),
    (r) => r.width === width,
    `${width} wide frames`,
    WAIT_MS,
  );
}

/** Media bytes the node has received on the room's video producers (all rids). */
async function ingressBytes(): Promise<number> {
  const room = node.rooms.rooms.get(ROOM);
  let n = 0;
  for (const p of room?.participants.values() ?? [])
    for (const t of p.tracks.values())
      if (t.producer?.kind === "video") for (const s of await t.producer.getStats()) n += s.byteCount;
  return n;
}

const worker = () => node.rooms.rooms.get(ROOM)!.routers.first().slot.worker;

/** Per second over one window: each reading's growth. */
async function rates<K extends string>(read: Record<K, () => Promise<number>>): Promise<Record<K, number>> {
  const keys = Object.keys(read) as K[];
  const before = await Promise.all(keys.map((k) => read[k]()));
  const t0 = performance.now();
  await sleep(WINDOW_MS);
  const after = await Promise.all(keys.map((k) => read[k]()));
  const s = (performance.now() - t0) / 1000;
  return Object.fromEntries(keys.map((k, i) => [k, (after[i]! - before[i]!) / s])) as Record<K, number>;
}

try {
  // 1. low vs high subscriber of one simulcast publisher (dynacast on)
  const pub = await open("publisher", "publish=1");
  await waitFor(
    () => published(pub),
    (x) => x,
    "publisher published",
    WAIT_MS,
  );
  const low = await open("low", "publish=0");
  const high = await open("high", "publish=0");
  await subscribeAt(low, 0, 320);
  await subscribeAt(high, 2, 1280);
  await sleep(SETTLE_MS);
  const r1 = await rates({
    low: async () => (await received(low)).bytes,
    high: async () => (await received(high)).bytes,
  });
  rows.push(
    ["subscriber bytes/s, layer 0 (320×180)", Math.round(r1.low)],
    ["subscriber bytes/s, layer 2 (1280×720)", Math.round(r1.high)],
  );

  // 3a. CPU with one top-layer subscriber of the simulcast publisher. The high subscriber stays:
  // a layer dynacast turned off comes back only as fast as the sender's bandwidth estimate climbs
  // again (tens of seconds from a low-layer-only estimate on loopback).
  await low.close();
  await sleep(SETTLE_MS);
  const simCpu = await rates({ cpu: () => workerCpuMs(worker()) });

  // 2. uplink when nobody watches the high layer: dynacast on
  const sub = high;
  await subscribeAt(sub, 0, 320);
  await sleep(SETTLE_MS);
  const upOn = await rates({ bytes: ingressBytes });
  await pub.close();

  // 2. ... and with a publisher ignoring dynacast
  const pubOff = await open("publisher-nodyn", "publish=1&dynacast=0");
  await waitFor(
    () => published(pubOff),
    (x) => x,
    "publisher (dynacast off) published",
    WAIT_MS,
  );
  await subscribeAt(sub, 0, 320);
  await sleep(SETTLE_MS);
  const upOff = await rates({ bytes: ingressBytes });
  await pubOff.close();
  rows.push(["publisher uplink bytes/s at the node, only layer 0 watched, dynacast on", Math.round(upOn.bytes)]);
  rows.push(["publisher uplink bytes/s at the node, only layer 0 watched, dynacast off", Math.round(upOff.bytes)]);

  // 3b. CPU with one subscriber of a single-layer 720p publisher, and idle
  const single = await open("publisher-single", "publish=1&simulcast=0");
  await waitFor(
    () => published(single),
    (x) => x,
    "single-layer publisher published",
    WAIT_MS,
  );
  await waitFor(
    () => received(sub),
    (r) => r.width === 1280,
    "single-layer 1280 wide frames",
    WAIT_MS,
  );
  await sleep(SETTLE_MS);
  const singleCpu = await rates({ cpu: () => workerCpuMs(worker()) });
  await single.close();
  await sleep(1_000);
  const idleCpu = await rates({ cpu: () => workerCpuMs(worker()) });
  const per = (x: number) => Math.max(0, x - idleCpu.cpu);
  rows.push(["worker CPU ms/s, simulcast publisher → 1 subscriber at layer 2 (minus idle)", per(simCpu.cpu)]);
  rows.push(["worker CPU ms/s, single-layer 720p publisher → 1 subscriber (minus idle)", per(singleCpu.cpu)]);
  rows.push(["worker CPU ms/s, idle (room open, 1 subscriber, no publisher)", idleCpu.cpu]);
  rows.push(["uplink saved by dynacast (off/on)", upOff.bytes / Math.max(1, upOn.bytes)]);
  rows.push(["CPU simulcast/single-layer", per(simCpu.cpu) / Math.max(0.001, per(singleCpu.cpu))]);

  printTable([`simulcast (window ${WINDOW_MS} ms)`, "value"], rows);
  printRatio(
    "simulcast",
    r1.low / r1.high,
    `bytes/s to a layer-0 subscriber / to a layer-2 subscriber of the same publisher (goal: well below 1, ~0.1-0.2: a small tile costs a fraction of the top layer)`,
  );
} finally {
  await browser.close();
  await node.stop();
}
