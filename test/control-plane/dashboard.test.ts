// The dashboard's build output and map geometry (pure; what the page draws with them is checked in
// Chromium by test/e2e/what-people-see.test.ts).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ASSETS_FILE, assetsModule } from "../../control-plane/dashboard/build.ts";
import {
  CARD,
  WORLD,
  clientsBarWidth,
  fitViewport,
  layoutCards,
  project,
  roomLines,
  sysloadBarWidth,
  toPixels,
  type Rect,
} from "../../control-plane/dashboard/map.ts";
import { MAX_SPAN_ROWS, roomShape, spanRows } from "../../control-plane/dashboard/rooms.ts";
import { WORLD_OUTLINE } from "../../control-plane/src/dashboard-assets.generated.ts";

/** Shoelace area of every ring of an "M x y l dx dy … z" path, in outline units². */
function ringAreas(path: string): number[] {
  return path
    .split("z")
    .filter((r) => r.trim())
    .map((ring) => {
      const nums = ring.replace(/[Ml]/g, " ").replace(/-/g, " -").trim().split(/\s+/).map(Number);
      let x = nums[0]!;
      let y = nums[1]!;
      const pts = [[x, y]];
      for (let i = 2; i + 1 < nums.length; i += 2) pts.push([(x += nums[i]!), (y += nums[i + 1]!)]);
      let a = 0;
      for (let i = 0; i < pts.length; i++) {
        const [x1, y1] = pts[i]!;
        const [x2, y2] = pts[(i + 1) % pts.length]!;
        a += x1! * y2! - x2! * y1!;
      }
      return a / 2;
    });
}

const overlaps = (a: Rect, b: Rect) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;

describe("dashboard assets", () => {
  it("the committed dashboard-assets.generated.ts is what build.ts makes from the sources (else: npm run build:dashboard)", async () => {
    expect(readFileSync(ASSETS_FILE, "utf8") === (await assetsModule())).toBe(true);
  });

  it("the world outline is small and covers a plausible share of the map with land", () => {
    expect(WORLD_OUTLINE.length).toBeLessThan(30_000);
    const areas = ringAreas(WORLD_OUTLINE);
    expect(areas.length).toBeGreaterThan(100); // continents and the larger islands
    // Land is ~29 % of the globe; the equirectangular map stretches the poles (Antarctica spans
    // the whole bottom edge), so its share of the rectangle is larger.
    const share = Math.abs(areas.reduce((s, a) => s + a, 0)) / (WORLD.width * WORLD.height);
    expect(share).toBeGreaterThan(0.25);
    expect(share).toBeLessThan(0.45);
  });
});

describe("map geometry", () => {
  const US = [
    { name: "us-west-2", lat: 37.64, lon: -120.88 },
    { name: "us-east", lat: 40.69, lon: -74.04 },
  ];

  it("projects equirectangularly in tenths of a degree", () => {
    expect(project(0, 0)).toEqual({ x: 1800, y: 900 });
    expect(project(90, -180)).toEqual({ x: 0, y: 0 });
    expect(project(-90, 180)).toEqual({ x: 3600, y: 1800 });
  });

  it("fits the regions into the canvas with room for the cards, at one scale for x and y", () => {
    const v = fitViewport(US, 1000, 500);
    const [w, e] = US.map((r) => toPixels(v, project(r.lat, r.lon)));
    for (const p of [w!, e!]) {
      expect(p.x).toBeGreaterThan(100);
      expect(p.x).toBeLessThan(900);
      expect(p.y).toBeGreaterThan(50);
      expect(p.y).toBeLessThan(500 - CARD.h * 2);
    }
    // 46.8 degrees apart in longitude, 3.05 in latitude: the same pixels per degree both ways.
    expect((e!.x - w!.x) / 46.84).toBeCloseTo((w!.y - e!.y) / 3.05, 0);
    // No regions: the whole world.
    const all = fitViewport([], 1000, 500);
    expect(toPixels(all, { x: 0, y: 0 })).toEqual({ x: 0, y: 0 });
    expect(toPixels(all, { x: WORLD.width, y: WORLD.height })).toEqual({ x: 1000, y: 500 });
  });

  it("places node cards without overlaps, even for regions close together", () => {
    const regions = [
      { name: "a", at: { x: 300, y: 200 }, nodes: ["a1", "a2"] },
      { name: "b", at: { x: 340, y: 210 }, nodes: ["b1"] },
      { name: "c", at: { x: 900, y: 450 }, nodes: ["c1"] },
    ];
    const cards = layoutCards(regions, 1000, 500);
    expect([...cards.keys()].sort()).toEqual(["a1", "a2", "b1", "c1"]);
    const rects = [...cards.values()];
    for (const [i, r] of rects.entries()) {
      for (const o of rects.slice(i + 1)) expect(overlaps(r, o)).toBe(false);
      expect(r.x).toBeGreaterThanOrEqual(0);
      expect(r.x + r.w).toBeLessThanOrEqual(1000);
      expect(r.y + r.h).toBeLessThanOrEqual(500);
    }
  });

  /** Three cards in a row, named as given. */
  const row = (...ids: string[]) =>
    new Map(ids.map((id, i): [string, Rect] => [id, { x: i * 400, y: 100, w: CARD.w, h: CARD.h }]));

  it("draws a line per room and node other than the host, for any number of nodes per room", () => {
    const cards = row("n1", "n2", "n3");
    const lines = roomLines(
      [
        { name: "local", host: "n1", nodes: [{ node: "n1", participants: 3 }] },
        {
          name: "bridged",
          host: "n2",
          nodes: [
            { node: "n1", participants: 1 },
            { node: "n2", participants: 2 },
          ],
        },
        // Several nodes per room (a room spanning nodes): one line from each to the host.
        {
          name: "spread",
          host: "n2",
          nodes: [
            { node: "n1", participants: 1 },
            { node: "n3", participants: 4 },
          ],
        },
        { name: "unknown host", host: "gone", nodes: [{ node: "n1", participants: 1 }] },
      ],
      cards,
    );
    expect(lines.map((l) => [l.room, l.from, l.to, l.participants])).toEqual([
      ["bridged", "n1", "n2", 1],
      ["spread", "n1", "n2", 1],
      ["spread", "n3", "n2", 4],
    ]);
    // Two rooms between n1 and n2 bend to different sides.
    const controlY = (d: string) => Number(/Q[\d.-]+ ([\d.-]+)/.exec(d)![1]);
    expect(Math.sign(controlY(lines[0]!.d) - 125)).toBe(-Math.sign(controlY(lines[1]!.d) - 125));
    // Labels say room and participants, and two labels never share a spot.
    expect(lines.map((l) => l.text)).toEqual(["bridged · 1", "spread · 1", "spread · 4"]);
    for (const [i, a] of lines.entries())
      for (const b of lines.slice(i + 1))
        expect(Math.hypot(a.label.x - b.label.x, a.label.y - b.label.y)).toBeGreaterThan(12);
  });

  it("draws a room that spans nodes as one pipe line per edge to the origin, apart from the signal lines", () => {
    const cards = row("origin", "west", "eu");
    const lines = roomLines(
      [
        { name: "bridged", host: "origin", nodes: [{ node: "west", participants: 1 }] },
        {
          name: "spread",
          host: "origin",
          nodes: [],
          edges: [
            { node: "west", participants: 2 },
            { node: "eu", participants: 5 },
            { node: "nowhere", participants: 1 }, // no card (unconfigured region): no line
          ],
        },
      ],
      cards,
    );
    expect(lines.map((l) => [l.room, l.kind, l.from, l.to, l.text])).toEqual([
      ["bridged", "signal", "west", "origin", "bridged · 1"],
      ["spread", "pipe", "west", "origin", "spread · 2"],
      ["spread", "pipe", "eu", "origin", "spread · 5"],
    ]);
    // The pipe and the signal line between the same two nodes bend apart.
    expect(lines[0]!.d).not.toBe(lines[1]!.d);
  });

  it("scales load bars: sysload 1 and the busiest node fill the bar", () => {
    expect(sysloadBarWidth(0.5)).toBe(CARD.bar.w / 2);
    expect(sysloadBarWidth(3)).toBe(CARD.bar.w);
    expect(sysloadBarWidth(Number.NaN)).toBe(0);
    expect(clientsBarWidth(2, 8)).toBe(CARD.bar.w / 4);
    expect(clientsBarWidth(0, 0)).toBe(0);
  });
});

describe("rooms that span nodes", () => {
  type Media = {
    node: string;
    role: "origin" | "edge";
    region: string;
    participants: number;
    pipes?: number;
    pipedIn?: number;
    reserved?: true;
  };
  const room = (name: string, node: string, mediaNodes: Media[], signalNodes = [{ node, participants: 1 }]) => ({
    name,
    node,
    region: "us-east",
    createdAt: 0,
    emptyTimeout: 300,
    maxParticipants: 0,
    metadata: "",
    numParticipants: 1,
    signalNodes,
    mediaNodes,
  });
  const origin: Media = { node: "east", role: "origin", region: "us-east", participants: 2, pipes: 2, pipedIn: 3 };
  const west: Media = { node: "west", role: "edge", region: "us-west-2", participants: 1, pipes: 1, pipedIn: 2 };
  const eu: Media = { node: "eu", role: "edge", region: "eu-west", participants: 4 }; // pipes not reported yet
  const reserved: Media = { node: "ap", role: "edge", region: "ap", participants: 1, reserved: true };

  it("a room on one node keeps its signal lines; a spanning room draws its edges instead", () => {
    const bridged = [
      { node: "east", participants: 1 },
      { node: "west", participants: 1 },
    ];
    expect(roomShape(room("one", "east", [], bridged))).toEqual({ name: "one", host: "east", nodes: bridged });
    // cascade on, but the room never left its origin: still one node
    expect(roomShape(room("one", "east", [origin], bridged)).nodes).toEqual(bridged);
    // a node named by a join but not serving yet has no link: no line
    expect(roomShape(room("three", "east", [origin, west, eu, reserved], bridged))).toEqual({
      name: "three",
      host: "east",
      nodes: [],
      edges: [
        { node: "west", participants: 1 },
        { node: "eu", participants: 4 },
      ],
    });
  });

  it("lists each serving node of a spanning room, the origin first, and is bounded", () => {
    const { rows, more } = spanRows([
      room("one", "east", [origin]),
      room("three", "east", [west, origin, eu, reserved]),
    ]);
    expect(more).toBe(0);
    expect(rows.map((r) => [r.room, r.node, r.role, r.region, r.participants, r.pipes, r.pipedIn])).toEqual([
      ["three", "east", "origin", "us-east", 2, 2, 3],
      ["three", "west", "edge", "us-west-2", 1, 1, 2],
      ["three", "eu", "edge", "eu-west", 4, undefined, undefined],
      ["three", "ap", "edge (reserved)", "ap", 1, undefined, undefined],
    ]);
    // 1000 rooms of 64 nodes each: MAX_SPAN_ROWS rows, the rest counted.
    const edges = Array.from({ length: 63 }, (_, i): Media => ({ ...west, node: `edge-${i}` }));
    const big = Array.from({ length: 1000 }, (_, i) => room(`r${i}`, "east", [origin, ...edges]));
    const capped = spanRows(big);
    expect(capped.rows).toHaveLength(MAX_SPAN_ROWS);
    expect(capped.more).toBe(64_000 - MAX_SPAN_ROWS);
  });
});
