// The real Worker (Miniflare) → Upstash bridge → real redis-server.
import { Redis } from "ioredis";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { CONTROL_PLANE } from "#shared/bus.ts";
import { BusAuth } from "../../media-node/src/cluster/bus-auth.ts";
import { keys } from "#shared/keys.ts";
import { NODE_TTL_MS, REGISTRY_WARMUP_MS, STATS_FRESHNESS_MS } from "#shared/node.ts";
import { claimRoom, removeNode, reportNode, upsertParticipant } from "#shared/registry.ts";
import { parseApiKeys, verifyToken } from "#shared/token.ts";
import { NEW_YORK, PARIS, REGIONS, SINGAPORE, nodeRecord, type NodeSpec } from "../support/nodes.ts";
import { ORIGIN, startWorker, type WorkerHarness } from "../support/worker.ts";

const SELECTOR = JSON.stringify({
  kind: "regionaware",
  sort_by: "sysload",
  algorithm: "lowest",
  sysload_limit: 0.7,
  regions: REGIONS,
});
const at = (p: { lat: number; lon: number }) => ({ latitude: String(p.lat), longitude: String(p.lon) });

let h: WorkerHarness;
beforeAll(async () => {
  h = await startWorker({ NODE_SELECTOR: SELECTOR, DEFAULT_REGION: "us-east" });
});
afterAll(async () => {
  await h?.close();
});
beforeEach(async () => {
  if (h.redis) await h.ioredis.flushall().catch(() => undefined);
});

async function seed(...specs: NodeSpec[]) {
  for (const s of specs) await reportNode(h.runner, nodeRecord(s));
}
const CLUSTER: NodeSpec[] = [
  { id: "us-1", region: "us-east", sysload: 0.2 },
  { id: "us-2", region: "us-east", sysload: 0.1 },
  { id: "eu-1", region: "eu-west", sysload: 0.3 },
  { id: "ap-1", region: "ap-south", sysload: 0.0 },
];
const joinToken = (room: string, identity: string, extra = {}) =>
  h.token({ roomJoin: true, room, ...extra }, { identity });

describe("basics", () => {
  it("serves /healthz and an OpenAPI document listing every route", async () => {
    expect(await h.fetch("/healthz")).toEqual({ status: 200, body: { status: "ok" } });
    const doc = await h.fetch("/openapi.json");
    expect(doc.status).toBe(200);
    expect(Object.keys(doc.body.paths).sort()).toEqual(
      ["/v1/join", "/v1/nodes", "/v1/regions", "/v1/rooms", "/v1/rooms/{name}", "/v1/rooms/{name}/participants"].sort(),
    );
    expect(Object.keys(doc.body.paths["/v1/rooms/{name}"])).toEqual(expect.arrayContaining(["get", "delete"]));
    // The participants API states the participant record's schema (shared/records.ts), not "anything".
    const participant = doc.body.components.schemas.Participants.properties.participants.items;
    expect(Object.keys(participant.properties ?? {}).sort()).toEqual([
      "attributes",
      "identity",
      "joinedAt",
      "metadata",
      "name",
      "permissions",
      "sid",
      "signalNode",
      "tracks",
    ]);
  });
  it("CORS: a preflight is answered, but no origin is allowed by default (CORS_ORIGINS unset)", async () => {
    const r = await h.mf.dispatchFetch(`${ORIGIN}/v1/rooms`, {
      method: "OPTIONS",
      headers: { origin: "https://app.example", "access-control-request-method": "GET" },
    });
    expect(r.status).toBe(204);
    expect(r.headers.get("access-control-allow-origin")).toBeNull();
  });
  it("answers unknown routes with a JSON 404", async () => {
    expect(await h.fetch("/nope")).toMatchObject({ status: 404, body: { error: { code: "not_found" } } });
  });
});

describe("join", () => {
  it("lands clients on nodes of their nearest region (request.cf) and hands out that region's signal URL", async () => {
    await seed(...CLUSTER);
    const ny = await h.post("/v1/join", {}, await joinToken("ny-room", "alice"), at(NEW_YORK));
    expect(ny.status).toBe(200);
    expect(ny.body).toMatchObject({
      room: "ny-room",
      identity: "alice",
      node: "us-2",
      region: "us-east",
      placement: "created",
    });
    expect(ny.body.url).toBe("wss://us-2.example.test/signal");
    const paris = await h.post("/v1/join", {}, await joinToken("paris-room", "bob"), at(PARIS));
    expect(paris.body).toMatchObject({ node: "eu-1", region: "eu-west", url: "wss://eu-1.example.test/signal" });
    const sg = await h.post("/v1/join", {}, await joinToken("sg-room", "carol"), at(SINGAPORE));
    expect(sg.body).toMatchObject({ node: "ap-1", region: "ap-south" });
    // Redis holds the mapping and the room record
    expect(await h.ioredis.hget(keys.room("ny-room"), "node")).toBe("us-2");
    expect(await h.ioredis.sismember(keys.nodeRooms("eu-1"), "paris-room")).toBe(1);
    expect(await h.ioredis.zscore(keys.rooms(), "sg-room")).not.toBeNull();
  });

  it("a second client elsewhere joins the same hosting node but signals through its own region", async () => {
    await seed(...CLUSTER);
    const first = await h.post("/v1/join", {}, await joinToken("shared", "alice"), at(NEW_YORK));
    const second = await h.post("/v1/join", {}, await joinToken("shared", "bob"), at(PARIS));
    expect(second.body).toMatchObject({ node: first.body.node, region: "us-east", placement: "existing" });
    expect(second.body.url).toBe("wss://eu-1.example.test/signal");
    // Cascade off (no CASCADE var): the media node is the origin, nothing is reserved for the room.
    for (const r of [first, second])
      expect(r.body.media).toEqual({ node: first.body.node, region: "us-east", role: "origin" });
    expect(await h.ioredis.exists(keys.roomNodes("shared"))).toBe(0);
  });

  it("falls back to DEFAULT_REGION when request.cf has no location", async () => {
    await seed(...CLUSTER);
    const r = await h.post("/v1/join", {}, await joinToken("nowhere", "dan"), { latitude: "", longitude: "" });
    expect(r.body).toMatchObject({ region: "us-east", node: "us-2" });
  });

  it("mints a short-lived media token with LiveKit claims + meridian{node,region}", async () => {
    await seed(...CLUSTER);
    const app = await joinToken("tok", "erin", { canPublish: true, canSubscribe: true });
    const r = await h.post(
      "/v1/join",
      { room: "tok", identity: "erin", grants: { canPublish: false } },
      app,
      at(PARIS),
    );
    expect(r.status).toBe(200);
    const claims = await verifyToken(r.body.token, parseApiKeys(`${h.apiKey}:${h.apiSecret}`), "media");
    expect(claims).toMatchObject({
      iss: h.apiKey,
      sub: "erin",
      video: { roomJoin: true, room: "tok", canPublish: false, canSubscribe: true },
      meridian: { node: "eu-1", region: "eu-west" },
    });
    expect(claims.exp - (claims.iat ?? 0)).toBe(600);
    expect(claims.video.roomCreate).toBeUndefined();
  });

  it("accepts the app token in the body", async () => {
    await seed(...CLUSTER);
    const r = await h.post("/v1/join", { token: await joinToken("body-token", "fay") }, undefined, at(NEW_YORK));
    expect(r).toMatchObject({ status: 200, body: { identity: "fay", node: "us-2" } });
  });

  it("200 concurrent joins to one new room end on exactly one node", async () => {
    // Tokens first: the seeded records live one node TTL (no reports follow), and the joins must all
    // fall inside it even on a loaded machine.
    const tokens = await Promise.all(Array.from({ length: 200 }, (_, i) => joinToken("herd", `user-${i}`)));
    await seed(
      ...CLUSTER,
      { id: "us-3", region: "us-east", sysload: 0.1 },
      { id: "us-4", region: "us-east", sysload: 0.1 },
    );
    const results = await Promise.all(tokens.map((t) => h.post("/v1/join", {}, t, at(NEW_YORK))));
    expect(results.map((r) => r.status)).toEqual(Array(200).fill(200));
    const nodes = new Set(results.map((r) => r.body.node));
    expect(nodes.size).toBe(1);
    expect(results.filter((r) => r.body.placement === "created")).toHaveLength(1);
    const host = [...nodes][0] as string;
    expect(await h.ioredis.hget(keys.room("herd"), "node")).toBe(host);
    const holders = [];
    for (const id of ["us-1", "us-2", "us-3", "us-4", "eu-1", "ap-1"])
      if (await h.ioredis.sismember(keys.nodeRooms(id), "herd")) holders.push(id);
    expect(holders).toEqual([host]);
    expect(await h.ioredis.get(keys.nodeReserved(host))).toBe("1");
  });

  it("a burst of new rooms between two reports spreads over equal nodes (reservations)", async () => {
    await seed({ id: "a", sysload: 0.1 }, { id: "b", sysload: 0.1 }, { id: "c", sysload: 0.1 });
    const placed = await Promise.all(
      Array.from(
        { length: 30 },
        async (_, i) => (await h.post("/v1/join", {}, await joinToken(`burst-${i}`, "u"), at(NEW_YORK))).body.node,
      ),
    );
    const counts = Object.fromEntries(["a", "b", "c"].map((id) => [id, placed.filter((n) => n === id).length]));
    expect(counts).toEqual({ a: 10, b: 10, c: 10 });
    const list = await h.fetch("/v1/nodes", {
      headers: { authorization: `Bearer ${await h.token({ roomList: true })}` },
    });
    expect(list.body.nodes.map((n: { reserved: number }) => n.reserved)).toEqual([10, 10, 10]);
  });

  it("never chooses a DRAINING node for a new room; existing rooms on it keep joining there; gone → re-placed", async () => {
    await seed({ id: "busy", sysload: 0.5 }, { id: "idle", sysload: 0.0 });
    const before = await h.post("/v1/join", {}, await joinToken("old-room", "a"), at(NEW_YORK));
    expect(before.body.node).toBe("idle");
    await seed({ id: "idle", sysload: 0.0, state: "DRAINING" });
    for (let i = 0; i < 10; i++) {
      const r = await h.post("/v1/join", {}, await joinToken(`new-${i}`, "b"), at(NEW_YORK));
      expect(r.body.node).toBe("busy");
    }
    const again = await h.post("/v1/join", {}, await joinToken("old-room", "c"), at(NEW_YORK));
    expect(again.body).toMatchObject({ node: "idle", placement: "existing", url: "wss://busy.example.test/signal" });
    await removeNode(h.runner, "idle");
    const moved = await h.post("/v1/join", {}, await joinToken("old-room", "d"), at(NEW_YORK));
    expect(moved.body).toMatchObject({ node: "busy", placement: "replaced" });
    expect(await h.ioredis.hget(keys.room("old-room"), "node")).toBe("busy");
    expect(await h.ioredis.sismember(keys.nodeRooms("busy"), "old-room")).toBe(1);
  });

  it("never chooses a node with stale stats", async () => {
    await seed(
      { id: "stale", sysload: 0, updatedAt: Date.now() - STATS_FRESHNESS_MS - 100 },
      { id: "fresh", sysload: 0.6 },
    );
    const r = await h.post("/v1/join", {}, await joinToken("fresh-only", "a"), at(NEW_YORK));
    expect(r.body.node).toBe("fresh");
  });

  it("a node that stops reporting is never chosen after its TTL (and leaves no ghost)", async () => {
    const alive = { id: "alive", sysload: 0.6 };
    await seed({ id: "quiet", sysload: 0.0 }, alive);
    const early = await h.post("/v1/join", {}, await joinToken("while-alive", "a"), at(NEW_YORK));
    expect(early.body.node).toBe("quiet");
    // "alive" keeps reporting, "quiet" does not; wait (bounded) for quiet's record to expire
    const deadline = Date.now() + NODE_TTL_MS + 5_000;
    while ((await h.ioredis.exists(keys.node("quiet"))) && Date.now() < deadline) {
      await seed(alive);
      await new Promise((r) => setTimeout(r, 500));
    }
    await seed(alive);
    expect(await h.ioredis.exists(keys.node("quiet"))).toBe(0);
    for (let i = 0; i < 5; i++) {
      const r = await h.post("/v1/join", {}, await joinToken(`after-ttl-${i}`, "b"), at(NEW_YORK));
      expect(r.body.node).toBe("alive");
    }
    // the join swept the ghost from the registry and the selection index
    expect(await h.ioredis.zscore(keys.nodes(), "quiet")).toBeNull();
    expect(await h.ioredis.zscore(keys.sel("us-east", "expiry"), "quiet")).toBeNull();
    // and the room it hosted moves on the next join
    const moved = await h.post("/v1/join", {}, await joinToken("while-alive", "c"), at(NEW_YORK));
    expect(moved.body).toMatchObject({ node: "alive", placement: "replaced" });
  }, 30_000);

  it("no node at all → 503 no_available_nodes", async () => {
    const r = await h.post("/v1/join", {}, await joinToken("empty", "a"), at(NEW_YORK));
    expect(r).toMatchObject({ status: 503, body: { error: { code: "no_available_nodes" } } });
    await seed({ id: "d", state: "DRAINING" });
    expect((await h.post("/v1/join", {}, await joinToken("empty", "a"), at(NEW_YORK))).status).toBe(503);
  });
});

describe("X-Meridian-Client-Location (dev only)", () => {
  const header = (p: { lat: number; lon: number } | string) => ({
    "x-meridian-client-location": typeof p === "string" ? p : `${p.lat},${p.lon}`,
  });
  const joinWith = (target: WorkerHarness, token: string, headers: Record<string, string>) =>
    target.fetch("/v1/join", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}`, ...headers },
      body: "{}",
    });

  it("is ignored unless TRUST_CLIENT_LOCATION=true: request.cf (here none → DEFAULT_REGION) decides", async () => {
    await seed(...CLUSTER);
    const r = await joinWith(h, await joinToken("no-trust", "gus"), header(PARIS));
    expect(r.body).toMatchObject({ region: "us-east", node: "us-2" });
    // Not even a malformed value is looked at.
    expect((await joinWith(h, await joinToken("no-trust", "hal"), header("nowhere"))).status).toBe(200);
  });

  describe("with TRUST_CLIENT_LOCATION=true", () => {
    let dev: WorkerHarness;
    beforeAll(async () => {
      dev = await startWorker({ NODE_SELECTOR: SELECTOR, DEFAULT_REGION: "us-east", TRUST_CLIENT_LOCATION: "true" });
    });
    afterAll(async () => {
      await dev?.close();
    });
    const devToken = (room: string, identity: string) => dev.token({ roomJoin: true, room }, { identity });

    it("places the client where the header says, and a room created by an admin too", async () => {
      for (const s of CLUSTER) await reportNode(dev.runner, nodeRecord(s));
      const paris = await joinWith(dev, await devToken("hdr-paris", "ida"), header(PARIS));
      expect(paris.body).toMatchObject({ region: "eu-west", node: "eu-1", url: "wss://eu-1.example.test/signal" });
      const sg = await joinWith(dev, await devToken("hdr-sg", "jon"), header(" 1.35 , 103.82 "));
      expect(sg.body).toMatchObject({ region: "ap-south", node: "ap-1" });
      const admin = await dev.token({ roomCreate: true });
      const created = await dev.fetch("/v1/rooms", {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${admin}`, ...header(SINGAPORE) },
        body: JSON.stringify({ name: "hdr-created" }),
      });
      expect(created).toMatchObject({ status: 201, body: { region: "ap-south" } });
    });

    it.each(["abc", "40.7", "40.7,-74,1", "91,0", "0,181", "1e3,2", "NaN,NaN", "40.7;-74.0"])(
      "a malformed value %j is a 400 bad_request, never a 500",
      async (value) => {
        const r = await joinWith(dev, await devToken("hdr-bad", "kim"), header(value));
        expect(r).toMatchObject({ status: 400, body: { error: { code: "bad_request" } } });
        expect(r.body.error.message).toContain("x-meridian-client-location");
      },
    );
  });
});

describe("room API", () => {
  const admin = (video: Record<string, unknown>) => h.token(video).then((t) => ({ authorization: `Bearer ${t}` }));

  it("create, conflict, get, list, participants, delete (with bus message), 404 after", async () => {
    await seed(...CLUSTER);
    const create = await admin({ roomCreate: true });
    const made = await h.post(
      "/v1/rooms",
      { name: "board", maxParticipants: 5, metadata: "m", region: "eu-west" },
      create.authorization.slice(7),
    );
    expect(made).toMatchObject({
      status: 201,
      body: { name: "board", node: "eu-1", region: "eu-west", maxParticipants: 5, emptyTimeout: 300, metadata: "m" },
    });
    expect((await h.post("/v1/rooms", { name: "board" }, create.authorization.slice(7))).status).toBe(409);

    const list = await admin({ roomList: true });
    const got = await h.fetch("/v1/rooms/board", { headers: list });
    expect(got).toMatchObject({ status: 200, body: { name: "board", node: "eu-1", numParticipants: 0 } });
    await upsertParticipant(
      h.runner,
      "board",
      { identity: "p1", sid: "PA_1", joinedAt: 1, signalNode: "eu-1", tracks: [] },
      "eu-1",
    );
    expect((await h.fetch("/v1/rooms/board", { headers: list })).body.numParticipants).toBe(1);
    // Two more: one bridged in through us-1, and a record the node could not have written (skipped).
    await upsertParticipant(
      h.runner,
      "board",
      { identity: "p2", sid: "PA_2", joinedAt: 1, signalNode: "us-1", tracks: [] },
      "eu-1",
    );
    await h.ioredis.hset(keys.roomParticipants("board"), "p3", "{not json");
    expect((await h.fetch("/v1/rooms/board", { headers: list })).body).toMatchObject({
      numParticipants: 3,
      signalNodes: [
        { node: "eu-1", participants: 1 },
        { node: "us-1", participants: 1 },
      ],
    });
    await h.post("/v1/join", {}, await joinToken("second", "x"), at(NEW_YORK));
    const all = await h.fetch("/v1/rooms", { headers: list });
    expect(all.body.rooms.map((r: { name: string }) => r.name)).toEqual(["board", "second"]);
    expect(all.body.rooms.map((r: { signalNodes: unknown[] }) => r.signalNodes.length)).toEqual([2, 0]);
    expect((await h.fetch("/v1/rooms?limit=1", { headers: list })).body.rooms).toHaveLength(1);

    // JSON, but not a participant record: skipped like the one that is not JSON (records.ts)
    await h.ioredis.hset(keys.roomParticipants("board"), "p4", JSON.stringify({ identity: "p4", tracks: "none" }));
    const parts = await h.fetch("/v1/rooms/board/participants", {
      headers: await admin({ roomAdmin: true, room: "board" }),
    });
    expect(parts).toMatchObject({
      status: 200,
      body: {
        room: "board",
        participants: expect.arrayContaining([
          { identity: "p1", sid: "PA_1", joinedAt: 1, signalNode: "eu-1", tracks: [] },
        ]),
      },
    });
    expect(parts.body.participants.map((p: { identity: string }) => p.identity).sort()).toEqual(["p1", "p2"]);
    expect(
      (await h.fetch("/v1/rooms/board/participants", { headers: await admin({ roomAdmin: true, room: "other" }) }))
        .status,
    ).toBe(403);

    const nodes = await h.fetch("/v1/nodes", { headers: list });
    expect(nodes.body.nodes.map((n: { id: string }) => n.id).sort()).toEqual(["ap-1", "eu-1", "us-1", "us-2"]);
    expect(nodes.body.nodes.find((n: { id: string }) => n.id === "eu-1")).toMatchObject({
      region: "eu-west",
      stats: { sysload: 0.3 },
      reserved: 1,
    });

    const sub = new Redis(h.redis.port, "127.0.0.1");
    const message = new Promise<string>((resolve) => sub.on("message", (_c, m: string) => resolve(m)));
    await sub.subscribe(keys.nodeBus("eu-1"));
    const del = await h.fetch("/v1/rooms/board", { method: "DELETE", headers: create });
    expect(del).toEqual({ status: 200, body: { room: "board", node: "eu-1" } });
    // Sealed by the Worker (WebCrypto) for eu-1's channel, opened by a node's verifier (node:crypto).
    const opened = new BusAuth(new Map([[h.apiKey, h.apiSecret]]), "eu-1").open(keys.nodeBus("eu-1"), await message);
    expect(typeof opened === "string" ? opened : { from: opened.from, msg: JSON.parse(opened.payload) }).toEqual({
      from: CONTROL_PLANE,
      msg: { type: "room.delete", room: "board" },
    });
    sub.disconnect();
    expect((await h.fetch("/v1/rooms/board", { headers: list })).status).toBe(404);
    expect((await h.fetch("/v1/rooms/board", { method: "DELETE", headers: create })).status).toBe(404);
    expect((await h.fetch("/v1/rooms/board/participants", { headers: await admin({ roomAdmin: true }) })).status).toBe(
      404,
    );
    expect(await h.ioredis.exists(keys.roomParticipants("board"))).toBe(0);
    expect(await h.ioredis.sismember(keys.nodeRooms("eu-1"), "board")).toBe(0);
  });
});

describe("bad input and bad tokens → documented 4xx", () => {
  it.each([
    ["not JSON", "{", 400],
    ["unknown field", JSON.stringify({ name: "r", colour: "red" }), 400],
    ["missing name", JSON.stringify({ maxParticipants: 1 }), 400],
    ["wrong type", JSON.stringify({ name: 42 }), 400],
    ["negative limit", JSON.stringify({ name: "r", maxParticipants: -1 }), 400],
    ["name too long", JSON.stringify({ name: "x".repeat(257) }), 400],
    ["control character", JSON.stringify({ name: "a\u0001b" }), 400],
    ["unknown region", JSON.stringify({ name: "r", region: "mars" }), 400],
    ["array", "[]", 400],
  ])("create room: %s", async (_n, body, status) => {
    await seed(...CLUSTER);
    const r = await h.post("/v1/rooms", body, await h.token({ roomCreate: true }));
    expect(r.status).toBe(status);
    expect(r.body.error.code).toBe("bad_request");
    expect(typeof r.body.error.message).toBe("string");
  });

  it("create room: non-JSON content type → 415 bad_request", async () => {
    const r = await h.fetch("/v1/rooms", {
      method: "POST",
      headers: { "content-type": "text/plain", authorization: `Bearer ${await h.token({ roomCreate: true })}` },
      body: "name=r",
    });
    expect(r).toMatchObject({ status: 415, body: { error: { code: "bad_request" } } });
  });

  it.each([
    ["bad limit", "/v1/rooms?limit=0"],
    ["huge limit", "/v1/rooms?limit=99999"],
  ])("list rooms: %s → 400", async (_n, path) => {
    const r = await h.fetch(path, { headers: { authorization: `Bearer ${await h.token({ roomList: true })}` } });
    expect(r).toMatchObject({ status: 400, body: { error: { code: "bad_request" } } });
  });

  it.each([
    ["unknown field", { token: "x", evil: true }],
    ["wrong grant type", { grants: { canPublish: "yes" } }],
    ["unknown grant", { grants: { roomAdmin: true } }],
    ["empty room", { room: "" }],
  ])("join body: %s → 400", async (_n, body) => {
    const r = await h.post("/v1/join", body, await joinToken("r", "a"));
    expect(r).toMatchObject({ status: 400, body: { error: { code: "bad_request" } } });
  });

  it("tokens: missing, malformed, forged, unknown key, expired → 401", async () => {
    await seed(...CLUSTER);
    const now = Math.floor(Date.now() / 1000);
    const cases: [string, Record<string, string>][] = [
      ["missing", {}],
      ["not bearer", { authorization: "Basic abc" }],
      ["not a JWT", { authorization: "Bearer nope" }],
      [
        "forged",
        {
          authorization: `Bearer ${await h.token({ roomJoin: true, room: "r" }, { identity: "a", secret: "not-the-secret" })}`,
        },
      ],
      [
        "expired",
        {
          authorization: `Bearer ${await h.token({ roomJoin: true, room: "r" }, { identity: "a", now: now - 7200, ttlSeconds: 600 })}`,
        },
      ],
    ];
    const { mintToken } = await import("#shared/token.ts");
    cases.push([
      "unknown key",
      {
        authorization: `Bearer ${await mintToken({ apiKey: "who", apiSecret: "x", video: { roomJoin: true, room: "r" }, identity: "a", ttlSeconds: 60 })}`,
      },
    ]);
    for (const [name, headers] of cases) {
      for (const path of ["/v1/join", "/v1/rooms"]) {
        const r = await h.fetch(path, { method: path === "/v1/join" ? "POST" : "GET", headers });
        expect({ name, path, status: r.status, code: r.body.error?.code }).toEqual({
          name,
          path,
          status: 401,
          code: "unauthorized",
        });
      }
    }
  });

  it("tokens without the right grant → 403", async () => {
    await seed(...CLUSTER);
    const cases: [string, string, string, unknown][] = [
      ["join token on admin route", "GET", "/v1/rooms", undefined],
      ["join token creating a room", "POST", "/v1/rooms", { name: "x" }],
      ["roomList token deleting", "DELETE", "/v1/rooms/x", undefined],
    ];
    const jt = await joinToken("r", "a");
    for (const [name, method, path, body] of cases) {
      const token = name.startsWith("roomList") ? await h.token({ roomList: true }) : jt;
      const r = await h.fetch(path, {
        method,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      expect({ name, status: r.status, code: r.body.error?.code }).toEqual({ name, status: 403, code: "forbidden" });
    }
    const joins: [string, string, unknown][] = [
      ["no roomJoin", await h.token({ roomList: true, room: "r" }, { identity: "a" }), {}],
      ["no room", await h.token({ roomJoin: true }, { identity: "a" }), {}],
      ["no identity", await h.token({ roomJoin: true, room: "r" }), {}],
      ["other room", await joinToken("r", "a"), { room: "s" }],
      ["other identity", await joinToken("r", "a"), { identity: "b" }],
      ["widening canPublish", await joinToken("r", "a", { canPublish: false }), { grants: { canPublish: true } }],
      [
        "widening sources",
        await joinToken("r", "a", { canPublishSources: ["camera"] }),
        { grants: { canPublishSources: ["screen_share"] } },
      ],
      // [] is LiveKit's "every source" (the node reads it so): not a subset of ["microphone"] (issue 12 #4)
      [
        "widening sources to all ([])",
        await joinToken("r", "a", { canPublishSources: ["microphone"] }),
        { grants: { canPublishSources: [] } },
      ],
      ["becoming hidden", await joinToken("r", "a"), { grants: { hidden: true } }],
    ];
    for (const [name, token, body] of joins) {
      const r = await h.post("/v1/join", body, token, at(NEW_YORK));
      expect({ name, status: r.status, code: r.body.error?.code }).toEqual({ name, status: 403, code: "forbidden" });
    }
  });
});

describe("Redis outage", () => {
  it("answers 503 redis_unavailable while Redis is down, and recovers", async () => {
    await seed(...CLUSTER);
    const jt = await joinToken("outage", "a");
    const lt = await h.token({ roomList: true });
    await h.redis.stop();
    const join = await h.post("/v1/join", {}, jt, at(NEW_YORK));
    expect(join).toMatchObject({ status: 503, body: { error: { code: "redis_unavailable" } } });
    expect(join.body.error.message).toMatch(/Redis is unreachable/);
    for (const path of ["/v1/rooms", "/v1/nodes", "/v1/rooms/outage"]) {
      const r = await h.fetch(path, { headers: { authorization: `Bearer ${lt}` } });
      expect({ path, status: r.status, code: r.body.error?.code }).toEqual({
        path,
        status: 503,
        code: "redis_unavailable",
      });
    }
    // bad input is still a 4xx, not a 503: validation and auth never need Redis
    expect((await h.post("/v1/join", { evil: 1 }, jt)).status).toBe(400);
    expect((await h.post("/v1/join", {}, "forged")).status).toBe(401);
    await h.redis.restart();
    let r = join;
    for (let i = 0; i < 50 && r.status !== 200; i++) {
      await seed(...CLUSTER).catch(() => undefined);
      r = await h.post("/v1/join", {}, jt, at(NEW_YORK));
      if (r.status !== 200) await new Promise((res) => setTimeout(res, 100));
    }
    expect(r).toMatchObject({ status: 200, body: { node: "us-2" } });
  });

  it("after Redis came back empty under running nodes: 503 registry_warming + Retry-After for unmapped rooms, 200 for re-claimed ones", async () => {
    // Nodes up for a minute before this (empty) registry's first report: Redis restarted under them.
    for (const s of CLUSTER) await reportNode(h.runner, { ...nodeRecord(s), startedAt: Date.now() - 60_000 });
    await claimRoom(h.runner, "kept", { id: "eu-1", region: "eu-west" }, false);
    const res = await h.mf.dispatchFetch(`${ORIGIN}/v1/join`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${await joinToken("lost", "a")}` },
      body: "{}",
    });
    const body = (await res.json()) as { error: { code: string; details: { retryAfterMs: number } } };
    expect({ status: res.status, code: body.error.code }).toEqual({ status: 503, code: "registry_warming" });
    const retryAfter = Number(res.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(Math.ceil(REGISTRY_WARMUP_MS / 1000));
    expect(body.error.details.retryAfterMs).toBeLessThanOrEqual(REGISTRY_WARMUP_MS);
    expect(await h.ioredis.exists(keys.room("lost"))).toBe(0);
    const kept = await h.post("/v1/join", {}, await joinToken("kept", "b"), at(PARIS));
    expect(kept).toMatchObject({ status: 200, body: { node: "eu-1", placement: "existing" } });
  });
});
