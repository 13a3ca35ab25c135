// The dashboard shows rooms that span nodes (issue 9, "Visible"): which nodes serve the room
// (origin and edges), the participants and pipes of each, as lines on the map and rows of a
// table — read from GET /v1/rooms and from the page in Chromium. The cluster is the local one
// (the real Worker under Miniflare, redis-server) without media processes: three nodes in three
// regions write what a media node writes, through the same functions (reportNode every report
// interval, cascade_room's join and pipes, upsertParticipant). Then the bounds: junk entries are
// skipped, and 1000 rooms of 64 nodes each page by bytes and fill the table up to its cap.
import type { Redis } from "ioredis";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DashboardState } from "../../control-plane/dashboard/client.ts";
import { MAX_SPAN_ROWS } from "../../control-plane/dashboard/rooms.ts";
import { startCluster, type LocalCluster } from "../../infra/local/cluster.ts";
import { cascadeJoin, cascadePipes, MAX_NODES_PER_ROOM } from "#shared/cascade.ts";
import type { Region } from "#shared/config.ts";
import { keys } from "#shared/keys.ts";
import { REPORT_INTERVAL_MS, type NodeRecord } from "#shared/node.ts";
import { ioredisRunner } from "#shared/redis/ioredis.ts";
import type { ScriptRunner } from "#shared/redis/runner.ts";
import { reportNode, upsertParticipant } from "#shared/registry.ts";
import { launchChromium, openPage } from "../support/browser.ts";
import { waitFor } from "../support/media-node.ts";

const REGIONS: Region[] = [
  { name: "us-west-2", lat: 45.84, lon: -119.7 },
  { name: "us-east", lat: 39.04, lon: -77.49 },
  { name: "eu-west", lat: 53.35, lon: -6.26 },
];
const EAST = "dash-east";
const WEST = "dash-west";
const EU = "dash-eu";
const NODES = [
  { id: EAST, region: "us-east" },
  { id: WEST, region: "us-west-2" },
  { id: EU, region: "eu-west" },
];
const SPAN = "span-room";
const BRIDGED = "bridged-room";
const CASCADE = { max_nodes_per_room: 8, participants_per_node: 50 };

let cluster: LocalCluster;
let browser: Browser;
let run: ScriptRunner;
let redis: Redis;
let reporting: NodeJS.Timeout | undefined;
let token: string;

/** The nodes' start: their first report (a node up before the registry's first report would be
 * taken for a Redis restart under a running cluster: registry_warming). */
let started = 0;
const record = (n: (typeof NODES)[number], now: number): NodeRecord => ({
  id: n.id,
  region: n.region,
  state: "SERVING",
  signalUrl: `ws://127.0.0.1:9/${n.id}`,
  rtcAddress: "127.0.0.1",
  startedAt: started,
  updatedAt: now,
  stats: {
    numCpus: 2,
    loadAvg1: 0.2,
    sysload: 0.1,
    cpuLoad: 0.1,
    rooms: 1,
    clients: 2,
    tracksIn: 2,
    tracksOut: 4,
    bytesInPerSec: 0,
    bytesOutPerSec: 0,
  },
});

const report = () => Promise.all(NODES.map((n) => reportNode(run, record(n, Date.now()))));

beforeAll(async () => {
  [cluster, browser] = await Promise.all([startCluster({ regions: REGIONS, nodes: [] }), launchChromium()]);
  redis = cluster.redis!.client();
  run = ioredisRunner(redis);
  token = await cluster.adminToken();
  // The nodes' presence, as their registries keep it (records expire after two intervals).
  started = Date.now();
  await report();
  reporting = setInterval(() => void report().catch(() => undefined), REPORT_INTERVAL_MS);

  // span-room: placed on the us-east node, which serves alice and bob; carol's media is on the
  // us-west-2 node and dave's on the eu-west one, each an edge linked to the origin.
  const create = await cluster.adminToken(600, { roomCreate: true });
  const made = await cluster.workerFetch("/v1/rooms", {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${create}` },
    body: JSON.stringify({ name: SPAN, region: "us-east" }),
  });
  expect(made).toMatchObject({ status: 201, body: { node: EAST } });
  const join = async (node: (typeof NODES)[number], identities: string[]) => {
    const role = await cascadeJoin(run, { room: SPAN, node, participants: identities.length, config: CASCADE });
    expect(role.role).toBe(node.id === EAST ? "origin" : "edge");
    for (const identity of identities)
      await upsertParticipant(
        run,
        SPAN,
        { identity, sid: `PA_${identity}`, joinedAt: 1, signalNode: node.id, tracks: [] },
        node.id,
      );
  };
  await join(NODES[0]!, ["alice", "bob"]);
  await join(NODES[1]!, ["carol"]);
  await join(NODES[2]!, ["dave"]);
  // The pipes as the nodes report them: the origin has one per edge; each edge one, to the origin.
  const pipes = (i: number, n: number, pipedIn: number) =>
    cascadePipes(run, { room: SPAN, node: NODES[i]!, pipes: n, pipedIn });
  await pipes(0, 2, 2); // carol's and dave's tracks
  await pipes(1, 1, 3); // alice's, bob's and dave's
  await pipes(2, 1, 3);

  // bridged-room: on the us-east node only, one participant signaling through the us-west-2 node.
  const madeBridged = await cluster.workerFetch("/v1/rooms", {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${create}` },
    body: JSON.stringify({ name: BRIDGED, region: "us-east" }),
  });
  expect(madeBridged.status).toBe(201);
  await upsertParticipant(
    run,
    BRIDGED,
    { identity: "erin", sid: "PA_erin", joinedAt: 1, signalNode: WEST, tracks: [] },
    EAST,
  );
}, 120_000);

afterAll(async () => {
  clearInterval(reporting);
  redis?.disconnect();
  await browser?.close();
  await cluster?.stop();
});

const get = async (path: string) => {
  const r = await cluster.workerFetch(path, { headers: { authorization: `Bearer ${token}` } });
  expect(r.status).toBe(200);
  return r.body as { rooms: Room[]; nextCursor: string | null } & Room;
};
type Room = DashboardState["rooms"][number];

const SPAN_NODES = [
  { node: EAST, role: "origin", region: "us-east", participants: 2, pipes: 2, pipedIn: 2 },
  { node: EU, role: "edge", region: "eu-west", participants: 1, pipes: 1, pipedIn: 3 },
  { node: WEST, role: "edge", region: "us-west-2", participants: 1, pipes: 1, pipedIn: 3 },
];

describe("the API", () => {
  it("lists the nodes serving a spanning room with their role, participants and pipes", async () => {
    expect((await get(`/v1/rooms/${SPAN}`)).mediaNodes).toEqual(SPAN_NODES);
    const list = await get("/v1/rooms");
    expect(list.rooms.map((r) => [r.name, r.mediaNodes.length])).toEqual([
      [SPAN, 3],
      [BRIDGED, 0],
    ]);
    expect(list.rooms[0]!.mediaNodes).toEqual(SPAN_NODES);
  });

  it("skips entries it cannot read and ignores fields it does not know", async () => {
    const nodes = keys.roomNodes(SPAN);
    const eu = JSON.parse((await redis.hget(nodes, EU))!) as Record<string, unknown>;
    await redis.hset(nodes, EU, JSON.stringify({ ...eu, future: { x: 1 }, note: "a later field" }));
    await redis.hset(nodes, "junk", "{not json");
    await redis.hset(nodes, "negative", JSON.stringify({ region: "x", participants: -1 }));
    await redis.hset(nodes, "huge", JSON.stringify({ region: "x", participants: 1, pad: "x".repeat(600) }));
    await redis.hset(nodes, "bad-pipes", JSON.stringify({ region: "x", participants: 1, pipes: "many" }));
    // What place_room writes for a node it named as a client's media node (includes/cascade_serving.lua).
    await redis.hset(nodes, "named", JSON.stringify({ region: "x", participants: 1, reserved: Date.now() }));
    try {
      expect((await get(`/v1/rooms/${SPAN}`)).mediaNodes).toEqual([
        SPAN_NODES[0],
        { node: "bad-pipes", role: "edge", region: "x", participants: 1 }, // pipes unknown, not junk
        ...SPAN_NODES.slice(1),
        { node: "named", role: "edge", region: "x", participants: 1, reserved: true },
      ]);
    } finally {
      await redis.hdel(nodes, "junk", "negative", "huge", "bad-pipes", "named");
    }
  });
});

describe("the dashboard", () => {
  let page: Page;
  let console: string[];

  beforeAll(async () => {
    ({ page, console } = await openPage(browser, `${cluster.workerUrl}/dashboard#token=${token}`));
    await page.setViewportSize({ width: 1280, height: 1400 });
    await waitFor(
      () => page.evaluate(() => (globalThis as unknown as { meridianDashboard: DashboardState }).meridianDashboard),
      (s) => s.nodes.length === 3 && s.rooms.some((r) => r.name === SPAN && r.mediaNodes.length === 3),
      "a poll with the spanning room",
      20_000,
    ).catch((e) => {
      throw new Error(`${e}\n${console.join("\n")}`);
    });
    // One more poll after the resize, so the map is drawn at this width.
    const polls = await page.evaluate(
      () => (globalThis as unknown as { meridianDashboard: DashboardState }).meridianDashboard.polls,
    );
    await waitFor(
      () =>
        page.evaluate(() => (globalThis as unknown as { meridianDashboard: DashboardState }).meridianDashboard.polls),
      (n) => n > polls,
      "another poll",
      10_000,
    );
  });

  const table = (id: string) =>
    page.evaluate(
      (id) =>
        [...document.querySelectorAll(`#${id} tbody tr`)].map((tr) => [...tr.children].map((td) => td.textContent)),
      id,
    );

  it("draws a line from each edge to the origin, and the bridged room's signal line apart", async () => {
    const lines = await page.evaluate(() =>
      [...document.querySelectorAll<SVGGElement>("#map-rooms .room")].map((g) => {
        const room = g.getAttribute("data-room");
        const from = g.getAttribute("data-from");
        const label = [...document.querySelectorAll(`#map-labels text[data-room="${room}"]`)].map((t) => ({
          text: t.textContent,
          cls: t.getAttribute("class"),
        }));
        return {
          cls: g.getAttribute("class"),
          room,
          from,
          to: g.getAttribute("data-to"),
          arrow: g.querySelector("path")!.hasAttribute("marker-end"),
          title: g.querySelector("title")!.textContent,
          labels: label,
        };
      }),
    );
    const pipes = lines.filter((l) => l.cls === "room pipe");
    expect(pipes.map((l) => [l.room, l.from, l.to, l.arrow])).toEqual([
      [SPAN, EU, EAST, false],
      [SPAN, WEST, EAST, false],
    ]);
    expect(pipes[0]!.labels).toEqual([
      { text: `${SPAN} · 1`, cls: "pipe" },
      { text: `${SPAN} · 1`, cls: "pipe" },
    ]);
    expect(pipes[1]!.title).toBe(
      `room ${SPAN} spans nodes: ${WEST} (edge, us-west-2: 1 participant, 1 pipe, 3 tracks piped in) ↔ ` +
        `${EAST} (origin, us-east: 2 participants, 2 pipes, 2 tracks piped in)`,
    );
    const signal = lines.filter((l) => l.cls === "room signal");
    expect(signal.map((l) => [l.room, l.from, l.to, l.arrow])).toEqual([[BRIDGED, WEST, EAST, true]]);
  });

  it("the pipe lines are teal on screen", async () => {
    const at = await page.evaluate(() =>
      [...document.querySelectorAll<SVGPathElement>("#map-rooms .room.pipe path")].map((p) => {
        const box = document.getElementById("map")!.getBoundingClientRect();
        // near the edge's end of the curve: off the label and the other lines
        const q = p.getPointAtLength(p.getTotalLength() * 0.1);
        return { x: box.x + q.x, y: box.y + q.y };
      }),
    );
    expect(at).toHaveLength(2);
    for (const p of at) {
      const png = await page.screenshot({
        clip: { x: Math.floor(p.x) - 1, y: Math.floor(p.y) - 1, width: 3, height: 3 },
      });
      const rgb = await pixelAtCentre(page, png);
      expect(Math.abs(rgb[0] - 0x3f) + Math.abs(rgb[1] - 0xd0) + Math.abs(rgb[2] - 0xc0)).toBeLessThan(90);
    }
  });

  it("lists each serving node of the spanning room with role, participants and pipes", async () => {
    expect(await table("spans")).toEqual([
      [SPAN, EAST, "origin", "us-east", "2", "2", "2"],
      [SPAN, EU, "edge", "eu-west", "1", "1", "3"],
      [SPAN, WEST, "edge", "us-west-2", "1", "1", "3"],
    ]);
    const head = await page.evaluate(() => [...document.querySelectorAll("#rooms thead th")].map((t) => t.textContent));
    const rooms = await table("rooms");
    const col = head.indexOf("media nodes");
    expect(rooms.map((r) => [r[0], r[col]])).toEqual([
      [SPAN, "3"],
      [BRIDGED, "1"],
    ]);
    expect(console.filter((l) => l.startsWith("pageerror"))).toEqual([]);
    // MERIDIAN_SCREENSHOTS=<dir> keeps the page to look at (as what-people-see.test.ts does).
    const dir = process.env.MERIDIAN_SCREENSHOTS;
    if (dir) await page.screenshot({ path: `${dir}/dashboard-cascade.png`, fullPage: true });
  });

  it("1000 rooms of 64 nodes each: the API pages them by bytes, the table stops at its cap", async () => {
    const ids = Array.from({ length: MAX_NODES_PER_ROOM }, (_, i) => `far-node-${i}`);
    const entry = JSON.stringify({ region: "far", participants: 3, pipes: 1, pipedIn: 12 });
    const batch = redis.multi();
    for (let i = 0; i < 1000; i++) {
      const name = `wide-${String(i).padStart(4, "0")}`;
      batch.hset(keys.room(name), { name, node: ids[0]!, region: "far", createdAt: String(2e12 + i) });
      batch.zadd(keys.rooms(), 2e12 + i, name);
      batch.hset(keys.roomNodes(name), Object.fromEntries(ids.map((id) => [id, entry])));
    }
    await batch.exec();
    // Every page holds at most 1 MiB of records and entries: fewer than 1000 rooms here.
    let cursor: string | null = null;
    const sizes: number[] = [];
    let wide = 0;
    for (let i = 0; i < 20 && (i === 0 || cursor !== null); i++) {
      const page: { rooms: Room[]; nextCursor: string | null } = await get(
        `/v1/rooms?limit=1000${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`,
      );
      sizes.push(page.rooms.length);
      for (const r of page.rooms.filter((r) => r.name.startsWith("wide-"))) {
        expect(r.mediaNodes).toHaveLength(MAX_NODES_PER_ROOM);
        expect(r.mediaNodes[0]).toEqual({
          node: ids[0],
          role: "origin",
          region: "far",
          participants: 3,
          pipes: 1,
          pipedIn: 12,
        });
        wide++;
      }
      cursor = page.nextCursor;
    }
    expect(cursor).toBeNull();
    expect(wide).toBe(1000);
    expect(sizes.length).toBeGreaterThan(1);
    expect(Math.max(...sizes)).toBeLessThan(1000);
    // A room listing more than 64 nodes (not written by nodes) is cut to 64.
    await redis.hset(keys.roomNodes("wide-0000"), "far-node-extra", entry);
    expect((await get("/v1/rooms/wide-0000")).mediaNodes).toHaveLength(MAX_NODES_PER_ROOM);

    const rows = await waitFor(
      () => table("spans"),
      (r) => r.length === MAX_SPAN_ROWS + 1,
      "the capped table",
      20_000,
    );
    expect(rows.slice(0, 3).map((r) => r[0])).toEqual([SPAN, SPAN, SPAN]);
    expect(rows[MAX_SPAN_ROWS]![0]).toMatch(/^… \d+ more nodes$/);
    expect(console.filter((l) => l.startsWith("pageerror"))).toEqual([]);
  });
});

/** The RGB of a 3×3 screenshot's centre pixel, decoded in a blank page (the dashboard's CSP would
 * refuse the data: URL). */
async function pixelAtCentre(page: Page, png: Buffer): Promise<[number, number, number]> {
  const blank = await page.context().newPage();
  try {
    return await blank.evaluate(async (b64) => {
      const img = await createImageBitmap(await (await fetch(`data:image/png;base64,${b64}`)).blob());
      const canvas = new OffscreenCanvas(img.width, img.height);
      const ctx = canvas.getContext("2d")!;
      ctx.drawImage(img, 0, 0);
      return [...ctx.getImageData(1, 1, 1, 1).data.slice(0, 3)] as [number, number, number];
    }, png.toString("base64"));
  } finally {
    await blank.close();
  }
}
