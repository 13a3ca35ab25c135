// The node's demo page has no control plane to ask for a new node, so it rejoins the same URL with
// the same token (media-node/client/demo.ts). A standalone node with a publisher page and a
// subscriber page is stopped and started again on the same ports: both pages rejoin by themselves,
// the publisher republishes, and the subscriber decodes its video again.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import type { DemoState } from "../../media-node/client/demo.ts";
import { busiest, inboundRtp, launchChromium, mediaFlows, openPage } from "../support/browser.ts";
import { MediaNodeProcess, waitFor } from "../support/media-node.ts";

const ROOM = "rejoin-room";
let node: MediaNodeProcess;
let browser: Browser;

beforeAll(async () => {
  [node, browser] = await Promise.all([MediaNodeProcess.start({ nodeId: "demo-rejoin-node" }), launchChromium()]);
});

afterAll(async () => {
  await browser?.close();
  await node?.stop();
});

/** Which client generation the page is on (the node's id does not change) and its frames decoded. */
async function view(page: Page): Promise<{ client: number; frames: number; flows: boolean; errors: string[] }> {
  const [client, errors] = await page.evaluate(() => {
    const g = globalThis as unknown as { meridian: DemoState; seen?: unknown[] };
    g.seen ??= [];
    if (g.meridian.client && !g.seen.includes(g.meridian.client)) g.seen.push(g.meridian.client);
    return [g.seen.length, g.meridian.errors] as const;
  });
  const stats = await inboundRtp(page);
  return {
    client,
    errors: [...errors],
    frames: busiest(stats, "video", "framesDecoded")?.framesDecoded ?? 0,
    flows: mediaFlows(stats),
  };
}

describe("demo page rejoin", () => {
  it("follows its node through a restart on the same URL and decodes the publisher again", async () => {
    const demo = async (identity: string, query: string) =>
      `${node.httpUrl}/demo?${query}#token=${encodeURIComponent(await node.token(identity, ROOM))}`;
    const publisher = await openPage(browser, await demo("alice", "publish=1"));
    const subscriber = await openPage(browser, await demo("bob", "publish=0"));
    const context = () => [...publisher.console, ...subscriber.console, ...node.logs.slice(-20)].join("\n");
    const before = await waitFor(
      () => view(subscriber.page),
      (v) => v.flows,
      "subscriber decodes video",
      45_000,
    ).catch((e) => {
      throw new Error(`${e}\n${context()}`);
    });
    expect(before.client).toBe(1);
    await view(publisher.page); // remember the publisher's first client

    const { httpPort, rtcPort } = node;
    await node.stop();
    node = await MediaNodeProcess.start({ nodeId: "demo-rejoin-node", httpPort, rtcPort });

    const after = await waitFor(
      () => view(subscriber.page),
      (v) => v.client === 2 && v.flows,
      "subscriber rejoined and decodes video again",
      45_000,
    ).catch((e) => {
      throw new Error(`${e}\n${context()}`);
    });
    expect((await view(publisher.page)).client).toBe(2);
    expect(after.errors).toEqual([]);
    expect(after.frames).toBeGreaterThan(0);
  });
});
