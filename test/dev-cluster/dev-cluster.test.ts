// `npm run dev` end to end: the launcher starts redis-server, the Upstash REST stand-in, the Worker and three
// media nodes in two regions; region-aware joins through its app server; the dashboard and the API
// calls it makes; SIGINT leaves no process behind and exits 0.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser } from "playwright-core";
import { Redis } from "ioredis";
import { decodeJwt } from "jose";
import { request } from "node:http";
import { keys } from "#shared/keys.ts";
import { mintToken } from "#shared/token.ts";
import { inboundRtp, launchChromium, mediaFlows, openPage } from "../support/browser.ts";
import { readNodeRecord, waitFor } from "../support/media-node.ts";
import { alive, startLauncher, type Launcher } from "./launcher.ts";

let launcher: Launcher;
let redis: Redis;
let token: string;

// What an app server outside the launcher is given: its own API key pair.
const APP_KEY = "my-app";
const APP_SECRET = "an-app-server-secret-of-32-bytes!!";

beforeAll(async () => {
  launcher = await startLauncher({ MERIDIAN_API_KEY: APP_KEY, MERIDIAN_API_SECRET: APP_SECRET });
  redis = new Redis(launcher.ready.redisUrl, { maxRetriesPerRequest: 1 });
  redis.on("error", () => undefined); // the launcher stops it at the end
  token = new URL(launcher.ready.dashboard).hash.replace(/^#token=/, "");
});

afterAll(async () => {
  redis?.disconnect();
  if (launcher && launcher.proc.exitCode === null) {
    launcher.proc.kill("SIGKILL");
    for (const pid of launcher.ready.pids) if (alive(pid)) process.kill(pid, "SIGKILL");
  }
});

const api = async (path: string) => {
  const res = await fetch(launcher.ready.worker + path, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: (await res.json()) as any };
};

const devJoin = async (body: unknown) => {
  const res = await fetch(`${launcher.ready.app}/api/join`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
};

/** POST /api/join with exactly these headers (fetch would not let us set Host). */
const rawJoin = (headers: Record<string, string>) =>
  new Promise<number>((resolve, reject) => {
    const u = new URL(`${launcher.ready.app}/api/join`);
    const body = JSON.stringify({ room: "dev-room", identity: "mallory", location: "us-east" });
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname,
        method: "POST",
        headers: { ...headers, "content-length": Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on("error", reject);
    req.end(body);
  });

describe("npm run dev", () => {
  it("registers three media nodes in two regions in Redis", async () => {
    const { nodes } = launcher.ready;
    expect(nodes.map((n) => n.region).sort()).toEqual(["us-east", "us-east", "us-west-2"]);
    for (const n of nodes) {
      const rec = await waitFor(
        () => readNodeRecord(redis, n.id),
        (r) => r !== null,
        `record of ${n.id}`,
      );
      expect(rec).toMatchObject({
        id: n.id,
        region: n.region,
        state: "SERVING",
        signalUrl: `${n.http.replace("http", "ws")}/rtc`,
      });
    }
    expect((await redis.zrange(keys.nodes(), 0, -1)).sort()).toEqual(nodes.map((n) => n.id).sort());
  });

  it("hands a us-west client a us-west-2 signal node and a us-east client a us-east one", async () => {
    const nodeOfUrl = (url: string) => launcher.ready.nodes.find((n) => `${n.http.replace("http", "ws")}/rtc` === url);
    const west = await devJoin({ room: "dev-room", identity: "alice", location: "us-west" });
    expect(west.status).toBe(200);
    expect(nodeOfUrl(west.body.url)?.region).toBe("us-west-2");
    expect(west.body.signalRegion).toBe("us-west-2");
    const east = await devJoin({ room: "dev-room", identity: "bob", location: "us-east" });
    expect(east.status).toBe(200);
    expect(nodeOfUrl(east.body.url)?.region).toBe("us-east");
    // One hosting node for the room, whoever asks; the media token names it.
    expect(east.body.node).toBe(west.body.node);
    expect(await redis.hget(keys.room("dev-room"), "node")).toBe(west.body.node);
    for (const j of [west, east])
      expect(decodeJwt(j.body.token)).toMatchObject({ sub: j.body.identity, meridian: { node: west.body.node } });
  });

  it("serves an app server of your own: its key pair, its user's location in X-Meridian-Client-Location", async () => {
    expect(launcher.ready).toMatchObject({ apiKey: APP_KEY, apiSecret: APP_SECRET });
    // The secret came from the environment: it is not printed.
    expect(launcher.output.filter((l) => !l.startsWith("MERIDIAN_DEV_READY")).join("\n")).not.toContain(APP_SECRET);
    const appJoin = async (identity: string, location: string) => {
      const token = await mintToken({
        apiKey: APP_KEY,
        apiSecret: APP_SECRET,
        identity,
        video: { roomJoin: true, room: "outside-room" },
        ttlSeconds: 60,
      });
      const res = await fetch(`${launcher.ready.worker}/v1/join`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          authorization: `Bearer ${token}`,
          "x-meridian-client-location": location,
        },
        body: "{}",
      });
      return { status: res.status, body: (await res.json()) as any };
    };
    const nodeOfUrl = (url: string) => launcher.ready.nodes.find((n) => `${n.http.replace("http", "ws")}/rtc` === url);
    const portland = await appJoin("pat", "45.5152,-122.6784");
    expect(portland.status).toBe(200);
    expect(nodeOfUrl(portland.body.url)?.region).toBe("us-west-2");
    const newYork = await appJoin("quinn", "40.7128,-74.006");
    expect(nodeOfUrl(newYork.body.url)?.region).toBe("us-east");
    expect(newYork.body.node).toBe(portland.body.node);
    // Without the header: the Worker's fixed cf object has no location, so DEFAULT_REGION (us-east)
    // decides — Miniflare's placeholder (Austin) would have been nearer us-west-2.
    const token = await mintToken({
      apiKey: APP_KEY,
      apiSecret: APP_SECRET,
      identity: "sam",
      video: { roomJoin: true, room: "nowhere-room" },
      ttlSeconds: 60,
    });
    const plain = await fetch(`${launcher.ready.worker}/v1/join`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: "{}",
    });
    expect(nodeOfUrl(((await plain.json()) as { url: string }).url)?.region).toBe("us-east");
    const bad = await appJoin("rae", "somewhere");
    expect(bad).toMatchObject({ status: 400, body: { error: { code: "bad_request" } } });
  });

  it("answers a client that asks for no encoding with an unencoded body", async () => {
    const raw = await new Promise<{ encoding: string | undefined; body: string }>((resolve, reject) => {
      const req = request(
        `${launcher.ready.worker}/openapi.json`,
        { headers: { "x-meridian-client-location": "40.7,-74" } },
        (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (c) => (body += c));
          res.on("end", () => resolve({ encoding: res.headers["content-encoding"], body }));
        },
      );
      req.on("error", reject);
      req.end(); // node:http sends no Accept-Encoding
    });
    expect(raw.encoding).toBeUndefined();
    expect(JSON.parse(raw.body)).toHaveProperty("openapi");
  });

  it("refuses a bad dev join with a clear error", async () => {
    const bad = await devJoin({ room: "dev-room", identity: "x", location: "mars" });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: "bad_request" });
    const notJson = await fetch(`${launcher.ready.app}/api/join`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{",
    });
    expect(notJson.status).toBe(400);
    // without a JSON content type (fetch sends text/plain): 415, as a cross-site form post gets
    expect((await fetch(`${launcher.ready.app}/api/join`, { method: "POST", body: "{" })).status).toBe(415);
  });

  it("/api/join answers only its own page: JSON, a loopback Host, no foreign Origin (cross-site posts, DNS rebinding)", async () => {
    const host = new URL(launcher.ready.app).host;
    const json = { "content-type": "application/json", host };
    expect(await rawJoin({ ...json, "content-type": "text/plain" })).toBe(415); // a cross-site <form> post
    expect(await rawJoin({ ...json, origin: "http://evil.example" })).toBe(403);
    expect(await rawJoin({ ...json, host: `rebound.evil.example:${new URL(launcher.ready.app).port}` })).toBe(403);
    expect(await rawJoin({ ...json, origin: `http://${host}` })).toBe(200);
    expect(await rawJoin(json)).toBe(200); // curl and scripts send no Origin
  });

  it("serves the dashboard, and the API calls it makes succeed with the printed token", async () => {
    const page = await fetch(`${launcher.ready.worker}/dashboard`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await page.text();
    expect(html).toContain('<script src="/dashboard.js"></script>');
    expect(html).not.toContain(token);
    expect((await fetch(`${launcher.ready.worker}/dashboard.js`)).status).toBe(200);

    const regions = await api("/v1/regions");
    expect(regions.status).toBe(200);
    // The seed's regions, exactly (infra/meridian.example.yaml).
    expect(regions.body).toEqual({
      regions: [
        { name: "us-west-2", lat: 37.64046607830567, lon: -120.88026233189062 },
        { name: "us-east", lat: 40.68914362140307, lon: -74.04445748616385 },
      ],
      defaultRegion: "us-east",
    });
    const nodes = await api("/v1/nodes");
    expect(nodes.status).toBe(200);
    expect(nodes.body.nodes).toHaveLength(3);
    const rooms = await api("/v1/rooms");
    expect(rooms.status).toBe(200);
    expect(rooms.body.rooms.find((r: { name: string }) => r.name === "dev-room")).toBeDefined();
    expect((await fetch(`${launcher.ready.worker}/v1/regions`)).status).toBe(401);
  });

  describe("in Chromium", () => {
    let browser: Browser;
    beforeAll(async () => {
      browser = await launchChromium();
    });
    afterAll(async () => {
      await browser?.close();
    });

    it("the dashboard renders regions, nodes and rooms, and drops the token from the address bar", async () => {
      const { page, console } = await openPage(browser, launcher.ready.dashboard);
      const table = (id: string) =>
        page.evaluate(
          (id) =>
            [...document.querySelectorAll(`#${id} tbody tr`)].map((tr) => [...tr.children].map((td) => td.textContent)),
          id,
        );
      const nodes = await waitFor(
        () => table("nodes"),
        (rows) => rows.length === 3,
        "three node rows",
        15_000,
      ).catch((e) => {
        throw new Error(`${e}\n${console.join("\n")}`);
      });
      expect(nodes.map((r) => r[0]).sort()).toEqual(launcher.ready.nodes.map((n) => n.id).sort());
      expect(nodes.every((r) => r[2] === "SERVING")).toBe(true);
      const rooms = await table("rooms");
      expect(rooms.find((r) => r[0] === "dev-room")?.[1]).toBe(await redis.hget(keys.room("dev-room"), "node"));
      expect((await table("regions")).map((r) => r[0])).toEqual(["us-west-2", "us-east"]);
      expect(page.url()).not.toContain("token=");
      expect(console.filter((l) => l.startsWith("pageerror"))).toEqual([]);
    });

    it("the dev page joins from two locations and both see each other's media", async () => {
      const join = async (identity: string, location: string) => {
        const p = await openPage(browser, `${launcher.ready.app}/`);
        await p.page.fill("#room", "dev-media");
        await p.page.fill("#identity", identity);
        await p.page.selectOption("#location", location);
        await p.page.click("#join");
        return p;
      };
      const west = await join("west-user", "us-west");
      const east = await join("east-user", "us-east");
      for (const p of [west, east])
        await waitFor(() => inboundRtp(p.page), mediaFlows, "remote media decoded", 45_000).catch((e) => {
          throw new Error(`${e}\n${p.console.join("\n")}\n${launcher.output.slice(-20).join("\n")}`);
        });
      const joins = await west.page.evaluate(
        () =>
          (globalThis as unknown as { meridian: { joins: { signalRegion: string; node: string }[] } }).meridian.joins,
      );
      expect(joins[0]?.signalRegion).toBe("us-west-2");
      expect(joins[0]?.node).toBe(await redis.hget(keys.room("dev-media"), "node"));
    });
  });

  it("stops every child process on SIGINT and exits 0", async () => {
    const { pids, nodes } = launcher.ready;
    expect(pids).toHaveLength(4); // redis-server + three media nodes (REST stand-in and Worker are in-process)
    launcher.proc.kill("SIGINT");
    expect(await launcher.exited).toEqual({ code: 0, signal: null });
    await waitFor(
      async () => pids.filter(alive),
      (left) => left.length === 0,
      "children gone",
      10_000,
    );
    for (const url of [
      launcher.ready.worker,
      launcher.ready.app,
      launcher.ready.upstashRest,
      ...nodes.map((n) => n.http),
    ])
      await expect(fetch(`${url}/healthz`)).rejects.toThrow();
    expect(launcher.output.join("\n")).toContain("[dev] stopped");
  });
});
