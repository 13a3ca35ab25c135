// Simulcast, layer choice, dynacast and adaptive stream end to end: headless Chromium (fake 720p
// camera) publishes three layers into a real media node; a second page subscribes. Everything is
// read from the browsers' getStats() (what was sent per rid, what was decoded at which width), and
// bad layer requests from a protocol client get error replies while the node keeps serving.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import type { DemoState } from "../../media-node/client/demo.ts";
import { SignalClient, SignalError } from "../../media-node/client/signal-client.ts";
import { launchChromium, openPage } from "../support/browser.ts";
import { MediaNodeProcess, waitFor } from "../support/media-node.ts";

const ROOM = "simulcast-room";
let node: MediaNodeProcess;
let browser: Browser;
let pub: { page: Page; console: string[] };
let sub: { page: Page; console: string[] };

interface Outbound {
  rid?: string;
  bytesSent: number;
  active?: boolean;
  frameWidth?: number;
}
interface Inbound {
  bytesReceived: number;
  framesDecoded?: number;
  frameWidth?: number;
}

const demo = (token: string, query: string) => `${node.httpUrl}/demo?${query}#token=${encodeURIComponent(token)}`;
const context = () =>
  [
    `publisher:`,
    ...pub.console.slice(-10),
    `subscriber:`,
    ...(sub?.console.slice(-10) ?? []),
    `node:`,
    ...node.logs.slice(-20),
  ].join("\n");
const explain = (e: unknown) => {
  throw new Error(`${String(e)}\n${context()}`);
};

/** The publisher's video outbound-rtp stats by rid. */
function outbound(page: Page): Promise<Record<string, Outbound>> {
  return page.evaluate(async () => {
    const c = (globalThis as unknown as { meridian: DemoState }).meridian.client;
    const out: Record<string, Outbound> = {};
    for (const s of (await c?.sendStats()) ?? [])
      if (s.type === "outbound-rtp" && s.kind === "video") out[String(s.rid ?? "-")] = s as unknown as Outbound;
    return out;
  });
}

/** The subscriber's camera video inbound-rtp stats (the decoding one, not mediasoup's probator). */
function inboundVideo(page: Page): Promise<Inbound> {
  return page.evaluate(async () => {
    const c = (globalThis as unknown as { meridian: DemoState }).meridian.client;
    const v = ((await c?.recvStats()) ?? []).filter(
      (s) => s.type === "inbound-rtp" && s.kind === "video",
    ) as unknown as Inbound[];
    return v.sort((a, b) => (b.framesDecoded ?? 0) - (a.framesDecoded ?? 0))[0] ?? { bytesReceived: 0 };
  });
}

function videoTrackId(page: Page): Promise<string | undefined> {
  return page.evaluate(
    () =>
      (globalThis as unknown as { meridian: DemoState }).meridian.client?.remoteTracks.find((r) => r.kind === "video")
        ?.trackId,
  );
}

function setLayers(page: Page, trackId: string, spatialLayer: number): Promise<void> {
  return page.evaluate(
    ([id, l]) =>
      (globalThis as unknown as { meridian: DemoState }).meridian.client!.setPreferredLayers(id as string, l as number),
    [trackId, spatialLayer] as const,
  );
}

/** A counter that has stopped: two reads `gapMs` apart are equal. */
async function frozen(read: () => Promise<number>, gapMs = 1_500): Promise<boolean> {
  const a = await read();
  await new Promise((r) => setTimeout(r, gapMs));
  return (await read()) === a;
}

async function growing(read: () => Promise<number>, gapMs = 1_000): Promise<boolean> {
  return !(await frozen(read, gapMs));
}

beforeAll(async () => {
  node = await MediaNodeProcess.start({});
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await node?.stop();
});

describe("simulcast", () => {
  let trackId: string;

  it("the publisher sends three layers of its 720p camera (outbound-rtp per rid)", async () => {
    pub = await openPage(browser, demo(await node.token("alice", ROOM), "publish=1"));
    const out = await waitFor(
      () => outbound(pub.page),
      (o) =>
        ["r0", "r1", "r2"].every(
          (rid) => (o[rid]?.bytesSent ?? 0) > 0 && o[rid]?.active !== false && (o[rid]?.frameWidth ?? 0) > 0,
        ),
      "three active rids sending",
      45_000,
    ).catch(explain);
    const widths = ["r0", "r1", "r2"].map((r) => out[r]!.frameWidth);
    console.log(`[simulcast] publisher rids r0/r1/r2 frame widths ${widths.join("/")}`);
    expect(widths).toEqual([320, 640, 1280]);
  });

  it("a subscriber asking for the lowest layer decodes 320 wide, then 1280 after asking for the highest", async () => {
    sub = await openPage(browser, demo(await node.token("bob", ROOM, { canPublish: false }), "publish=0"));
    trackId = (await waitFor(
      () => videoTrackId(sub.page),
      (t) => t !== undefined,
      "video subscribed",
      30_000,
    ).catch(explain))!;
    await setLayers(sub.page, trackId, 0);
    await waitFor(
      () => inboundVideo(sub.page),
      (s) => (s.framesDecoded ?? 0) > 0 && s.frameWidth === 320,
      "320 wide frames",
      30_000,
    ).catch(explain);
    await sub.page.evaluate(() => {
      const g = globalThis as unknown as { meridian: DemoState; layers: unknown[] };
      g.layers = [];
      g.meridian.client!.on("layersChanged", (e) => void g.layers.push(e));
    });
    await setLayers(sub.page, trackId, 2);
    const hi = await waitFor(
      () => inboundVideo(sub.page),
      (s) => s.frameWidth === 1280,
      "1280 wide frames",
      45_000,
    ).catch(explain);
    // The node told the subscriber which layer it now forwards.
    const told = await waitFor(
      () =>
        sub.page.evaluate(
          () => (globalThis as unknown as { layers: { trackId: string; spatialLayer: number | null }[] }).layers,
        ),
      (l) => l.some((e) => e.trackId === trackId && e.spatialLayer === 2),
      "layersChanged to spatial layer 2",
      10_000,
    ).catch(explain);
    expect(told.length).toBeGreaterThan(0);
    console.log(`[simulcast] subscriber decoded ${hi.framesDecoded} frames, now ${hi.frameWidth} wide`);
  });

  it("dynacast: with only a low-layer subscriber the top encoding stops sending, and resumes for a high one", async () => {
    await setLayers(sub.page, trackId, 0);
    const r2Bytes = async () => (await outbound(pub.page)).r2?.bytesSent ?? 0;
    await waitFor(
      () => frozen(r2Bytes),
      (f) => f,
      "r2 bytesSent frozen",
      20_000,
    ).catch(explain);
    const o = await outbound(pub.page);
    expect(o.r2?.active).toBe(false);
    expect(await growing(async () => (await outbound(pub.page)).r0?.bytesSent ?? 0)).toBe(true);
    await setLayers(sub.page, trackId, 2);
    await waitFor(
      () => growing(r2Bytes),
      (g) => g,
      "r2 bytesSent growing again",
      20_000,
    ).catch(explain);
    await waitFor(
      () => inboundVideo(sub.page),
      (s) => s.frameWidth === 1280,
      "1280 wide frames again",
      45_000,
    ).catch(explain);
  });

  it("adaptive stream: a hidden video element gets its consumer paused; shown again, it resumes", async () => {
    const received = async () => (await inboundVideo(sub.page)).bytesReceived;
    await sub.page.evaluate(() => {
      for (const v of document.querySelectorAll<HTMLElement>("#remote video")) v.style.display = "none";
    });
    await waitFor(
      () => frozen(received),
      (f) => f,
      "no video bytes while hidden",
      20_000,
    ).catch(explain);
    await sub.page.evaluate(() => {
      for (const v of document.querySelectorAll<HTMLElement>("#remote video")) v.style.display = "";
    });
    await waitFor(
      () => growing(received),
      (g) => g,
      "video bytes again once shown",
      20_000,
    ).catch(explain);
  });

  it("bad layer requests get protocol errors; the node keeps serving", async () => {
    const c = await SignalClient.open(node.signalUrl, await node.token("mallory", ROOM, { canPublish: false }));
    try {
      const joined = await c.request("join", {});
      const alice = joined.participants.find((p) => p.identity === "alice")!;
      const video = alice.tracks.find((t) => t.kind === "video")!;
      const audio = alice.tracks.find((t) => t.kind === "audio")!;
      expect(video.layers?.map((l) => l.width)).toEqual([320, 640, 1280]);
      const code = (p: Promise<unknown>) =>
        p.then(
          () => "ok",
          (e: unknown) => (e instanceof SignalError ? e.code : String(e)),
        );
      expect(await code(c.request("setPreferredLayers", { trackId: video.trackId, spatialLayer: 0 }))).toBe(
        "not_found",
      ); // not subscribed
      await c.request("setRtpCapabilities", { rtpCapabilities: joined.routerRtpCapabilities });
      await c.request("createTransport", { direction: "recv" });
      await c.request("consume", { trackId: video.trackId });
      await c.request("consume", { trackId: audio.trackId });
      expect(await code(c.request("setPreferredLayers", { trackId: video.trackId, spatialLayer: 3 }))).toBe(
        "bad_request",
      );
      expect(await code(c.request("setPreferredLayers", { trackId: video.trackId, spatialLayer: -1 }))).toBe(
        "bad_request",
      );
      expect(await code(c.request("setPreferredLayers", { trackId: audio.trackId, spatialLayer: 1 }))).toBe(
        "bad_request",
      );
      expect(await code(c.request("setPreferredLayers", { trackId: "no-such-track", spatialLayer: 0 }))).toBe(
        "not_found",
      );
      expect(await code(c.request("updateTrackSettings", { trackId: "no-such-track", visible: false }))).toBe(
        "not_found",
      );
      expect(await code(c.request("updateTrackSettings", { trackId: video.trackId, visible: true, width: -5 }))).toBe(
        "bad_request",
      );
      expect(
        await code(
          c.request("setPreferredLayers", { trackId: video.trackId, spatialLayer: 1, temporalLayer: 2, priority: 2 }),
        ),
      ).toBe("ok");
      expect(
        await code(
          c.request("updateTrackSettings", { trackId: video.trackId, visible: true, width: 600, height: 340 }),
        ),
      ).toBe("ok");
      expect((await c.request("ping", {})).now).toBeGreaterThan(0);
    } finally {
      c.close();
    }
    // Still forwarding to the browser subscriber.
    expect(await growing(async () => (await inboundVideo(sub.page)).bytesReceived)).toBe(true);
  });
});
