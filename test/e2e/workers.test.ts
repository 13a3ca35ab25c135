// A room across the workers of one node, with real WebRTC: a media node with 2 mediasoup workers
// and a consumer budget of 1 per worker, so the second participant's transports land on a router
// of the same room on the other worker. Two headless Chromium pages publish camera + mic + a data
// channel; each decodes the other's video, receives its audio and its data message — every track
// crossing between the workers through a pipe (router.pipeToRouter), as the node's /metrics show.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import type { DemoState } from "../../media-node/client/demo.ts";
import { demoState, inboundRtp, launchChromium, mediaFlows, openPage } from "../support/browser.ts";
import { MediaNodeProcess, waitFor } from "../support/media-node.ts";

const ROOM = "workers-room";
let node: MediaNodeProcess;
let browser: Browser;
const pages: { page: Page; console: string[] }[] = [];

function context(): string {
  return [
    ...pages.flatMap((p, i) => [`page ${i} console:`, ...p.console.slice(-10)]),
    "node:",
    ...node.logs.slice(-20),
  ].join("\n");
}

async function gauge(name: string): Promise<number> {
  const text = await (await fetch(`${node.httpUrl}/metrics`)).text();
  const m = new RegExp(`^${name} (\\d+)`, "m").exec(text);
  return m ? Number(m[1]) : NaN;
}

beforeAll(async () => {
  node = await MediaNodeProcess.start({ env: { WORKERS: "2", WORKER_CONSUMER_BUDGET: "1" } });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await node?.stop();
});

describe("one room on two workers of a node", () => {
  it("participants on different workers decode each other's video, hear audio and get data", async () => {
    const demo = async (identity: string) =>
      `${node.httpUrl}/demo?token=${encodeURIComponent(await node.token(identity, ROOM))}&data=1`;
    pages.push(await openPage(browser, await demo("alice")));
    await waitFor(
      () => demoState(pages[0]!.page),
      (s) => s.publishedAt !== undefined || s.errors.length > 0,
      "alice published",
      30_000,
    );
    pages.push(await openPage(browser, await demo("bob")));
    for (const [i, p] of pages.entries()) {
      const stats = await waitFor(
        () => inboundRtp(p.page),
        mediaFlows,
        `page ${i} decodes the other's video and receives audio`,
        45_000,
      ).catch((e) => {
        throw new Error(`${e}\n${context()}`);
      });
      expect(stats.length).toBeGreaterThan(0);
    }
    expect(node.logs.some((l) => l.includes("room spans another worker"))).toBe(true);
    expect(await gauge("meridian_room_routers")).toBe(2);
    // alice's and bob's audio, video and data channel, each piped once to the other's router.
    expect(await gauge("meridian_worker_piped_producers")).toBe(6);

    const got = await waitFor(
      async () => {
        await pages[0]!.page.evaluate(() =>
          (globalThis as unknown as { meridian: DemoState }).meridian.sendData?.("across workers"),
        );
        return (await demoState(pages[1]!.page)).messages;
      },
      (m) => m.length > 0,
      "data message at bob",
      20_000,
    );
    expect(got[0]).toEqual({ identity: "alice", data: "across workers" });
  });

  it("when bob leaves, his router and the pipes close", async () => {
    await pages[1]!.page.close();
    await waitFor(
      () => gauge("meridian_room_routers"),
      (n) => n === 1,
      "bob's router closed",
    );
    await waitFor(
      () => gauge("meridian_worker_piped_producers"),
      (n) => n === 0,
      "pipes closed",
    );
  });
});
