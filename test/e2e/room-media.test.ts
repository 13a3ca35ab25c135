// What the demo page shows of a room beyond video: mic mute (the button, and the other side's tile
// saying so), the active speaker following who is unmuted, per-participant connection quality, and
// a screen share decoded by a subscriber with source screen_share. Real node, headless Chromium
// (fake mic beeps, fake screen via --use-fake-ui-for-media-stream: getDisplayMedia picks it).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import type { DemoState } from "../../media-node/client/demo.ts";
import { launchChromium, openPage } from "../support/browser.ts";
import { MediaNodeProcess, waitFor } from "../support/media-node.ts";

const ROOM = "room-media";
/** After a mute, the other publisher must be the speaker within this many activeSpeaker notifications. */
const SPEAKER_NOTIFICATIONS = 5;
let node: MediaNodeProcess;
let browser: Browser;
const pages: Record<string, { page: Page; console: string[] }> = {};

const demo = (token: string, query: string) => `${node.httpUrl}/demo?${query}#token=${encodeURIComponent(token)}`;
const explain = (e: unknown) => {
  const consoles = Object.entries(pages).flatMap(([who, p]) => [`${who}:`, ...p.console.slice(-8)]);
  throw new Error([String(e), ...consoles, "node:", ...node.logs.slice(-20)].join("\n"));
};

interface Seen {
  activeSpeaker: string | undefined;
  speakerNotifications: number;
  tiles: Record<string, { muted: string; quality: string; name: string }>;
  remote: { identity: string; kind: string; source: string }[];
  framesDecoded: number;
}

/** What carol's page shows and its client holds. */
function seen(page: Page): Promise<Seen> {
  return page.evaluate(async () => {
    const s = (globalThis as unknown as { meridian: DemoState }).meridian;
    const tiles: Seen["tiles"] = {};
    for (const el of document.querySelectorAll<HTMLElement>("#remote .tile"))
      tiles[el.dataset.identity!] = {
        muted: el.dataset.muted ?? "",
        quality: el.dataset.quality ?? "",
        name: el.querySelector(".name")?.textContent ?? "",
      };
    const stats = (await s.client?.recvStats()) ?? [];
    const framesDecoded = Math.max(
      0,
      ...stats.filter((x) => x.type === "inbound-rtp" && x.kind === "video").map((x) => Number(x.framesDecoded ?? 0)),
    );
    return {
      activeSpeaker: s.activeSpeaker,
      speakerNotifications: s.activeSpeakers?.length ?? 0,
      tiles,
      remote: (s.client?.remoteTracks ?? []).map((r) => ({ identity: r.identity, kind: r.kind, source: r.source })),
      framesDecoded,
    };
  });
}

async function published(who: string): Promise<void> {
  await waitFor(
    () =>
      pages[who]!.page.evaluate(
        () => (globalThis as unknown as { meridian: DemoState }).meridian.publishedAt !== undefined,
      ),
    (x) => x,
    `${who} published`,
    30_000,
  ).catch(explain);
}

beforeAll(async () => {
  node = await MediaNodeProcess.start({});
  browser = await launchChromium();
  for (const who of ["alice", "bob"])
    pages[who] = await openPage(browser, demo(await node.token(who, ROOM), "publish=audio"));
  await published("alice");
  await published("bob");
  pages.carol = await openPage(browser, demo(await node.token("carol", ROOM, { canPublish: false }), "publish=0"));
});

afterAll(async () => {
  await browser?.close();
  await node?.stop();
});

describe("a room as the demo shows it", () => {
  it("muting one publisher's mic makes the other the active speaker; the tile says who is muted", async () => {
    const carol = pages.carol!.page;
    await waitFor(
      () => seen(carol),
      (s) => s.remote.filter((r) => r.kind === "audio").length === 2,
      "carol hears alice and bob",
      30_000,
    ).catch(explain);
    for (const [mute, other] of [
      ["alice", "bob"],
      ["bob", "alice"],
    ] as const) {
      const before = (await seen(carol)).speakerNotifications;
      await pages[mute]!.page.click("#mute-mic");
      const s = await waitFor(
        () => seen(carol),
        (x) => x.tiles[mute]?.muted === "mic muted" && x.activeSpeaker === other,
        `${other} speaking while ${mute} is muted`,
        30_000,
      ).catch(explain);
      expect(s.speakerNotifications - before).toBeLessThanOrEqual(SPEAKER_NOTIFICATIONS);
      expect(s.tiles[mute]!.name).toContain("mic muted");
      await pages[mute]!.page.click("#mute-mic"); // unmute again
      await waitFor(
        () => seen(carol),
        (x) => x.tiles[mute]?.muted === "",
        `${mute} unmuted at carol's`,
        15_000,
      ).catch(explain);
    }
  });

  it("every participant's tile shows a connection quality", async () => {
    const s = await waitFor(
      () => seen(pages.carol!.page),
      (x) => ["alice", "bob"].every((w) => x.tiles[w]?.quality),
      "quality on both tiles",
      20_000,
    ).catch(explain);
    for (const w of ["alice", "bob"]) expect(["excellent", "good", "poor", "lost"]).toContain(s.tiles[w]!.quality);
    console.log(`[room-media] quality alice ${s.tiles.alice!.quality}, bob ${s.tiles.bob!.quality}`);
  });

  it("a screen share from the demo's button is decoded by a subscriber with source screen_share", async () => {
    // Carol's node answers her resumeConsumer 1.5 s late (as under load): until the page is told of
    // the track (trackSubscribed), the client must not list it in remoteTracks either.
    await pages.carol!.page.evaluate(() => {
      const signal = (globalThis as unknown as { meridian: DemoState }).meridian.client!["signal" as never] as {
        request: (method: string, data: unknown) => Promise<unknown>;
      };
      const request = signal.request.bind(signal);
      signal.request = async (method, data) => {
        const r = await request(method, data);
        if (method === "resumeConsumer") await new Promise((ok) => setTimeout(ok, 1_500));
        return r;
      };
    });
    await pages.alice!.page.click("#share-screen");
    const listedBeforeTile: string[] = [];
    const s = await waitFor(
      async () => {
        const x = await seen(pages.carol!.page);
        const listed = x.remote.some((r) => r.identity === "alice" && r.source === "screen_share");
        if (listed && !x.tiles.alice?.name.includes("sharing screen")) listedBeforeTile.push(x.tiles.alice?.name ?? "");
        return x;
      },
      (x) =>
        x.remote.some((r) => r.identity === "alice" && r.source === "screen_share") &&
        x.framesDecoded > 0 &&
        (x.tiles.alice?.name.includes("sharing screen") ?? false),
      "alice's screen decoded at carol's",
      45_000,
    ).catch(explain);
    expect(s.tiles.alice!.name).toContain("sharing screen");
    expect(listedBeforeTile, "remoteTracks listed the screen share while the tile did not show it").toEqual([]);
  });
});
