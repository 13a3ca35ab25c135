// End to end with real WebRTC peers: headless Chromium (fake camera + mic) publishes into a room
// on a real media node (child process, real mediasoup worker, real Redis); a second page
// subscribes. Asserts from getStats() that video frames were decoded and audio packets received,
// and that the node's record in Redis shows the room, both clients and the tracks.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import type { Redis } from "ioredis";
import { keys } from "#shared/keys.ts";
import type { DemoState } from "../../media-node/client/demo.ts";
import { busiest, demoState, inboundRtp, launchChromium, mediaFlows, openPage } from "../support/browser.ts";
import { MediaNodeProcess, readNodeRecord, waitFor } from "../support/media-node.ts";
import { TestRedis } from "../support/redis.ts";

const ROOM = "e2e-room";
let redis: TestRedis;
let r: Redis;
let node: MediaNodeProcess;
let browser: Browser;
let publisher: { page: Page; console: string[] };
let subscriber: { page: Page; console: string[] };

function context(): string {
  return [
    `publisher console:`,
    ...publisher.console.slice(-10),
    `subscriber console:`,
    ...subscriber.console.slice(-10),
    `node:`,
    ...node.logs.slice(-20),
  ].join("\n");
}

beforeAll(async () => {
  redis = await TestRedis.start();
  r = redis.client();
  node = await MediaNodeProcess.start({ redisUrl: redis.url });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await node?.stop();
  r?.disconnect();
  await redis?.stop();
});

describe("browser → media node → browser", () => {
  it("the subscriber decodes the publisher's video and receives its audio", async () => {
    const demo = (token: string, query: string) => `${node.httpUrl}/demo?${query}#token=${encodeURIComponent(token)}`;
    publisher = await openPage(browser, demo(await node.token("alice", ROOM), "data=1"));
    const pub = await waitFor(
      () => demoState(publisher.page),
      (s) => s.publishedAt !== undefined || s.errors.length > 0,
      "publisher published",
      30_000,
    ).catch((e) => {
      throw new Error(`${e}\n${context()}`);
    });
    expect(pub.errors).toEqual([]);

    subscriber = await openPage(browser, demo(await node.token("bob", ROOM, { canPublish: false }), "publish=0"));
    const stats = await waitFor(
      () => inboundRtp(subscriber.page),
      mediaFlows,
      "decoded video frames and audio packets at the subscriber",
      45_000,
    ).catch((e) => {
      throw new Error(`${e}\n${context()}`);
    });
    const video = busiest(stats, "video", "framesDecoded")!;
    const audio = busiest(stats, "audio", "packetsReceived")!;
    expect(video.framesDecoded).toBeGreaterThan(0);
    expect(audio.packetsReceived).toBeGreaterThan(0);

    const sub = await waitFor(
      () => demoState(subscriber.page),
      (s) => s.firstFrameAt !== undefined,
      "first frame shown",
    );
    const joinToFirstFrame = sub.firstFrameAt! - sub.joinStartedAt!;
    console.log(
      `[e2e] publisher join→published ${(pub.publishedAt! - pub.joinStartedAt!).toFixed(0)} ms; ` +
        `subscriber join→joined ${(sub.joinedAt! - sub.joinStartedAt!).toFixed(0)} ms, join→first video frame ${joinToFirstFrame.toFixed(0)} ms; ` +
        `frames decoded ${video.framesDecoded}, audio packets ${audio.packetsReceived}`,
    );
  });

  it("the node's record in Redis shows the room, both clients and the tracks", async () => {
    const rec = await waitFor(
      () => readNodeRecord(r, node.nodeId),
      (x) =>
        x !== null &&
        x.stats.rooms === 1 &&
        x.stats.clients === 2 &&
        x.stats.tracksIn === 2 &&
        x.stats.tracksOut >= 2 &&
        // Forwarded media: the subscriber's transport sends roughly what the publisher's receives.
        x.stats.bytesInPerSec > 5_000 &&
        x.stats.bytesOutPerSec > 5_000,
      "node stats with the room",
    );
    expect(rec!.state).toBe("SERVING");
    console.log(`[e2e] node record stats: ${JSON.stringify(rec!.stats)}`);
    const participants = await r.hgetall(keys.roomParticipants(ROOM));
    expect(Object.keys(participants).sort()).toEqual(["alice", "bob"]);
    const alice = JSON.parse(participants.alice!) as { tracks: { kind: string }[] };
    expect(alice.tracks.map((t) => t.kind).sort()).toEqual(["audio", "data", "video"]);
    expect(await r.smembers(keys.nodeRooms(node.nodeId))).toEqual([ROOM]);
  });

  it("a data channel message from the publisher reaches the subscriber (SCTP)", async () => {
    const got = await waitFor(
      async () => {
        await publisher.page.evaluate(() =>
          (globalThis as unknown as { meridian: DemoState }).meridian.sendData?.("hello from alice"),
        );
        return (await demoState(subscriber.page)).messages;
      },
      (m) => m.length > 0,
      "data message at the subscriber",
      20_000,
    ).catch((e) => {
      throw new Error(`${e}\n${context()}`);
    });
    expect(got[0]).toEqual({ identity: "alice", data: "hello from alice" });
  });

  it("when the publisher leaves, the subscriber's consumers close and the stats drop", async () => {
    await publisher.page.close();
    await waitFor(
      () => readNodeRecord(r, node.nodeId),
      (x) => x?.stats.clients === 1 && x.stats.tracksIn === 0 && x.stats.tracksOut === 0,
      "publisher gone",
    );
    expect(await r.hkeys(keys.roomParticipants(ROOM))).toEqual(["bob"]);
  });
});
