// Issue 12 regressions on the real Worker (Miniflare) → Upstash bridge → redis-server: token kinds,
// the shared limits and name rules, CORS, and a join that never 500s.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { keys } from "#shared/keys.ts";
import {
  PUBLISH_SOURCES_MAX,
  ROOM_NAME_MAX,
  SOURCE_NAME_MAX,
  TOKEN_MAX_CHARS,
  TOKEN_METADATA_MAX_BYTES,
} from "#shared/limits.ts";
import { Requests } from "#shared/protocol.ts";
import { reportNode, upsertParticipant } from "#shared/registry.ts";
import { NodeSelectorConfig } from "#shared/config.ts";
import { placeRoom } from "#shared/placement.ts";
import { mintToken, parseApiKeys, verifyToken } from "#shared/token.ts";
import { REGIONS, nodeRecord } from "../support/nodes.ts";
import { startWorker, type WorkerHarness } from "../support/worker.ts";

const SELECTOR = JSON.stringify({
  kind: "regionaware",
  sort_by: "sysload",
  algorithm: "lowest",
  sysload_limit: 0.7,
  regions: REGIONS,
});

const QUOTA = 12;
let h: WorkerHarness;
beforeAll(async () => {
  h = await startWorker({
    NODE_SELECTOR: SELECTOR,
    DEFAULT_REGION: "us-east",
    CORS_ORIGINS: "https://app.example, http://localhost:5173",
    ROOMS_PER_API_KEY: String(QUOTA),
  });
});
afterAll(async () => {
  await h?.close();
});
beforeEach(async () => {
  await h.ioredis.flushall();
  await reportNode(h.runner, nodeRecord({ id: "us-1", region: "us-east", sysload: 0.1 }));
});

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
const joinToken = (room: string, identity = "alice", extra: Record<string, unknown> = {}) =>
  h.token({ roomJoin: true, room, canPublish: true, ...extra }, { identity });

describe("finding 6: media tokens are refused wherever an app token is expected", () => {
  it("a media token cannot be exchanged at /v1/join (header or body) nor used on any admin route", async () => {
    const joined = await h.post("/v1/join", {}, await joinToken("renew"));
    expect(joined.status).toBe(200);
    const media: string = joined.body.token;
    // Even a media token minted (by a buggy or hostile caller of the key) with admin grants.
    const adminMedia = await mintToken({
      apiKey: h.apiKey,
      apiSecret: h.apiSecret,
      identity: "alice",
      video: { roomJoin: true, room: "renew", roomCreate: true, roomList: true, roomAdmin: true },
      meridian: { node: "us-1", region: "us-east" },
      ttlSeconds: 600,
    });
    for (const t of [media, adminMedia]) {
      const viaHeader = await h.post("/v1/join", {}, t);
      const viaBody = await h.post("/v1/join", { token: t }, undefined);
      expect([viaHeader.status, viaHeader.body.error?.code]).toEqual([403, "forbidden"]);
      expect([viaBody.status, viaBody.body.error?.code]).toEqual([403, "forbidden"]);
      const routes: [string, string, unknown?][] = [
        ["GET", "/v1/rooms"],
        ["POST", "/v1/rooms", { name: "made-by-media" }],
        ["GET", "/v1/rooms/renew"],
        ["DELETE", "/v1/rooms/renew"],
        ["GET", "/v1/rooms/renew/participants"],
        ["GET", "/v1/nodes"],
        ["GET", "/v1/regions"],
      ];
      for (const [method, path, body] of routes) {
        const r = await h.fetch(path, {
          method,
          headers: { ...bearer(t), "content-type": "application/json" },
          ...(body ? { body: JSON.stringify(body) } : {}),
        });
        expect({ method, path, status: r.status, code: r.body.error?.code }).toEqual({
          method,
          path,
          status: 403,
          code: "forbidden",
        });
      }
    }
    expect(await h.ioredis.exists(keys.room("renew"))).toBe(1); // the DELETE did not go through
  });

  it("tokens in the query string are not read by the API (they end up in proxy logs)", async () => {
    const t = await h.token({ roomList: true });
    const r = await h.fetch(`/v1/rooms?access_token=${t}`);
    expect([r.status, r.body.error?.code]).toEqual([401, "unauthorized"]);
  });
});

describe("finding 11: one set of limits, so the control plane never mints a token the node refuses", () => {
  it("an app token at every limit (worst-case characters) yields a media token the node's join accepts", async () => {
    const room = "€".repeat(ROOM_NAME_MAX); // 3 UTF-8 bytes per character
    const metadata = "\u0001".repeat(Math.floor((TOKEN_METADATA_MAX_BYTES - 2) / 6)); // JSON: \u0001 = 6 bytes
    const sources = Array.from({ length: PUBLISH_SOURCES_MAX }, (_, i) => `${i}`.padEnd(SOURCE_NAME_MAX, "€"));
    const app = await mintToken({
      apiKey: h.apiKey,
      apiSecret: h.apiSecret,
      identity: "€".repeat(256),
      name: "€".repeat(256),
      metadata,
      video: {
        roomJoin: true,
        room,
        canPublish: true,
        canSubscribe: true,
        canPublishData: true,
        hidden: false,
        canPublishSources: sources,
      },
      ttlSeconds: 600,
    });
    const r = await h.post("/v1/join", {}, app);
    expect(r.status).toBe(200);
    const media: string = r.body.token;
    expect(media.length).toBeLessThanOrEqual(TOKEN_MAX_CHARS);
    expect(Requests.join.safeParse({ token: media, room }).success).toBe(true);
    const claims = await verifyToken(media, parseApiKeys(`${h.apiKey}:${h.apiSecret}`), "media");
    expect(claims.metadata).toBe(metadata);
  });

  it("token metadata over the limit is refused at the Worker (401), not copied into an oversized media token", async () => {
    for (const size of [TOKEN_METADATA_MAX_BYTES + 1, 64 * 1024]) {
      const app = await mintToken({
        apiKey: h.apiKey,
        apiSecret: h.apiSecret,
        identity: "alice",
        metadata: "m".repeat(size - 2), // + 2 quotes = JSON bytes
        video: { roomJoin: true, room: "big" },
        ttlSeconds: 600,
      });
      const r = await h.post("/v1/join", {}, app);
      expect({ size, status: r.status, code: r.body.error?.code }).toEqual({ size, status: 401, code: "unauthorized" });
      expect(r.body.error.message).toMatch(size < TOKEN_MAX_CHARS ? /metadata/ : /longer than/);
    }
    expect(await h.ioredis.exists(keys.room("big"))).toBe(0);
  });

  it("an oversized token or body token is a 4xx before any work", async () => {
    const huge = "a".repeat(TOKEN_MAX_CHARS + 1);
    expect((await h.post("/v1/join", { token: huge })).status).toBe(400);
    expect((await h.post("/v1/join", {}, huge)).status).toBe(401);
  });

  it("a rejoin's failedNode hint is validated: not a string, empty or oversized is 400 bad_request", async () => {
    const app = await joinToken("hinted");
    for (const failedNode of [42, "", "n".repeat(129), ["a"]]) {
      const r = await h.post("/v1/join", { failedNode }, app);
      expect({ failedNode, status: r.status, code: r.body.error?.code }).toEqual({
        failedNode,
        status: 400,
        code: "bad_request",
      });
    }
    expect(await h.ioredis.exists(keys.room("hinted"))).toBe(0);
  });
});

describe("finding 12: one room-name rule on every entry path", () => {
  const BAD = [
    "a\nb",
    "nul\u0000byte",
    "..",
    ".",
    "a/b",
    "back\\slash",
    " lead",
    "trail ",
    "zero\u200bwidth",
    "bidi\u202eevil",
    "x".repeat(ROOM_NAME_MAX + 1),
    "",
  ];
  const GOOD = ["café ☕", "a b", "x:participants", "100%", "q?x#y", "...", "a.b", "Ünïcödé-名前"];

  it.each(BAD.map((n) => [JSON.stringify(n), n]))("refused everywhere: %s", async (_label, name) => {
    const create = await h.post("/v1/rooms", { name }, await h.token({ roomCreate: true }));
    expect([create.status, create.body.error?.code]).toEqual([400, "bad_request"]);
    const viaToken = await h.post("/v1/join", {}, await joinToken(name));
    expect(viaToken.status).toBeGreaterThanOrEqual(400);
    expect(viaToken.status).toBeLessThan(500);
    const viaBody = await h.post("/v1/join", { room: name }, await joinToken("fine"));
    expect([viaBody.status, viaBody.body.error?.code]).toEqual([400, "bad_request"]);
    expect(Requests.join.safeParse({ room: name }).success).toBe(false);
    expect(await h.ioredis.zcard(keys.rooms())).toBe(0);
  });

  it("identities follow the identity rule at /v1/join", async () => {
    for (const identity of ["a\nb", " x", "nul\u0000", "rtl\u202e"]) {
      const r = await h.post("/v1/join", {}, await joinToken("fine", identity));
      expect({ identity, status: r.status }).toEqual({ identity, status: 401 });
    }
  });

  it("every room a token can create can be read and deleted through the API", async () => {
    const admin = bearer(await h.token({ roomList: true, roomCreate: true }));
    for (const name of GOOD) {
      const j = await h.post("/v1/join", {}, await joinToken(name));
      expect({ name, status: j.status }).toEqual({ name, status: 200 });
      const path = `/v1/rooms/${encodeURIComponent(name)}`;
      const got = await h.fetch(path, { headers: admin });
      expect({ name, status: got.status, got: got.body.name }).toEqual({ name, status: 200, got: name });
      const del = await h.fetch(path, { method: "DELETE", headers: admin });
      expect({ name, status: del.status }).toEqual({ name, status: 200 });
    }
    expect(await h.ioredis.zcard(keys.rooms())).toBe(0);
  });
});

describe("finding 15: CORS for browser apps, from CORS_ORIGINS only", () => {
  const preflight = (origin: string, path = "/v1/join") =>
    h.mf.dispatchFetch(`http://control-plane.test${path}`, {
      method: "OPTIONS",
      headers: {
        origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization,content-type",
      },
    });
  it("answers preflights; allows only the configured origins", async () => {
    const ok = await preflight("https://app.example");
    expect(ok.status).toBe(204);
    expect(ok.headers.get("access-control-allow-origin")).toBe("https://app.example");
    expect(ok.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("authorization");
    expect(ok.headers.get("access-control-allow-methods")).toContain("POST");
    const evil = await preflight("https://evil.example", "/v1/rooms");
    expect(evil.status).toBe(204);
    expect(evil.headers.get("access-control-allow-origin")).toBeNull();
    const get = await h.mf.dispatchFetch("http://control-plane.test/v1/regions", {
      headers: { origin: "http://localhost:5173", authorization: `Bearer ${await h.token({ roomList: true })}` },
    });
    expect(get.status).toBe(200);
    expect(get.headers.get("access-control-allow-origin")).toBe("http://localhost:5173");
    await get.arrayBuffer();
  });
});

describe("finding 16a: node records are validated before any write; a join never 500s", () => {
  it('a node of region "" is refused by reportNode before Redis is touched, and joins answer 503, not 500', async () => {
    await h.ioredis.flushall();
    await expect(reportNode(h.runner, nodeRecord({ id: "nowhere", region: "" }))).rejects.toThrow();
    expect(await h.ioredis.dbsize()).toBe(0);
    const r = await h.post("/v1/join", {}, await joinToken("no-region"));
    expect([r.status, r.body.error?.code]).toEqual([503, "no_available_nodes"]);
    expect(await h.ioredis.exists(keys.room("no-region"))).toBe(0);
  });

  it('a record written around reportNode (region "", not JSON) is skipped before the room is mapped', async () => {
    for (const bad of [JSON.stringify({ ...nodeRecord({ id: "us-1" }), region: "" }), "{not json"]) {
      await h.ioredis.flushall();
      await reportNode(h.runner, nodeRecord({ id: "us-1", region: "us-east", sysload: 0.1 }));
      await h.ioredis.set(keys.node("us-1"), bad, "PX", 4000);
      const r = await h.post("/v1/join", {}, await joinToken("corrupt"));
      expect({ bad, status: r.status, code: r.body.error?.code }).toEqual({
        bad,
        status: 503,
        code: "no_available_nodes",
      });
      expect(await h.ioredis.exists(keys.room("corrupt"))).toBe(0);
      // a valid node next to it takes the room
      await reportNode(h.runner, nodeRecord({ id: "us-2", region: "us-east", sysload: 0.3 }));
      const ok = await h.post("/v1/join", {}, await joinToken("corrupt"));
      expect([ok.status, ok.body.node]).toEqual([200, "us-2"]);
    }
  });
});

describe("finding 13: a per-key room quota, cursor pagination, bounded replies", () => {
  it("an API key holds at most ROOMS_PER_API_KEY rooms (join and create); closed rooms stop counting; placement scores grow by at most quota x room cost", async () => {
    const before = Number(await h.ioredis.zscore(keys.sel("us-east", "sysload"), "us-1"));
    for (let i = 0; i < QUOTA; i++) {
      const r =
        i % 2
          ? await h.post("/v1/join", {}, await joinToken(`q-${i}`))
          : await h.post("/v1/rooms", { name: `q-${i}` }, await h.token({ roomCreate: true }));
      expect({ i, status: r.status }).toEqual({ i, status: i % 2 ? 200 : 201 });
    }
    const over = [
      await h.post("/v1/join", {}, await joinToken("q-over")),
      await h.post("/v1/rooms", { name: "q-over" }, await h.token({ roomCreate: true })),
    ];
    for (const r of over)
      expect([r.status, r.body.error?.code, r.body.error?.details]).toEqual([429, "quota_exceeded", { limit: QUOTA }]);
    expect(await h.ioredis.exists(keys.room("q-over"))).toBe(0);
    // The unopened rooms raised the node's score by exactly QUOTA x the default room cost, no more.
    const after = Number(await h.ioredis.zscore(keys.sel("us-east", "sysload"), "us-1"));
    expect(after - before).toBeCloseTo(QUOTA * 0.02, 9);
    // Joining an existing room is not a new room: still fine at the quota.
    expect((await h.post("/v1/join", {}, await joinToken("q-1", "bob"))).status).toBe(200);
    const admin = bearer(await h.token({ roomCreate: true }));
    expect((await h.fetch("/v1/rooms/q-0", { method: "DELETE", headers: admin })).status).toBe(200);
    expect((await h.post("/v1/join", {}, await joinToken("q-over"))).status).toBe(200);
  });

  it("GET /v1/rooms pages with a stable cursor: every room exactly once, in creation order, also when rooms go away between pages", async () => {
    const names = Array.from({ length: 10 }, (_, i) => `page-${String(i).padStart(2, "0")}`);
    for (const name of names)
      await placeRoom(h.runner, {
        room: name,
        mode: "create",
        autoCreate: true,
        config: NodeSelectorConfig.parse({ regions: REGIONS }),
        regionOrder: ["us-east"],
        now: 1_000 + (name < "page-05" ? 0 : 1),
      });
    const list = bearer(await h.token({ roomList: true, roomCreate: true }));
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const r = await h.fetch(`/v1/rooms?limit=3${cursor ? `&cursor=${cursor}` : ""}`, { headers: list });
      expect(r.status).toBe(200);
      expect(r.body.rooms.length).toBeLessThanOrEqual(3);
      seen.push(...r.body.rooms.map((x: { name: string }) => x.name));
      cursor = r.body.nextCursor;
      if (pages++ === 0)
        expect((await h.fetch("/v1/rooms/page-01", { method: "DELETE", headers: list })).status).toBe(200); // listed already
      if (pages === 2)
        expect((await h.fetch("/v1/rooms/page-09", { method: "DELETE", headers: list })).status).toBe(200); // not yet
    } while (cursor && pages < 10);
    expect(seen).toEqual(names.filter((n) => n !== "page-09"));
    expect(pages).toBe(3);
    for (const bad of ["nope", Buffer.from('[1,"a\\nb"]').toString("base64url"), "x".repeat(2000)]) {
      const r = await h.fetch(`/v1/rooms?cursor=${bad}`, { headers: list });
      expect({ bad: bad.slice(0, 20), status: r.status }).toEqual({ bad: bad.slice(0, 20), status: 400 });
    }
  });

  it("a page stops at 1 MiB of room records (at least one room), whatever the limit", async () => {
    const metadata = "m".repeat(16 * 1024);
    const config = NodeSelectorConfig.parse({ regions: REGIONS });
    for (let i = 0; i < 70; i++)
      await placeRoom(h.runner, {
        room: `big-${i}`,
        mode: "create",
        autoCreate: true,
        config,
        regionOrder: ["us-east"],
        settings: { emptyTimeout: 300, maxParticipants: 0, metadata },
      });
    const list = bearer(await h.token({ roomList: true }));
    const first = await h.fetch("/v1/rooms?limit=1000", { headers: list });
    expect(first.status).toBe(200);
    expect(first.body.rooms.length).toBeGreaterThan(50);
    expect(first.body.rooms.length).toBeLessThan(70);
    expect(JSON.stringify(first.body).length).toBeLessThan(1.1 * 1024 * 1024);
    const rest = await h.fetch(`/v1/rooms?limit=1000&cursor=${first.body.nextCursor}`, { headers: list });
    expect(first.body.rooms.length + rest.body.rooms.length).toBe(70);
    expect(rest.body.nextCursor).toBeNull();
  });
  it("GET /v1/nodes and /v1/rooms/{name}/participants page too (SCAN cursors): every entry, in bounded pages", async () => {
    const N = 300;
    await Promise.all(
      Array.from({ length: N }, (_, i) => reportNode(h.runner, nodeRecord({ id: `n-${i}`, region: "us-east" }))),
    );
    await placeRoom(h.runner, {
      room: "crowd",
      mode: "create",
      autoCreate: true,
      config: NodeSelectorConfig.parse({ regions: REGIONS }),
      regionOrder: ["us-east"],
    });
    const host = (await h.ioredis.hget(keys.room("crowd"), "node"))!;
    await Promise.all(
      Array.from({ length: N }, (_, i) =>
        upsertParticipant(
          h.runner,
          "crowd",
          { identity: `p-${i}`, sid: `PA_${i}`, joinedAt: 1, signalNode: host, tracks: [] },
          host,
        ),
      ),
    );
    const admin = bearer(await h.token({ roomList: true, roomAdmin: true }));
    const all = async (path: string, field: string, key: string) => {
      const seen = new Set<string>();
      let cursor: string | null = null;
      let pages = 0;
      do {
        const r = await h.fetch(`${path}${cursor ? `?cursor=${cursor}` : ""}`, { headers: admin });
        expect(r.status).toBe(200);
        expect(r.body[field].length).toBeLessThan(N);
        for (const x of r.body[field]) seen.add(x[key]);
        cursor = r.body.nextCursor;
        pages++;
      } while (cursor && pages < 50);
      return { seen: seen.size, pages };
    };
    const nodes = await all("/v1/nodes", "nodes", "id");
    expect(nodes.seen).toBe(N + 1); // + us-1
    expect(nodes.pages).toBeGreaterThan(1);
    const people = await all("/v1/rooms/crowd/participants", "participants", "identity");
    expect(people.seen).toBe(N);
    expect(people.pages).toBeGreaterThan(1);
    expect((await h.fetch("/v1/nodes?cursor=abc", { headers: admin })).status).toBe(400);
  });
});

describe("finding 7 (control plane): media tokens name the room's incarnation", () => {
  it("each placement of a name gets a new sid, carried in the media token; joins of an existing room get its sid", async () => {
    const sidOf = async (t: string) =>
      (await verifyToken(t, parseApiKeys(`${h.apiKey}:${h.apiSecret}`), "media")).meridian?.roomSid;
    const a = await h.post("/v1/join", {}, await joinToken("incarnation"));
    const b = await h.post("/v1/join", {}, await joinToken("incarnation", "bob"));
    const sid = await sidOf(a.body.token);
    expect(sid).toMatch(/^RM_/);
    expect(await sidOf(b.body.token)).toBe(sid);
    expect(await h.ioredis.hget(keys.room("incarnation"), "sid")).toBe(sid);
    await h.fetch("/v1/rooms/incarnation", { method: "DELETE", headers: bearer(await h.token({ roomCreate: true })) });
    const c = await h.post("/v1/join", {}, await joinToken("incarnation"));
    expect(await sidOf(c.body.token)).not.toBe(sid);
  });
});
