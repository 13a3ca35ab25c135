// GET /dashboard: a static live view of the cluster (regions, nodes with load and state, rooms
// with their hosting node). The page holds no data and no secret: its script reads an admin token
// (roomList) from the URL fragment `#token=…` (never sent to any server), keeps it in
// sessionStorage, and polls the API every 2 s. All data goes into the DOM as text nodes.
import { Hono } from "hono";
import type { Env } from "./env.ts";

export const DASHBOARD_POLL_MS = 2000;

const HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Meridian cluster</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font: 14px system-ui, sans-serif; margin: 1rem 2rem; background: #111; color: #eee; }
  table { border-collapse: collapse; margin-bottom: 1.5rem; min-width: 40rem; }
  th, td { text-align: left; padding: .25rem .75rem; border-bottom: 1px solid #333; }
  th { color: #aaa; font-weight: 600; }
  .SERVING { color: #6c6; } .DRAINING { color: #fc6; } .err { color: #f66; }
  #status { color: #aaa; }
</style>
</head>
<body>
<h1>Meridian cluster</h1>
<p id="status">loading…</p>
<form id="login" hidden>
  <label>Admin token (roomList) <input id="token" type="password" size="60" autocomplete="off"></label>
  <button>Use</button>
</form>
<h2>Regions</h2>
<table id="regions"><thead><tr><th>region</th><th>lat</th><th>lon</th><th>nodes</th><th>rooms</th></tr></thead><tbody></tbody></table>
<h2>Nodes</h2>
<table id="nodes"><thead><tr><th>node</th><th>region</th><th>state</th><th>sysload</th><th>cpu</th><th>clients</th><th>rooms</th><th>tracks in/out</th><th>reserved</th><th>up</th><th>last report</th><th>signal URL</th></tr></thead><tbody></tbody></table>
<h2>Rooms</h2>
<table id="rooms"><thead><tr><th>room</th><th>hosting node</th><th>region</th><th>participants</th><th>age</th></tr></thead><tbody></tbody></table>
<script src="/dashboard.js"></script>
</body>
</html>
`;

// Plain JS (served as-is, not bundled): keep it small and free of untrusted-HTML sinks.
const SCRIPT = `"use strict";
(() => {
  const KEY = "meridian.dashboard.token";
  const POLL_MS = ${DASHBOARD_POLL_MS};
  const m = /(?:^|[#&])token=([^&]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem(KEY, decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + location.search); // keep the token out of the address bar
  }
  const $ = (id) => document.getElementById(id);
  const state = { polls: 0, errors: 0, lastError: undefined, nodes: [], rooms: [], regions: [] };
  window.meridianDashboard = state;

  const age = (ms) => {
    const s = Math.max(0, Math.round(ms / 1000));
    return s < 120 ? s + " s" : s < 7200 ? Math.round(s / 60) + " min" : Math.round(s / 3600) + " h";
  };
  const fixed = (x, d) => (typeof x === "number" ? x.toFixed(d) : "");
  function fill(tableId, rows) {
    const body = $(tableId).tBodies[0];
    body.replaceChildren(...rows.map((cells) => {
      const tr = document.createElement("tr");
      for (const c of cells) {
        const td = document.createElement("td");
        if (c && typeof c === "object") { td.textContent = String(c.text); td.className = String(c.cls); }
        else td.textContent = String(c);
        tr.append(td);
      }
      return tr;
    }));
  }
  async function api(path, token) {
    const res = await fetch(path, { headers: { authorization: "Bearer " + token }, cache: "no-store" });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) {
      const e = new Error((body.error && body.error.message) || res.statusText);
      e.status = res.status;
      throw e;
    }
    return body;
  }
  function render(regions, nodes, rooms, now) {
    fill("regions", regions.map((r) => [r.name, fixed(r.lat, 4), fixed(r.lon, 4),
      nodes.filter((n) => n.region === r.name).length, rooms.filter((x) => x.region === r.name).length]));
    fill("nodes", nodes.map((n) => [n.id, n.region, { text: n.state, cls: n.state }, fixed(n.stats.sysload, 2),
      fixed(n.stats.cpuLoad, 2), n.stats.clients, n.stats.rooms, n.stats.tracksIn + " / " + n.stats.tracksOut,
      n.reserved, age(now - n.startedAt), age(now - n.updatedAt) + " ago", n.signalUrl]));
    fill("rooms", rooms.map((r) => [r.name, r.node, r.region, r.numParticipants, age(now - r.createdAt)]));
  }
  async function poll() {
    const token = sessionStorage.getItem(KEY);
    if (!token) {
      $("login").hidden = false;
      $("status").textContent = "no token: open the URL the launcher printed (…/dashboard#token=…) or paste one";
      return;
    }
    try {
      const [g, n, r] = await Promise.all([api("/v1/regions", token), api("/v1/nodes", token), api("/v1/rooms", token)]);
      state.polls++;
      state.regions = g.regions; state.nodes = n.nodes; state.rooms = r.rooms;
      render(g.regions, n.nodes.sort((a, b) => (a.region + a.id).localeCompare(b.region + b.id)), r.rooms, Date.now());
      $("status").className = "";
      $("status").textContent = n.nodes.length + " nodes, " + r.rooms.length + " rooms · updated " + new Date().toLocaleTimeString();
    } catch (e) {
      state.errors++;
      state.lastError = String(e.message);
      $("status").className = "err";
      $("status").textContent = "error: " + e.message;
      if (e.status === 401 || e.status === 403) $("login").hidden = false;
    }
  }
  $("login").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(KEY, $("token").value.trim());
    $("token").value = "";
    $("login").hidden = true;
    void poll();
  });
  void poll();
  setInterval(poll, POLL_MS);
})();
`;

const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "referrer-policy": "no-referrer",
  "x-content-type-options": "nosniff",
  "cache-control": "no-store",
};

export const dashboard = new Hono<{ Bindings: Env }>();

dashboard.get("/dashboard", (c) => c.body(HTML, 200, { ...SECURITY_HEADERS, "content-type": "text/html; charset=utf-8" }));
dashboard.get("/dashboard.js", (c) => c.body(SCRIPT, 200, { ...SECURITY_HEADERS, "content-type": "text/javascript; charset=utf-8" }));
