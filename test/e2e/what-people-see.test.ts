// What a person sees, read from Chromium at 1,100 px: the demo page (status line naming the signal
// node and the host, an audio-only participant as a tile the size of a video tile, no failed
// request such as a favicon 404) and the dashboard (the world outline, one dot per region where
// the projection puts it, node cards with load bars matching the stats, one line per bridged room)
// — on a real cluster: the Worker under Miniflare, redis-server, two media nodes in the seed's
// regions. Pixels are read from screenshots decoded in the page.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import {
  fitViewport,
  project,
  sysloadBarWidth,
  clientsBarWidth,
  toPixels,
  type Point,
} from "../../control-plane/dashboard/map.ts";
import type { DashboardState } from "../../control-plane/dashboard/client.ts";
import { startCluster, type LocalCluster } from "../../infra/local/cluster.ts";
import { keys } from "#shared/keys.ts";
import { launchChromium } from "../support/browser.ts";
import { waitFor } from "../support/media-node.ts";

const REGIONS = [
  { name: "us-west-2", lat: 37.64046607830567, lon: -120.88026233189062 },
  { name: "us-east", lat: 40.68914362140307, lon: -74.04445748616385 },
];
const WEST = "see-west";
const EAST = "see-east";
const PORTLAND = { lat: 45.52, lon: -122.68 };
const WASHINGTON = { lat: 38.9, lon: -77.04 };
const ROOM = "see-room";
const WIDTH = 1100;

let cluster: LocalCluster;
let browser: Browser;

beforeAll(async () => {
  [cluster, browser] = await Promise.all([
    startCluster({
      regions: REGIONS,
      nodes: [
        { nodeId: WEST, region: "us-west-2" },
        { nodeId: EAST, region: "us-east" },
      ],
    }),
    launchChromium(),
  ]);
});

afterAll(async () => {
  await browser?.close();
  await cluster?.stop();
});

interface Opened {
  page: Page;
  /** Failed requests and responses ≥ 400, with their URL. */
  failures: string[];
  console: string[];
}

async function open(url: string, height = 800): Promise<Opened> {
  const context = await browser.newContext({
    viewport: { width: WIDTH, height },
    permissions: ["camera", "microphone"],
  });
  const page = await context.newPage();
  const failures: string[] = [];
  const console: string[] = [];
  page.on("response", (r) => void (r.status() >= 400 && failures.push(`${r.status()} ${r.url()}`)));
  page.on("requestfailed", (r) => failures.push(`failed ${r.url()}: ${r.failure()?.errorText}`));
  page.on("console", (m) => void (m.type() === "error" && console.push(m.text())));
  page.on("pageerror", (e) => console.push(`pageerror: ${e.message}`));
  await page.goto(url);
  return { page, failures, console };
}

let decoder: Page | undefined;

/** RGB of a screenshot's pixels at the given points (CSS px of the page), decoded by Chromium in a
 * blank page of its own (the dashboard's CSP would refuse the data: URL). The screenshot covers
 * just the points' bounding box: cheap on a loaded machine. */
async function pixels(page: Page, at: Point[]): Promise<[number, number, number][]> {
  const x = Math.floor(Math.min(...at.map((p) => p.x)));
  const y = Math.floor(Math.min(...at.map((p) => p.y)));
  const clip = {
    x,
    y,
    width: Math.ceil(Math.max(...at.map((p) => p.x))) - x + 1,
    height: Math.ceil(Math.max(...at.map((p) => p.y))) - y + 1,
  };
  const png = (await page.screenshot({ clip })).toString("base64");
  const points = at.map((p) => ({ x: Math.floor(p.x) - x, y: Math.floor(p.y) - y }));
  decoder ??= await browser.newPage();
  return decoder.evaluate(
    async ({ png, points }) => {
      const img = await createImageBitmap(await (await fetch(`data:image/png;base64,${png}`)).blob());
      const canvas = new OffscreenCanvas(img.width, img.height);
      const ctx = canvas.getContext("2d")!;
      ctx.drawImage(img, 0, 0);
      return points.map((p) => [...ctx.getImageData(p.x, p.y, 1, 1).data.slice(0, 3)] as [number, number, number]);
    },
    { png, points },
  );
}

const near = (rgb: [number, number, number], hex: string, tolerance = 24) => {
  const want = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  return rgb.every((c, i) => Math.abs(c - want[i]!) <= tolerance);
};

async function demo(identity: string, from: { lat: number; lon: number }, query = ""): Promise<Opened> {
  const j = await cluster.join({ room: ROOM, identity, location: from });
  const signal = cluster.nodes.find((n) => n.signalUrl === j.url)!;
  return open(`${signal.httpUrl}/demo?url=${encodeURIComponent(j.url)}${query}#token=${encodeURIComponent(j.token)}`);
}

/** MERIDIAN_SCREENSHOTS=<dir> keeps a full-page screenshot of each page at the end, to look at. */
async function keep(p: Opened, name: string): Promise<void> {
  const dir = process.env.MERIDIAN_SCREENSHOTS;
  if (dir) await p.page.screenshot({ path: `${dir}/${name}.png`, fullPage: true });
}

const statusOf = (p: Opened) => p.page.evaluate(() => document.getElementById("status")!.textContent!);

describe("the demo page", () => {
  let alice: Opened;
  let bob: Opened;

  it("says which node signals and which hosts: the same node, or both for a bridged join", async () => {
    alice = await demo("alice", WASHINGTON); // creates the room on the us-east node, signals there
    bob = await demo("bob", PORTLAND, "&publish=audio"); // signals on us-west-2, bridged to the host
    const context = () => [...alice.console, ...bob.console, cluster.logs()].join("\n");
    for (const p of [alice, bob])
      await waitFor(
        () => statusOf(p),
        (s) => s.startsWith("joined"),
        "joined",
        30_000,
      ).catch((e) => {
        throw new Error(`${e}\n${context()}`);
      });
    expect(await statusOf(alice)).toBe(`joined ${ROOM} as alice · signal node and host ${EAST} (us-east)`);
    expect(await statusOf(bob)).toBe(`joined ${ROOM} as bob · signal node ${WEST} → host ${EAST} (us-east) (bridged)`);
  });

  it("shows an audio-only participant as a tile the size of the video tiles, with a placeholder drawn", async () => {
    const tile = (p: Opened, identity: string) =>
      p.page.evaluate((identity) => {
        const t = document.querySelector<HTMLElement>(`#remote .tile[data-identity="${identity}"]`);
        const media = t?.querySelector(".media")?.getBoundingClientRect();
        const local = document
          .querySelector("#local")!
          .closest(".tile")!
          .querySelector(".media")!
          .getBoundingClientRect();
        return t && media
          ? {
              // The name line's own text; the connection quality is a badge appended to it.
              name: t.querySelector(".name")!.childNodes[0]?.textContent,
              quality: t.querySelector(".name .quality")?.textContent ?? null,
              video: !!t.querySelector("video"),
              audio: t.querySelectorAll("audio").length,
              media: { x: media.x, y: media.y, w: media.width, h: media.height },
              local: { w: local.width, h: local.height },
            }
          : undefined;
      }, identity);
    const bobOnAlice = await waitFor(
      () => tile(alice, "bob"),
      (t) => t?.audio === 1,
      "bob's audio tile on alice's page",
      30_000,
    );
    expect(bobOnAlice).toMatchObject({
      name: "bob · audio only",
      video: false,
      media: { w: 320, h: 180 },
      local: { w: 320, h: 180 },
    });
    const aliceOnBob = await waitFor(
      () => tile(bob, "alice"),
      (t) => t?.video === true && t.audio === 1,
      "alice's video tile on bob's page",
      30_000,
    );
    expect(aliceOnBob).toMatchObject({ name: "alice · audio + video", media: { w: 320, h: 180 } });
    // Bob's own tile: the placeholder too, not an empty video.
    expect(
      await bob.page.evaluate(
        () => document.querySelector("#local")!.parentElement!.querySelector(".avatar")?.textContent,
      ),
    ).toBe("B");
    // What is on screen: the tile's dark box with the round placeholder in its middle.
    const m = bobOnAlice!.media;
    const [corner, middle] = await pixels(alice.page, [
      { x: m.x + 8, y: m.y + 8 },
      { x: m.x + m.w / 2 + 20, y: m.y + m.h / 2 + 20 }, // inside the circle, off the letter
    ]);
    expect(near(corner!, "#000000")).toBe(true);
    expect(near(middle!, "#2b4660")).toBe(true);
  });

  it("loaded without a failed request, and names an icon that exists (no favicon 404)", async () => {
    // Chromium asks for /favicon.ico itself, outside the page's network events, unless the page
    // names an icon: so the check is that it names one and that it loads.
    const icon = (p: Opened) =>
      p.page.evaluate(async () => {
        const links = [...document.querySelectorAll<HTMLLinkElement>('link[rel="icon"]')];
        const r = links[0] ? await fetch(links[0].href) : undefined;
        return { count: links.length, status: r?.status, type: r?.headers.get("content-type") };
      });
    for (const p of [alice, bob]) expect(await icon(p)).toEqual({ count: 1, status: 200, type: "image/svg+xml" });
    expect([...alice.failures, ...bob.failures]).toEqual([]);
    await keep(alice, "demo-alice");
    await keep(bob, "demo-bob");
    expect(alice.console.filter((l) => l.startsWith("pageerror"))).toEqual([]);
  });
});

describe("the dashboard at 1,100 px", () => {
  let d: Opened;
  let s: DashboardState & { width: number; height: number };

  beforeAll(async () => {
    d = await open(`${cluster.workerUrl}/dashboard#token=${await cluster.adminToken()}`, 1400);
    // A poll that shows the bridged participant (the hosting node wrote bob's record).
    s = await waitFor(
      () =>
        d.page.evaluate(() => {
          const g = (globalThis as unknown as { meridianDashboard: DashboardState }).meridianDashboard;
          const svg = document.getElementById("map")!;
          return { ...g, width: Number(svg.getAttribute("width")), height: Number(svg.getAttribute("height")) };
        }),
      (g) =>
        g.rooms.some((r) => r.name === ROOM && r.signalNodes.length === 2) &&
        g.nodes.find((n) => n.id === EAST)?.stats.clients === 2,
      "a poll with the bridged room",
      20_000,
    ).catch((e) => {
      throw new Error(`${e}\n${d.console.join("\n")}`);
    });
  });

  const mapBox = () =>
    d.page.evaluate(() => document.getElementById("map")!.getBoundingClientRect().toJSON() as DOMRect);

  it("draws the world outline locally, scaled so the regions fill the map", async () => {
    const land = await d.page.evaluate(() => {
      const p = document.getElementById("land") as unknown as SVGPathElement;
      const b = p.getBoundingClientRect();
      return { length: p.getAttribute("d")!.length, w: b.width, h: b.height };
    });
    expect(land.length).toBeGreaterThan(10_000);
    expect(land.w).toBeGreaterThan(s.width); // the world is larger than the part shown
    expect(s.width).toBeGreaterThan(1000); // the map spans the page
    expect(s.viewport).toEqual(fitViewport(REGIONS, s.width, s.height));
    // Pixels: land (the Dakotas, Mexico) and sea (the Atlantic, the Pacific) where the projection
    // says, at points no card or room line covers.
    const box = await mapBox();
    const at = (lat: number, lon: number) => {
      const p = toPixels(s.viewport!, project(lat, lon));
      return { x: box.x + p.x, y: box.y + p.y };
    };
    const [dakotas, mexico, atlantic, pacific] = await pixels(d.page, [
      at(47, -100),
      at(24, -103),
      at(30, -55),
      at(25, -140),
    ]);
    for (const p of [dakotas!, mexico!]) expect(near(p, "#1d2b3a", 8)).toBe(true);
    for (const p of [atlantic!, pacific!]) expect(near(p, "#0b1420", 8)).toBe(true);
  });

  it("puts one dot per region at its projected position", async () => {
    const dots = await d.page.evaluate(() =>
      [...document.querySelectorAll("#map-regions .region")].map((g) => {
        const c = g.querySelector("circle")!;
        return {
          name: g.getAttribute("data-region"),
          cx: Number(c.getAttribute("cx")),
          cy: Number(c.getAttribute("cy")),
          label: g.textContent,
        };
      }),
    );
    expect(dots.map((x) => x.name)).toEqual(REGIONS.map((r) => r.name));
    for (const r of REGIONS) {
      const want = toPixels(s.viewport!, project(r.lat, r.lon));
      const dot = dots.find((x) => x.name === r.name)!;
      expect(Math.abs(dot.cx - want.x)).toBeLessThan(0.1);
      expect(Math.abs(dot.cy - want.y)).toBeLessThan(0.1);
      expect(dot.label).toBe(r.name);
    }
    const box = await mapBox();
    const blue = await pixels(
      d.page,
      dots.map((x) => ({ x: box.x + x.cx, y: box.y + x.cy })),
    );
    for (const p of blue) expect(near(p, "#4aa3ff")).toBe(true);
  });

  it("draws a card per node with load bars as wide as its stats say, and no two cards overlap", async () => {
    const cards = await d.page.evaluate(() =>
      [...document.querySelectorAll<SVGGElement>("#map-nodes .node")].map((g) => {
        const b = g.getBoundingClientRect();
        const bar = (k: string) => Number(g.querySelector(`[data-bar="${k}"]`)!.getAttribute("width"));
        const state = (globalThis as unknown as { meridianDashboard: DashboardState }).meridianDashboard;
        const n = state.nodes.find((x) => x.id === g.getAttribute("data-node"))!;
        return {
          id: n.id,
          sysload: n.stats.sysload,
          clients: n.stats.clients,
          busiest: Math.max(...state.nodes.map((x) => x.stats.clients)),
          bars: { sysload: bar("sysload"), clients: bar("clients") },
          box: { x: b.x, y: b.y, w: b.width, h: b.height },
        };
      }),
    );
    expect(cards.map((c) => c.id).sort()).toEqual([EAST, WEST]);
    for (const c of cards) {
      expect(c.bars.sysload).toBeCloseTo(sysloadBarWidth(c.sysload), 0);
      expect(c.bars.clients).toBeCloseTo(clientsBarWidth(c.clients, c.busiest), 0);
    }
    expect(cards.find((c) => c.id === EAST)!.clients).toBe(2); // alice and bob: media on the host
    expect(cards.find((c) => c.id === EAST)!.bars.clients).toBeGreaterThan(0);
    const [a, b] = cards.map((c) => c.box);
    expect(a!.x + a!.w <= b!.x || b!.x + b!.w <= a!.x || a!.y + a!.h <= b!.y || b!.y + b!.h <= a!.y).toBe(true);
  });

  it("draws the bridged room as one line from the signal node to the host", async () => {
    const lines = await d.page.evaluate(() =>
      [...document.querySelectorAll("#map-rooms .room")].map((g) => ({
        room: g.getAttribute("data-room"),
        from: g.getAttribute("data-from"),
        to: g.getAttribute("data-to"),
        label: document.querySelector(`#map-labels text[data-room="${g.getAttribute("data-room")}"]`)?.textContent,
      })),
    );
    expect(lines).toEqual([{ room: ROOM, from: WEST, to: EAST, label: `${ROOM} · 1` }]);
  });

  it("is readable at 1,100 px: nothing wider than the window, and the rooms columns agree", async () => {
    const t = await d.page.evaluate(() => {
      const rows = (id: string) =>
        [...document.querySelectorAll(`#${id} tbody tr`)].map((tr) => [...tr.children].map((td) => td.textContent!));
      const head = (id: string) => [...document.querySelectorAll(`#${id} thead th`)].map((th) => th.textContent!);
      const icon = document.querySelector<HTMLLinkElement>('link[rel="icon"]')?.href;
      return {
        scrollWidth: document.documentElement.scrollWidth,
        icon,
        regions: rows("regions"),
        nodes: rows("nodes"),
        regionHead: head("regions"),
        nodeHead: head("nodes"),
      };
    });
    expect(t.scrollWidth).toBeLessThanOrEqual(WIDTH);
    expect(t.icon).toMatch(/^data:image\/svg\+xml,/); // drawn inline: no /favicon.ico request
    const col = (head: string[], name: string) => head.indexOf(name);
    const hostedByRegion = Object.fromEntries(
      t.regions.map((r) => [r[0], Number(r[col(t.regionHead, "rooms hosted")])]),
    );
    const hostedByNode = Object.fromEntries(t.nodes.map((r) => [r[1], Number(r[col(t.nodeHead, "rooms hosted")])]));
    expect(hostedByRegion).toEqual({ "us-west-2": 0, "us-east": 1 });
    expect(hostedByNode).toEqual(hostedByRegion); // one node per region here
    const redis = cluster.redis!.client();
    expect(await redis.hget(keys.room(ROOM), "node")).toBe(EAST);
    redis.disconnect();
    expect(d.failures).toEqual([]);
    await keep(d, "dashboard");
  });
});
