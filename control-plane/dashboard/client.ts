// The dashboard page's script (bundled into control-plane/src/dashboard-assets.generated.ts by
// build.ts; the Worker serves it as /dashboard.js). Reads an admin token (roomList) from the URL
// fragment `#token=…` (never sent to a server), keeps it in sessionStorage, polls the API every
// 2 s and draws the cluster: a map (regions on the world outline, node cards with load bars, room
// lines from signal nodes to the hosting node and from a spanning room's edges to its origin) and
// four tables. Untrusted strings reach the DOM
// only as text nodes and attribute values. State is on `window.meridianDashboard` for tests.
import type { z } from "@hono/zod-openapi";
import type { NodeList, RegionList, RoomList } from "../src/schemas.ts";
import {
  CARD,
  clientsBarWidth,
  fitViewport,
  layoutCards,
  outlineTransform,
  project,
  roomLines,
  short,
  sysloadBarWidth,
  toPixels,
  type Rect,
  type RoomLine,
  type Viewport,
} from "./map.ts";
import { roomShape, spanOf, spanRows } from "./rooms.ts";

type Region = z.infer<typeof RegionList>["regions"][number];
type Node = z.infer<typeof NodeList>["nodes"][number];
type Room = z.infer<typeof RoomList>["rooms"][number];

export const POLL_MS = 2000;
const KEY = "meridian.dashboard.token";
const SVG = "http://www.w3.org/2000/svg";

export interface DashboardState {
  polls: number;
  errors: number;
  lastError: string | undefined;
  regions: Region[];
  nodes: Node[];
  rooms: Room[];
  /** What the last render drew, in pixels of the map (tests compare it with the page). */
  viewport: Viewport | undefined;
}

const state: DashboardState = {
  polls: 0,
  errors: 0,
  lastError: undefined,
  regions: [],
  nodes: [],
  rooms: [],
  viewport: undefined,
};
(globalThis as unknown as { meridianDashboard: DashboardState }).meridianDashboard = state;

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

const fragment = /(?:^|[#&])token=([^&]+)/.exec(location.hash);
if (fragment) {
  sessionStorage.setItem(KEY, decodeURIComponent(fragment[1]!));
  history.replaceState(null, "", location.pathname + location.search); // keep the token out of the address bar
}

// ---- formatting ---------------------------------------------------------------------------------

const age = (ms: number) => {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`;
};
const fixed = (x: unknown, d: number) => (typeof x === "number" ? x.toFixed(d) : "");
const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? "" : "s"}`;

// ---- the API ------------------------------------------------------------------------------------

class ApiFailure extends Error {
  readonly status: number;
  constructor(message: string, status: number) {
    super(message);
    this.status = status;
  }
}

async function api<T>(path: string, token: string): Promise<T> {
  const res = await fetch(path, { headers: { authorization: `Bearer ${token}` }, cache: "no-store" });
  const body = (await res.json().catch(() => ({}))) as { error?: { message?: string } };
  if (!res.ok) throw new ApiFailure(body.error?.message ?? res.statusText, res.status);
  return body as T;
}

/** Rooms shown at most: pages of GET /v1/rooms followed (each up to 1000 rooms). */
export const MAX_ROOM_PAGES = 5;

/** Every room, page by page, up to MAX_ROOM_PAGES; `more` when rooms were left out. */
async function listRooms(token: string): Promise<{ rooms: Room[]; more: boolean }> {
  const rooms: Room[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < MAX_ROOM_PAGES; i++) {
    const q: string = cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`;
    const page: z.infer<typeof RoomList> = await api(`/v1/rooms?limit=1000${q}`, token);
    rooms.push(...page.rooms);
    cursor = page.nextCursor;
    if (cursor === null) break;
  }
  return { rooms, more: cursor !== null };
}

// ---- counts the tables and the map share ---------------------------------------------------------

/** Rooms placed on each node (room records), and participants signaling through each node. */
function countsByNode(rooms: Room[]): { hosted: Map<string, number>; signaling: Map<string, number> } {
  const hosted = new Map<string, number>();
  const signaling = new Map<string, number>();
  for (const r of rooms) {
    hosted.set(r.node, (hosted.get(r.node) ?? 0) + 1);
    for (const s of r.signalNodes) signaling.set(s.node, (signaling.get(s.node) ?? 0) + s.participants);
  }
  return { hosted, signaling };
}

// ---- tables -------------------------------------------------------------------------------------

const optional = (n: number | undefined) => (n === undefined ? "–" : n);

type Cell = string | number | { text: string | number; cls?: string; title?: string };

function fill(tableId: string, rows: Cell[][]): void {
  const body = $<HTMLTableElement>(tableId).tBodies[0]!;
  body.replaceChildren(
    ...rows.map((cells) => {
      const tr = document.createElement("tr");
      for (const c of cells) {
        const td = document.createElement("td");
        if (typeof c === "object") {
          td.textContent = String(c.text);
          if (c.cls) td.className = c.cls;
          if (c.title) td.title = c.title;
        } else td.textContent = String(c);
        tr.append(td);
      }
      return tr;
    }),
  );
}

function renderTables(regions: Region[], nodes: Node[], rooms: Room[], now: number): void {
  const { hosted, signaling } = countsByNode(rooms);
  fill(
    "regions",
    regions.map((r) => {
      const here = nodes.filter((n) => n.region === r.name);
      return [
        r.name,
        fixed(r.lat, 2),
        fixed(r.lon, 2),
        here.length,
        rooms.filter((x) => x.region === r.name).length,
        here.reduce((s, n) => s + n.stats.clients, 0),
      ];
    }),
  );
  fill(
    "nodes",
    nodes.map((n) => [
      { text: n.id, title: n.signalUrl },
      n.region,
      { text: n.state, cls: n.state },
      fixed(n.stats.sysload, 2),
      fixed(n.stats.cpuLoad, 2),
      hosted.get(n.id) ?? 0,
      n.stats.rooms,
      n.stats.clients,
      signaling.get(n.id) ?? 0,
      `${n.stats.tracksIn} / ${n.stats.tracksOut}`,
      n.reserved,
      age(now - n.startedAt),
      `${age(now - n.updatedAt)} ago`,
    ]),
  );
  fill(
    "rooms",
    rooms.map((r) => [
      r.name,
      r.node,
      r.region,
      r.numParticipants,
      r.signalNodes.map((s) => `${s.node} ×${s.participants}`).join(", "),
      Math.max(1, spanOf(r).length),
      age(now - r.createdAt),
    ]),
  );
  const spans = spanRows(rooms);
  fill("spans", [
    ...spans.rows.map((x) => [
      x.room,
      x.node,
      { text: x.role, cls: x.role.split(" ")[0] },
      x.region,
      x.participants,
      optional(x.pipes),
      optional(x.pipedIn),
    ]),
    ...(spans.more > 0 ? [[{ text: `… ${plural(spans.more, "more node")}`, cls: "note" }]] : []),
  ]);
}

// ---- the map ------------------------------------------------------------------------------------

function el<K extends keyof SVGElementTagNameMap>(
  name: K,
  attrs: Record<string, string | number>,
  text?: string,
): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

const r1 = (x: number) => Math.round(x * 10) / 10;

function nodeCard(n: Node, at: Rect, busiestClients: number, roomsHosted: number): SVGGElement {
  const g = el("g", { class: `node ${n.state}`, "data-node": n.id, transform: `translate(${r1(at.x)} ${r1(at.y)})` });
  g.append(el("title", {}, `${n.id} (${n.region}, ${n.state})\n${n.signalUrl}`));
  g.append(el("rect", { class: "card", width: at.w, height: at.h, rx: 4 }));
  g.append(el("circle", { class: "state", cx: 9, cy: 10, r: 3.5 }));
  g.append(el("text", { class: "id", x: 17, y: 14 }, short(n.id, 19)));
  g.append(el("text", { class: "hosted", x: at.w - 6, y: 14, "text-anchor": "end" }, plural(roomsHosted, "room")));
  const bar = (row: number, kind: string, label: string, width: number, value: string) => {
    const y = 22 + row * 13;
    g.append(el("text", { class: "label", x: 8, y: y + 7 }, label));
    g.append(el("rect", { class: "bar-bg", x: CARD.bar.x, y, width: CARD.bar.w, height: CARD.bar.h }));
    g.append(
      el("rect", { class: `bar ${kind}`, "data-bar": kind, x: CARD.bar.x, y, width: r1(width), height: CARD.bar.h }),
    );
    g.append(el("text", { class: "value", x: CARD.bar.x + CARD.bar.w + 6, y: y + 7 }, value));
  };
  bar(0, "sysload", "load", sysloadBarWidth(n.stats.sysload), fixed(n.stats.sysload, 2));
  bar(1, "clients", "clients", clientsBarWidth(n.stats.clients, busiestClients), String(n.stats.clients));
  return g;
}

function renderMap(regions: Region[], nodes: Node[], rooms: Room[]): void {
  const svg = $("map") as unknown as SVGSVGElement;
  const width = Math.max(320, Math.round(svg.parentElement!.clientWidth));
  const height = Math.round(Math.min(560, Math.max(300, width * 0.5)));
  svg.setAttribute("width", String(width));
  svg.setAttribute("height", String(height));
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const v = fitViewport(regions, width, height);
  state.viewport = v;
  $("land").setAttribute("transform", outlineTransform(v));

  const placed = regions.map((r) => ({ name: r.name, at: toPixels(v, project(r.lat, r.lon)) }));
  const cards = layoutCards(
    placed.map((r) => ({ ...r, nodes: nodes.filter((n) => n.region === r.name).map((n) => n.id) })),
    width,
    height,
  );
  const { hosted } = countsByNode(rooms);
  const busiest = Math.max(0, ...nodes.map((n) => n.stats.clients));

  $("map-regions").replaceChildren(
    ...placed.map((r) => {
      const g = el("g", { class: "region", "data-region": r.name });
      g.append(
        el("circle", { cx: r1(r.at.x), cy: r1(r.at.y), r: 6 }),
        el("text", { x: r1(r.at.x), y: r1(r.at.y + 18), "text-anchor": "middle" }, r.name),
      );
      return g;
    }),
  );
  $("map-nodes").replaceChildren(
    ...nodes.flatMap((n) => {
      const at = cards.get(n.id);
      return at ? [nodeCard(n, at, busiest, hosted.get(n.id) ?? 0)] : []; // a node of an unconfigured region has no place
    }),
  );
  const lines = roomLines(rooms.map(roomShape), cards);
  const byName = new Map(rooms.map((r) => [r.name, r]));
  $("map-rooms").replaceChildren(
    ...lines.map((l) => {
      const g = el("g", { class: `room ${l.kind}`, "data-room": l.room, "data-from": l.from, "data-to": l.to });
      g.append(el("title", {}, lineTitle(l, byName.get(l.room))));
      g.append(el("path", { d: l.d, ...(l.kind === "signal" ? { "marker-end": "url(#arrow)" } : {}) }));
      return g;
    }),
  );
  // Labels above the cards: a line between stacked cards has no free spot for its label.
  $("map-labels").replaceChildren(
    ...lines.map((l) =>
      el(
        "text",
        { class: l.kind, "data-room": l.room, x: r1(l.label.x), y: r1(l.label.y - 3), "text-anchor": "middle" },
        l.text,
      ),
    ),
  );
}

function lineTitle(l: RoomLine, room: Room | undefined): string {
  if (l.kind === "signal")
    return `room ${l.room}: ${plural(l.participants, "participant")} signaling on ${l.from}, hosted on ${l.to}`;
  const at = (node: string) => {
    const m = room?.mediaNodes.find((x) => x.node === node);
    if (!m) return node;
    const pipes =
      m.pipes === undefined ? "" : `, ${plural(m.pipes, "pipe")}, ${plural(m.pipedIn ?? 0, "track")} piped in`;
    return `${node} (${m.role}, ${m.region}: ${plural(m.participants, "participant")}${pipes})`;
  };
  return `room ${l.room} spans nodes: ${at(l.from)} ↔ ${at(l.to)}`;
}

// ---- polling ------------------------------------------------------------------------------------

async function poll(): Promise<void> {
  const token = sessionStorage.getItem(KEY);
  if (!token) {
    $("login").hidden = false;
    $("status").textContent = "no token: open the URL the launcher printed (…/dashboard#token=…) or paste one";
    return;
  }
  try {
    const [g, n, r] = await Promise.all([
      api<z.infer<typeof RegionList>>("/v1/regions", token),
      api<z.infer<typeof NodeList>>("/v1/nodes", token),
      listRooms(token),
    ]);
    state.polls++;
    state.regions = g.regions;
    state.nodes = n.nodes.sort((a, b) => (a.region + a.id).localeCompare(b.region + b.id));
    state.rooms = r.rooms;
    render();
    $("status").className = "";
    const roomCount = `${r.more ? "the first " : ""}${plural(r.rooms.length, "room")}`;
    $("status").textContent =
      `${plural(n.nodes.length, "node")}, ${roomCount} · updated ${new Date().toLocaleTimeString()}`;
  } catch (e) {
    state.errors++;
    state.lastError = String((e as Error).message);
    $("status").className = "err";
    $("status").textContent = `error: ${state.lastError}`;
    if (e instanceof ApiFailure && (e.status === 401 || e.status === 403)) $("login").hidden = false;
  }
}

function render(): void {
  renderMap(state.regions, state.nodes, state.rooms);
  renderTables(state.regions, state.nodes, state.rooms, Date.now());
}

$("login").addEventListener("submit", (ev) => {
  ev.preventDefault();
  sessionStorage.setItem(KEY, $<HTMLInputElement>("token").value.trim());
  $<HTMLInputElement>("token").value = "";
  $("login").hidden = true;
  void poll();
});
addEventListener("resize", () => {
  if (state.polls > 0) render();
});
void poll();
setInterval(() => void poll(), POLL_MS);
