// RoomService effects a browser must observe itself: SendData arrives over the WebRTC data channel
// (to everyone, or only to the named identities), and MutePublishedTrack makes the publisher's own
// client stop sending. livekit-server-sdk → real Worker (Miniflare) → Redis bus → real media node
// → headless Chromium pages running MeridianClient.
import type { Browser, Page } from "playwright-core";
import { DataPacket_Kind, RoomServiceClient } from "livekit-server-sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MeridianClient } from "../../media-node/client/meridian-client.ts";
import { startCluster, type LocalCluster } from "../../infra/local/cluster.ts";
import { launchChromium, openPage } from "../support/browser.ts";
import { waitFor } from "../support/media-node.ts";

type Globals = {
  MeridianClient: typeof MeridianClient;
  client: MeridianClient;
  got: { topic: string | undefined; text: string }[];
  changed: { trackId: string; muted?: boolean }[];
};

const ROOM = "rs-browser";
let c: LocalCluster;
let browser: Browser;
let svc: RoomServiceClient;
const pages = new Map<string, Page>();

async function join(identity: string, publish: boolean): Promise<Page> {
  const { page } = await openPage(browser, `${c.nodes[0]!.httpUrl}/demo`);
  const { url, token } = await c.join({ identity, room: ROOM });
  await page.evaluate(
    async ({ url, token, publish }) => {
      const g = globalThis as unknown as Globals;
      g.got = [];
      g.changed = [];
      g.client = await g.MeridianClient.connect({ url, token });
      g.client.on("serverData", (m) => g.got.push({ topic: m.topic, text: new TextDecoder().decode(m.payload) }));
      g.client.on("localTrackChanged", (ch) => g.changed.push(ch));
      if (publish) await g.client.publishMedia({ audio: true, video: false });
    },
    { url, token, publish },
  );
  pages.set(identity, page);
  return page;
}

const received = (page: Page) => page.evaluate(() => (globalThis as unknown as Globals).got);

beforeAll(async () => {
  [c, browser] = await Promise.all([
    startCluster({
      regions: [{ name: "us-east", lat: 39.04, lon: -77.49 }],
      nodes: [{ nodeId: "rsb-a", region: "us-east" }],
    }),
    launchChromium(),
  ]);
  svc = new RoomServiceClient(c.workerUrl, c.apiKey, c.apiSecret);
  await join("anna", true);
  await join("ben", false);
}, 90_000);
afterAll(async () => {
  await browser?.close();
  await c?.stop();
});

describe("RoomService seen from the browser", () => {
  it("SendData reaches the named identities only, then everyone, over the data channel", async () => {
    const send = (text: string, o: { topic?: string; destinationIdentities?: string[] }) =>
      svc.sendData(ROOM, new TextEncoder().encode(text), DataPacket_Kind.RELIABLE, o);
    // The pages' server data consumers are set up asynchronously after connect: retry the first send.
    await waitFor(
      async () => {
        await send("to ben", { topic: "direct", destinationIdentities: ["ben"] });
        return received(pages.get("ben")!);
      },
      (got) => got.length > 0,
      "ben receives a direct message",
    );
    await send("to all", { topic: "all" });
    const ben = await waitFor(
      () => received(pages.get("ben")!),
      (g) => g.some((m) => m.text === "to all"),
      "ben gets the broadcast",
    );
    const anna = await waitFor(
      () => received(pages.get("anna")!),
      (g) => g.some((m) => m.text === "to all"),
      "anna gets the broadcast",
    );
    expect(ben[0]).toEqual({ topic: "direct", text: "to ben" });
    expect(anna.map((m) => m.text)).not.toContain("to ben"); // the direct ones never reached anna
    expect(anna.find((m) => m.text === "to all")!.topic).toBe("all");
  });

  it("MutePublishedTrack: the publisher's own client pauses its sender, and resumes on unmute", async () => {
    const anna = pages.get("anna")!;
    const [p] = await waitFor(
      () => svc.listParticipants(ROOM).then((ps) => ps.filter((x) => x.identity === "anna")),
      (ps) => ps[0]?.tracks.length === 1,
      "anna's track listed",
    );
    const trackSid = p!.tracks[0]!.sid;
    await svc.mutePublishedTrack(ROOM, "anna", trackSid, true);
    const changed = await waitFor(
      () => anna.evaluate(() => (globalThis as unknown as Globals).changed),
      (ch) => ch.length === 1,
      "anna's client told",
    );
    expect(changed[0]).toEqual({ trackId: trackSid, muted: true });
    await svc.mutePublishedTrack(ROOM, "anna", trackSid, false);
    await waitFor(
      () => anna.evaluate(() => (globalThis as unknown as Globals).changed),
      (ch) => ch.length === 2 && ch[1]!.muted === false,
      "unmuted",
    );
  });
});
