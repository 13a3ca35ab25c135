// The client's reconnect hook end to end: a publisher in Chromium is on node 1; node 1 drains
// (SIGTERM, short deadline) and tells it to reconnect; the hook hands it node 2 (what the control
// plane would do), it republishes there, and a subscriber on node 2 decodes its video.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser } from "playwright-core";
import type { MeridianClient } from "../../media-node/client/meridian-client.ts";
import { inboundRtp, launchChromium, mediaFlows, openPage } from "../support/browser.ts";
import { MediaNodeProcess, waitFor } from "../support/media-node.ts";
import { TestRedis } from "../support/redis.ts";

const ROOM = "moving-room";
let redis: TestRedis;
let n1: MediaNodeProcess;
let n2: MediaNodeProcess;
let browser: Browser;

beforeAll(async () => {
  redis = await TestRedis.start();
  [n1, n2] = await Promise.all([
    MediaNodeProcess.start({ redisUrl: redis.url, env: { DRAIN_DEADLINE_MS: "1000" } }),
    MediaNodeProcess.start({ redisUrl: redis.url }),
  ]);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await Promise.all([n1?.stop(), n2?.stop()]);
  await redis?.stop();
});

describe("reconnect hook", () => {
  it("follows a draining node's reconnect to another node and republishes there", async () => {
    const subscriber = await openPage(
      browser,
      `${n2.httpUrl}/demo?publish=0#token=${encodeURIComponent(await n2.token("watcher", ROOM))}`,
    );
    const publisher = await openPage(browser, `${n1.httpUrl}/demo`);
    const first = { url: n1.signalUrl, token: await n1.token("mover", ROOM) };
    const next = { url: n2.signalUrl, token: await n2.token("mover", ROOM) };
    await publisher.page.evaluate(
      async ({ first, next }) => {
        const g = globalThis as unknown as { MeridianClient: typeof MeridianClient; moved?: string };
        const client = await g.MeridianClient.connect({ ...first, onReconnect: async () => next });
        client.on("reconnected", (c) => (g.moved = c.joined.node.id));
        await client.publishMedia();
      },
      { first, next },
    );

    n1.signal("SIGTERM");
    expect(await n1.exited).toEqual({ code: 0, signal: null });
    const movedTo = await waitFor(
      () => publisher.page.evaluate(() => (globalThis as unknown as { moved?: string }).moved),
      (m) => m !== undefined,
      "publisher reconnected",
    ).catch((e) => {
      throw new Error(`${e}\n${publisher.console.join("\n")}`);
    });
    expect(movedTo).toBe(n2.nodeId);
    await waitFor(
      () => inboundRtp(subscriber.page),
      mediaFlows,
      "media from the moved publisher on node 2",
      45_000,
    ).catch((e) => {
      throw new Error(`${e}\n${subscriber.console.join("\n")}\n${n2.logs.slice(-20).join("\n")}`);
    });
  });
});
