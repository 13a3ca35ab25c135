// H.264 simulcast end to end: headless Chromium (fake 720p camera, the demo page with ?codec=h264)
// publishes its camera as H.264 into a real media node; a second page subscribes. What was sent per
// rid, and which codec the subscriber decoded, are read from the browsers' getStats().
import { afterAll, beforeAll, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import type { DemoState } from "../../media-node/client/demo.ts";
import { launchChromium, openPage } from "../support/browser.ts";
import { MediaNodeProcess, waitFor } from "../support/media-node.ts";

const ROOM = "h264-room";
let node: MediaNodeProcess;
let browser: Browser;
const consoles: string[][] = [];

/** Video rtp stats of one direction, each with its codec's mimeType (from the stats' codec entries). */
function videoRtp(
  page: Page,
  type: "outbound-rtp" | "inbound-rtp",
): Promise<{ rid?: string; bytesSent?: number; active?: boolean; framesDecoded?: number; mimeType?: string }[]> {
  return page.evaluate(async (type) => {
    const c = (globalThis as unknown as { meridian: DemoState }).meridian.client;
    const all = ((await (type === "outbound-rtp" ? c?.sendStats() : c?.recvStats())) ?? []) as unknown as Record<
      string,
      unknown
    >[];
    const codecs = new Map(all.filter((s) => s.type === "codec").map((s) => [s.id, s.mimeType as string]));
    return all
      .filter((s) => s.type === type && s.kind === "video")
      .map((s) => ({ ...s, mimeType: codecs.get(s.codecId as string) }));
  }, type);
}

const demo = (token: string, query: string) => `${node.httpUrl}/demo?${query}#token=${encodeURIComponent(token)}`;
const explain = (e: unknown) => {
  throw new Error(`${String(e)}\n${consoles.flat().slice(-20).join("\n")}\nnode:\n${node.logs.slice(-20).join("\n")}`);
};

beforeAll(async () => {
  node = await MediaNodeProcess.start({});
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await node?.stop();
});

it("a publisher with ?codec=h264 sends H.264 simulcast; the subscriber decodes video/H264", async () => {
  const pub = await openPage(browser, demo(await node.token("alice", ROOM), "publish=1&codec=h264"));
  consoles.push(pub.console);
  const out = await waitFor(
    () => videoRtp(pub.page, "outbound-rtp"),
    // Debian's Chromium encodes H.264 in software (OpenH264) and sends all three layers.
    (o) => o.filter((s) => (s.bytesSent ?? 0) > 0 && s.active !== false).length === 3,
    "three active rids sending",
    45_000,
  ).catch(explain);
  const sending = out.filter((s) => (s.bytesSent ?? 0) > 0 && s.active !== false);
  console.log(`[h264] publisher rids sending: ${sending.map((s) => `${s.rid} ${s.mimeType}`).join(", ")}`);
  expect(sending.map((s) => `${s.rid} ${s.mimeType}`).sort()).toEqual([
    "r0 video/H264",
    "r1 video/H264",
    "r2 video/H264",
  ]);

  const sub = await openPage(browser, demo(await node.token("bob", ROOM, { canPublish: false }), "publish=0"));
  consoles.push(sub.console);
  const inbound = await waitFor(
    async () => (await videoRtp(sub.page, "inbound-rtp")).find((s) => (s.framesDecoded ?? 0) > 0),
    (s) => s !== undefined,
    "video frames decoded",
    45_000,
  ).catch(explain);
  console.log(`[h264] subscriber decoded ${inbound?.framesDecoded} frames of ${inbound?.mimeType}`);
  expect(inbound?.mimeType).toBe("video/H264");
});
