// Headless Debian Chromium through playwright-core, with fake camera and microphone. One browser
// per test file; each page is one participant.
import { chromium, type Browser, type Page } from "playwright-core";
import type { DemoState } from "../../media-node/client/demo.ts";

export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--use-fake-device-for-media-stream",
  "--use-fake-ui-for-media-stream",
  "--disable-quic",
  "--no-first-run",
  "--disable-component-update",
  "--disable-sync",
  // Loopback ICE: do not hide host candidates behind mDNS names.
  "--disable-features=WebRtcHideLocalIpsWithMdns",
];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium", args: CHROMIUM_ARGS });
}

/** Opens a page and keeps its console errors for failure messages. */
export async function openPage(browser: Browser, url: string): Promise<{ page: Page; console: string[] }> {
  const context = await browser.newContext({ permissions: ["camera", "microphone"] });
  const page = await context.newPage();
  const console: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") console.push(`${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => console.push(`pageerror: ${e.message}`));
  await page.goto(url);
  return { page, console };
}

/** What the demo page (media-node/client/demo.ts) exposes on `window.meridian`, minus the client. */
export function demoState(page: Page): Promise<Omit<DemoState, "client" | "sendData">> {
  return page.evaluate(() => {
    const s = (globalThis as unknown as { meridian: DemoState }).meridian;
    return {
      joinStartedAt: s.joinStartedAt,
      joinedAt: s.joinedAt,
      publishedAt: s.publishedAt,
      firstFrameAt: s.firstFrameAt,
      errors: s.errors,
      messages: s.messages,
    };
  });
}

export interface InboundRtp {
  type: string;
  kind: string;
  framesDecoded?: number;
  packetsReceived?: number;
  bytesReceived?: number;
}

/** inbound-rtp stats of the page's client (getStats() of its recv transport). */
export function inboundRtp(page: Page): Promise<InboundRtp[]> {
  return page.evaluate(async () => {
    const c = (globalThis as unknown as { meridian: DemoState }).meridian.client;
    return ((await c?.recvStats()) ?? []).filter((s) => s.type === "inbound-rtp");
  }) as unknown as Promise<InboundRtp[]>;
}

/** The inbound stream of a kind with the most of `by` (the recv transport also carries mediasoup's
 * bandwidth "probator" stream, which never decodes anything). */
export function busiest(
  stats: InboundRtp[],
  kind: "audio" | "video",
  by: "framesDecoded" | "packetsReceived",
): InboundRtp | undefined {
  return stats.filter((x) => x.kind === kind).sort((a, b) => (b[by] ?? 0) - (a[by] ?? 0))[0];
}

/** Video frames decoded and audio packets received, both > 0. */
export function mediaFlows(stats: InboundRtp[]): boolean {
  return (
    (busiest(stats, "video", "framesDecoded")?.framesDecoded ?? 0) > 0 &&
    (busiest(stats, "audio", "packetsReceived")?.packetsReceived ?? 0) > 0
  );
}
