// GET /dashboard: a static live view of the cluster — a map (regions on a world outline, node
// cards with load bars, rooms as lines from signal nodes to their hosting node, and rooms that span
// nodes as lines from each edge to the origin) and tables of regions, nodes, rooms and the serving
// nodes of rooms that span nodes. The page holds no data and no secret: its script (/dashboard.js,
// built from control-plane/dashboard/ into dashboard-assets.generated.ts) reads an admin token
// (roomList) from the URL fragment and polls the API. All data goes into the DOM as text.
import { Hono } from "hono";
import { FAVICON_DATA_URL } from "#shared/favicon.ts";
import { DASHBOARD_SCRIPT, WORLD_OUTLINE } from "./dashboard-assets.generated.ts";
import type { Env } from "./env.ts";

const th = (text: string, title?: string) => (title ? `<th title="${title}">${text}</th>` : `<th>${text}</th>`);

const HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Meridian cluster</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="${FAVICON_DATA_URL}">
<style>
  body { font: 13px system-ui, sans-serif; margin: 1rem 1.5rem; background: #111; color: #eee; }
  h1 { font-size: 1.4rem; margin: 0 0 .25rem; } h2 { font-size: 1.1rem; margin: 1.25rem 0 .4rem; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .2rem .5rem; border-bottom: 1px solid #333; white-space: nowrap; }
  th { color: #aaa; font-weight: 600; } th[title] { text-decoration: underline dotted #666; cursor: help; }
  td:nth-child(n+2) { font-variant-numeric: tabular-nums; }
  .SERVING { color: #6c6; } .DRAINING { color: #fc6; } .err { color: #f66; }
  #status, .note { color: #aaa; } .note { margin: .3rem 0; }
  #map-box { background: #0b1420; border: 1px solid #243447; border-radius: 6px; overflow: hidden; }
  #map { display: block; }
  #map .land { fill: #1d2b3a; stroke: #2f4258; stroke-width: 1; vector-effect: non-scaling-stroke; }
  #map .region circle { fill: #4aa3ff; stroke: #0b1420; stroke-width: 2; }
  #map .region text { fill: #9cc9ff; font-size: 12px; font-weight: 600; paint-order: stroke; stroke: #0b1420; stroke-width: 3px; }
  #map .node .card { fill: #161d27; stroke: #3a4a5c; }
  #map .node.SERVING .state { fill: #5c5; } #map .node.DRAINING .state { fill: #fc6; } #map .node.DRAINING .card { stroke: #fc6; }
  #map .node text { fill: #ddd; font-size: 11px; } #map .node .id { font-weight: 600; }
  #map .node .hosted, #map .node .label, #map .node .value { fill: #9aa; font-size: 10px; }
  #map .bar-bg { fill: #26303c; } #map .bar.sysload { fill: #e0a040; } #map .bar.clients { fill: #4aa3ff; }
  #map .room path { fill: none; stroke: #d77bff; stroke-width: 2; }
  #map .room.pipe path { stroke: #3fd0c0; stroke-width: 3; }
  #map-labels text { fill: #e9b8ff; font-size: 11px; paint-order: stroke; stroke: #0b1420; stroke-width: 3px; }
  #map-labels text.pipe { fill: #a8f0e6; }
  td.origin { color: #3fd0c0; }
  #arrow path { fill: #d77bff; }
</style>
</head>
<body>
<h1>Meridian cluster</h1>
<p id="status">loading…</p>
<form id="login" hidden>
  <label>Admin token (roomList) <input id="token" type="password" size="60" autocomplete="off"></label>
  <button>Use</button>
</form>
<div id="map-box">
<svg id="map" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="Map of the cluster: regions, media nodes and rooms" width="1000" height="500">
  <defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z"/></marker></defs>
  <path id="land" class="land" d="${WORLD_OUTLINE}"/>
  <g id="map-regions"></g><g id="map-rooms"></g><g id="map-nodes"></g><g id="map-labels"></g>
</svg>
</div>
<p class="note">Dots: configured regions. Cards: live media nodes — load is sysload (1-min load average per CPU, full bar = 1),
clients the participants whose media the node hosts (full bar = the busiest node). Purple arrows: rooms, from the node a
participant's signaling goes through to the room's hosting node (participants on the line). Teal lines: rooms that span
nodes, from each edge to the room's origin (the participants whose media the edge serves; hover for pipes).</p>
<h2>Regions</h2>
<table id="regions"><thead><tr>${th("region")}${th("lat")}${th("lon")}${th("nodes")}
${th("rooms hosted", "rooms placed on this region&#39;s nodes (room records): the sum of their nodes&#39; rooms hosted")}
${th("clients", "participants whose media this region&#39;s nodes host (their reports)")}</tr></thead><tbody></tbody></table>
<h2>Nodes</h2>
<table id="nodes"><thead><tr>${th("node", "hover a node for its signal URL")}${th("region")}${th("state")}${th("sysload")}${th("cpu")}
${th("rooms hosted", "rooms placed on this node (room records), as in the regions table")}
${th("rooms open", "rooms with media on this node, from its last report: a room opens at its first join and closes when empty")}
${th("clients", "participants whose media this node hosts, from its last report")}
${th("signaling", "participants whose signaling connection is on this node (from the rooms), bridged to their host when it is another node")}
${th("tracks in/out")}${th("reserved", "placements onto this node since its last report")}${th("up")}${th("report")}</tr></thead><tbody></tbody></table>
<h2>Rooms</h2>
<table id="rooms"><thead><tr>${th("room")}${th("hosting node", "where the room was placed; the origin of a room that spans nodes")}${th("region")}${th("participants")}
${th("signal nodes", "participants by the node their signaling connection is on")}
${th("media nodes", "nodes serving the room&#39;s media: more than one when the room spans nodes (below)")}${th("age")}</tr></thead><tbody></tbody></table>
<h2>Rooms across nodes</h2>
<p class="note">Rooms whose media more than one node serves (cascade): the origin and its edges, each edge linked to the origin.</p>
<table id="spans"><thead><tr>${th("room")}${th("node")}${th("role")}${th("region")}
${th("participants", "participants whose media this node serves")}
${th("pipes", "pipe transports of this node for the room: one per linked node (the origin has one per edge)")}
${th("piped in", "tracks of other nodes produced on this node over its pipes: each crosses once, whatever its subscribers")}</tr></thead><tbody></tbody></table>
<script src="/dashboard.js"></script>
</body>
</html>
`;

const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "referrer-policy": "no-referrer",
  "x-content-type-options": "nosniff",
  "cache-control": "no-store",
};

export const dashboard = new Hono<{ Bindings: Env }>();

dashboard.get("/dashboard", (c) =>
  c.body(HTML, 200, { ...SECURITY_HEADERS, "content-type": "text/html; charset=utf-8" }),
);
dashboard.get("/dashboard.js", (c) =>
  c.body(DASHBOARD_SCRIPT, 200, { ...SECURITY_HEADERS, "content-type": "text/javascript; charset=utf-8" }),
);
