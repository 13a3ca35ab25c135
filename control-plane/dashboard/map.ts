// The dashboard map's geometry, pure (no DOM): where regions, node cards, load bars and room lines
// go on a pixel canvas. Shared by the browser script (client.ts) and the tests, which recompute
// positions from the API's data and compare them with what the page drew.
//
// Projection: equirectangular, in "outline units" of 1/10 degree — x = (lon + 180) * 10,
// y = (90 - lat) * 10 — the units of the world outline path (outline.ts). A viewport maps outline
// units to pixels (translate + uniform scale), fitted around the configured regions.

export const UNITS_PER_DEGREE = 10;
/** The outline's extent in outline units (the whole world). */
export const WORLD = { width: 360 * UNITS_PER_DEGREE, height: 180 * UNITS_PER_DEGREE };

export interface Point {
  x: number;
  y: number;
}
export interface Rect extends Point {
  w: number;
  h: number;
}

export function project(lat: number, lon: number): Point {
  return { x: (lon + 180) * UNITS_PER_DEGREE, y: (90 - lat) * UNITS_PER_DEGREE };
}

/** Outline units → pixels: px = (u - x0) * scale. */
export interface Viewport {
  x0: number;
  y0: number;
  scale: number;
  width: number;
  height: number;
}

export const toPixels = (v: Viewport, p: Point): Point => ({ x: (p.x - v.x0) * v.scale, y: (p.y - v.y0) * v.scale });

/** The SVG transform drawing the outline (in outline units) into the viewport. */
export const outlineTransform = (v: Viewport): string =>
  `scale(${round(v.scale, 5)}) translate(${round(-v.x0, 2)} ${round(-v.y0, 2)})`;

/** At least this much of the world is shown (degrees of longitude), so a one-region cluster still
 * shows its continent. */
export const MIN_SPAN_DEGREES = 90;
/** Room around the regions' bounding box, degrees (the node cards hang below the region dots). */
const PAD_DEGREES = { x: 25, top: 15, bottom: 30 };

/** The viewport showing every region with some margin, at the canvas' aspect ratio, inside the
 * world where possible. No regions: the whole world. */
export function fitViewport(points: readonly { lat: number; lon: number }[], width: number, height: number): Viewport {
  let x0 = 0;
  let y0 = 0;
  let w = WORLD.width;
  let h = WORLD.height;
  if (points.length > 0) {
    const ps = points.map((p) => project(p.lat, p.lon));
    const u = UNITS_PER_DEGREE;
    const minX = Math.min(...ps.map((p) => p.x)) - PAD_DEGREES.x * u;
    const maxX = Math.max(...ps.map((p) => p.x)) + PAD_DEGREES.x * u;
    const minY = Math.min(...ps.map((p) => p.y)) - PAD_DEGREES.top * u;
    const maxY = Math.max(...ps.map((p) => p.y)) + PAD_DEGREES.bottom * u;
    w = Math.max(maxX - minX, MIN_SPAN_DEGREES * u);
    h = maxY - minY;
    // Grow the short side to the canvas' aspect ratio, around the box's centre.
    if (w / h > width / height) h = (w * height) / width;
    else w = (h * width) / height;
    x0 = (minX + maxX) / 2 - w / 2;
    y0 = (minY + maxY) / 2 - h / 2;
    // Slide back inside the world when the box pokes out (a whole-world box stays centred).
    x0 = w >= WORLD.width ? (WORLD.width - w) / 2 : Math.min(Math.max(x0, 0), WORLD.width - w);
    y0 = h >= WORLD.height ? (WORLD.height - h) / 2 : Math.min(Math.max(y0, 0), WORLD.height - h);
  }
  const scale = Math.min(width / w, height / h);
  // Centre the world in the canvas when it is the limiting side.
  return { x0: x0 - (width / scale - w) / 2, y0: y0 - (height / scale - h) / 2, scale, width, height };
}

// ---- node cards -------------------------------------------------------------------------------

export const CARD = { w: 196, h: 50, gap: 6, bar: { x: 52, w: 104, h: 7 } };

/** What a node card shows; from /v1/nodes. */
export interface NodeLoad {
  sysload: number;
  clients: number;
}

/** Width of the sysload bar: full at sysload 1 (the machine's CPUs all busy on average). */
export const sysloadBarWidth = (sysload: number): number => CARD.bar.w * clamp01(sysload);

/** Width of the clients bar: full for the busiest node of the cluster (at least one client). */
export const clientsBarWidth = (clients: number, busiest: number): number =>
  CARD.bar.w * clamp01(clients / Math.max(1, busiest));

/** Where each region's stack of node cards goes: below its dot if that is free, else above,
 * right or left — the first spot that overlaps neither another stack nor a region dot and stays on
 * the canvas; with none free, the one overlapping least. Regions in the order given. */
export function layoutCards(
  regions: readonly { name: string; at: Point; nodes: readonly string[] }[],
  width: number,
  height: number,
): Map<string, Rect> {
  const out = new Map<string, Rect>();
  const dots: Rect[] = regions.map((r) => ({ x: r.at.x - 8, y: r.at.y - 8, w: 16, h: 16 }));
  const taken: Rect[] = [];
  for (const r of regions) {
    if (r.nodes.length === 0) continue;
    const sw = CARD.w;
    const sh = r.nodes.length * CARD.h + (r.nodes.length - 1) * CARD.gap;
    const { x, y } = r.at;
    const options: Rect[] = [
      { x: x - sw / 2, y: y + 22, w: sw, h: sh }, // below (the region's label sits just under the dot)
      { x: x - sw / 2, y: y - 14 - sh, w: sw, h: sh }, // above
      { x: x + 14, y: y - sh / 2, w: sw, h: sh }, // right
      { x: x - 14 - sw, y: y - sh / 2, w: sw, h: sh }, // left
    ];
    const canvas = { x: 0, y: 0, w: width, h: height };
    const cost = (o: Rect) =>
      [...taken, ...dots].reduce((s, t) => s + overlap(o, t), 0) + (o.w * o.h - overlap(o, canvas)); // off-canvas area counts too
    let best = options[0]!;
    let bestCost = Number.POSITIVE_INFINITY;
    for (const o of options) {
      const c = Math.round(cost(o)); // px²; rounding absorbs float noise
      if (c < bestCost) [best, bestCost] = [o, c];
      if (c === 0) break;
    }
    taken.push(best);
    for (const [i, id] of r.nodes.entries())
      out.set(id, { x: best.x, y: best.y + i * (CARD.h + CARD.gap), w: CARD.w, h: CARD.h });
  }
  return out;
}

// ---- rooms --------------------------------------------------------------------------------------

/** A room as the map draws it (rooms.ts roomShape): its hosting node (the origin of a room that
 * spans nodes), the nodes whose signaling is bridged to it, each with the participants signaling
 * there, and the edges serving the room's media elsewhere, each with the participants it serves. */
export interface RoomShape {
  name: string;
  host: string;
  nodes: readonly { node: string; participants: number }[];
  /** Edges of a room that spans nodes (cascade): each is linked to the host by a pipe. */
  edges?: readonly { node: string; participants: number }[];
}

export interface RoomLine {
  room: string;
  /** signal: participants' signaling bridged from `from` to the host; pipe: a cascade link from
   * the edge `from` to the origin `to`, participants = those whose media the edge serves. */
  kind: "signal" | "pipe";
  from: string;
  to: string;
  participants: number;
  /** SVG path (a quadratic curve) between the two cards' facing edges. */
  d: string;
  /** The room's label ("name · participants") and where its baseline's middle goes: on the curve,
   * nearer the signal node where that is free of other labels and the cards, else further along. */
  text: string;
  label: Point;
}

/** Room labels are 11 px text: about this wide per character, and this tall. */
const LABEL = { charWidth: 6.2, height: 13 };
/** Where along a room's curve its label may go, in order of preference. */
const LABEL_SPOTS = [0.4, 0.6, 0.25, 0.75, 0.5];

/** Long ids are cut; the full one is in the tooltip. */
export const short = (s: string, max: number): string => (s.length > max ? `${s.slice(0, max - 1)}…` : s);

/** One line per (room, signal node ≠ host) and per (room, edge) whose two nodes both have a card.
 * Lines between the same pair of nodes bend by different amounts so they stay apart. */
export function roomLines(rooms: readonly RoomShape[], cards: ReadonlyMap<string, Rect>): RoomLine[] {
  const perPair = new Map<string, number>();
  const out: RoomLine[] = [];
  const taken: Rect[] = [...cards.values()];
  const labelBox = (p: Point, text: string): Rect => {
    const w = text.length * LABEL.charWidth;
    return { x: p.x - w / 2, y: p.y - LABEL.height, w, h: LABEL.height };
  };
  for (const room of rooms) {
    const to = cards.get(room.host);
    if (!to) continue;
    const ends = [
      ...room.nodes.map((n) => ({ ...n, kind: "signal" as const })),
      ...(room.edges ?? []).map((n) => ({ ...n, kind: "pipe" as const })),
    ];
    for (const n of ends) {
      const from = cards.get(n.node);
      if (n.node === room.host || !from) continue;
      const pair = [n.node, room.host].sort().join("\u0000");
      const k = perPair.get(pair) ?? 0;
      perPair.set(pair, k + 1);
      const a = edgeToward(from, center(to));
      const b = edgeToward(to, center(from));
      // Control point: off the chord's midpoint along its normal, alternating sides, growing.
      const dx = b.x - a.x;
      const dy = b.y - a.y;
      const len = Math.hypot(dx, dy) || 1;
      // Sides are counted in one direction per pair, so A→B and B→A lines part too.
      const side = (k % 2 === 0 ? 1 : -1) * (n.node < room.host ? 1 : -1);
      const bend = (0.18 * len + 10 * k) * side;
      const c = { x: (a.x + b.x) / 2 - (dy / len) * bend, y: (a.y + b.y) / 2 + (dx / len) * bend };
      const text = `${short(room.name, 20)} · ${n.participants}`;
      const spots = LABEL_SPOTS.map((t) => along(a, c, b, t));
      const clash = (p: Point) => taken.reduce((sum, r) => sum + overlap(labelBox(p, text), r), 0);
      const label = spots.reduce((best, p) => (clash(p) < clash(best) ? p : best)); // the first free spot, else the least covered
      taken.push(labelBox(label, text));
      out.push({
        room: room.name,
        kind: n.kind,
        from: n.node,
        to: room.host,
        participants: n.participants,
        d: `M${r1(a.x)} ${r1(a.y)}Q${r1(c.x)} ${r1(c.y)} ${r1(b.x)} ${r1(b.y)}`,
        text,
        label,
      });
    }
  }
  return out;
}

// ---- helpers ------------------------------------------------------------------------------------

export const center = (r: Rect): Point => ({ x: r.x + r.w / 2, y: r.y + r.h / 2 });

/** Where the segment from the rect's centre toward `p` leaves the rect. */
export function edgeToward(r: Rect, p: Point): Point {
  const c = center(r);
  const dx = p.x - c.x;
  const dy = p.y - c.y;
  if (dx === 0 && dy === 0) return c;
  const t = Math.min(dx === 0 ? Infinity : r.w / 2 / Math.abs(dx), dy === 0 ? Infinity : r.h / 2 / Math.abs(dy));
  return { x: c.x + dx * t, y: c.y + dy * t };
}

/** The point at t (0..1) on the quadratic curve a → b with control point c. */
function along(a: Point, c: Point, b: Point, t: number): Point {
  const u = 1 - t;
  return { x: u * u * a.x + 2 * u * t * c.x + t * t * b.x, y: u * u * a.y + 2 * u * t * c.y + t * t * b.y };
}

function overlap(a: Rect, b: Rect): number {
  const w = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
  return w > 0 && h > 0 ? w * h : 0;
}

const clamp01 = (x: number) => (Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : 0);
const round = (x: number, d: number) => Number(x.toFixed(d));
const r1 = (x: number) => round(x, 1);
