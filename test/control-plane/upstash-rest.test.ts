// The Upstash REST stand-in against a real redis-server, driven by the real @upstash/redis client.
import { Redis as Upstash } from "@upstash/redis";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startUpstashRest, type UpstashRest } from "../../infra/upstash-rest/server.ts";
import { SCRIPTS } from "#shared/redis/scripts.ts";
import { keys } from "#shared/keys.ts";
import { TestRedis } from "../support/redis.ts";

const TOKEN = "upstash-rest-test-token";
/** A script of the test's own, allowed next to the project's (createScript's EVALSHA → EVAL). */
const ECHO = "return ARGV[1] .. KEYS[1]";
/** Nested replies, through an allowed script. */
const HGETALL = "return { redis.call('HGETALL', KEYS[1]), redis.call('HLEN', KEYS[1]) }";
let redis: TestRedis;
let io: Redis;
let upstashRest: UpstashRest;

beforeAll(async () => {
  redis = await TestRedis.start();
  io = redis.client();
  io.on("error", () => undefined); // the outage test stops Redis
  upstashRest = await startUpstashRest({
    redisUrl: redis.url,
    token: TOKEN,
    scripts: [...Object.values(SCRIPTS).map((s) => s.lua), ECHO, HGETALL],
  });
});
afterAll(async () => {
  io?.disconnect();
  await upstashRest?.close();
  await redis?.stop();
});

const client = (o: { token?: string; base64?: boolean; autoPipeline?: boolean } = {}) =>
  new Upstash({
    url: upstashRest.url,
    token: o.token ?? TOKEN,
    retry: false,
    automaticDeserialization: false,
    enableAutoPipelining: o.autoPipeline ?? false,
    ...(o.base64 === false ? { responseEncoding: false } : {}),
  });

async function raw(path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(upstashRest.url + path, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as unknown };
}

describe("upstash rest", () => {
  it("round-trips unicode and binary-ish strings with and without base64", async () => {
    for (const base64 of [true, false]) {
      const v = `héllo ✓ "quoted" ${base64}`;
      await io.set("k:uni", v);
      expect(await client({ base64 }).get("k:uni")).toBe(v);
    }
  });

  it("encodes nested replies in base64 and leaves numbers/null alone", async () => {
    await io.del("h");
    await io.hset("h", "a", "1", "b", "two");
    const r = await raw("/", ["EVAL", HGETALL, 1, "h"], { "upstash-encoding": "base64" });
    expect(r).toEqual({
      status: 200,
      body: { result: [["a", "1", "b", "two"].map((s) => Buffer.from(s).toString("base64")), 2] },
    });
    expect(await raw("/", ["GET", "missing"], { "upstash-encoding": "base64" })).toEqual({
      status: 200,
      body: { result: null },
    });
  });

  it("serves /pipeline (auto-pipelining client) with per-command errors", async () => {
    await io.set("p:a", "1");
    await io.set("p:b", "2");
    const c = client({ autoPipeline: true });
    expect(await Promise.all([c.get("p:a"), c.get("p:b"), c.ping()])).toEqual(["1", "2", "PONG"]);
    expect(upstashRest.stats.requests).toBeGreaterThan(0);
    const r = await raw("/pipeline", [
      ["GET", "p:a"],
      ["GET", "h"],
      ["GET", "p:b"],
    ]);
    expect(r.status).toBe(200);
    expect(r.body).toEqual([{ result: "1" }, { error: expect.stringMatching(/^WRONGTYPE/) }, { result: "2" }]);
  });

  it("serves /multi-exec transactionally; a rejected queued command aborts with 400", async () => {
    const tx = client().multi();
    tx.get("p:a");
    tx.ping();
    expect(await tx.exec()).toEqual(["1", "PONG"]);
    const bad = await raw("/multi-exec", [["GET", "p:a"], ["GET"]]);
    expect(bad.status).toBe(400);
    expect(String((bad.body as { error: string }).error)).toMatch(/EXECABORT/);
  });

  it("runs scripts: EVALSHA NOSCRIPT then EVAL, as createScript does", async () => {
    await io.script("FLUSH");
    const s = client().createScript<string>(ECHO);
    expect(await s.exec(["k"], ["v-"])).toBe("v-k");
    expect(await s.exec(["k2"], ["v-"])).toBe("v-k2");
  });

  it("answers 401 for a missing or wrong token, 400 for bad requests and Redis errors", async () => {
    await expect(client({ token: "wrong" }).get("x")).rejects.toThrow(/Unauthorized/);
    const noAuth = await fetch(`${upstashRest.url}/`, { method: "POST", body: '["GET","x"]' });
    expect(noAuth.status).toBe(401);
    expect((await raw("/", { not: "a command" })).status).toBe(400);
    expect((await raw("/", [])).status).toBe(400);
    expect((await raw("/pipeline", [["GET", "x"], "oops"])).status).toBe(400);
    expect(await raw("/", ["GET", "h"])).toMatchObject({
      status: 400,
      body: { error: expect.stringMatching(/^WRONGTYPE/) },
    });
    const notJson = await fetch(`${upstashRest.url}/`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}` },
      body: "{",
    });
    expect(notJson.status).toBe(400);
  });

  it("runs only what the control plane sends: every other command is refused with 400, also in /pipeline and /multi-exec", async () => {
    await io.set("survivor", "still here");
    const refused: (string | number)[][] = [
      ["HELLO", 3],
      ["SYNC"],
      ["PSYNC", "?", -1],
      ["FLUSHALL"],
      ["FLUSHDB"],
      ["SWAPDB", 0, 1],
      ["CONFIG", "SET", "maxmemory", "1"],
      ["SAVE"],
      ["BGSAVE"],
      ["KEYS", "*"],
      ["SCAN", 0],
      ["SCRIPT", "FLUSH"],
      ["MONITOR"],
      ["SUBSCRIBE", "c"],
      ["BLPOP", "q", 0],
      ["SELECT", 1],
      ["CLIENT", "KILL", "TYPE", "normal"],
      ["DEBUG", "SLEEP", 1],
      ["SHUTDOWN"],
      ["SET", "survivor", "gone"],
      ["DEL", "survivor"],
      ["EVAL", "return redis.call('FLUSHALL')", 0],
      ["EVALSHA", "0".repeat(40), 0],
      ["eval", "x".repeat(200_000), 0],
      ["FUNCTION", "FLUSH"],
    ];
    for (const cmd of refused) {
      const one = await raw("/", cmd);
      expect(one, String(cmd[0])).toMatchObject({
        status: 400,
        body: { error: expect.stringMatching(/not allowed|only the control plane/) },
      });
      expect((await raw("/pipeline", [["PING"], cmd])).status, `pipeline ${cmd[0]}`).toBe(400);
      expect((await raw("/multi-exec", [["PING"], cmd])).status, `multi-exec ${cmd[0]}`).toBe(400);
    }
    expect(await io.get("survivor")).toBe("still here");
    expect(await io.dbsize()).toBeGreaterThan(0);
    expect(
      (
        await raw(
          "/pipeline",
          Array.from({ length: 101 }, () => ["PING"]),
        )
      ).status,
    ).toBe(400);
    const huge = await fetch(`${upstashRest.url}/`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify(["GET", "x".repeat(2 * 1024 * 1024)]),
    });
    expect(huge.status).toBe(400);
  });

  it("BLPOP on a RoomService reply list holds its own connection: others are served meanwhile; elsewhere refused", async () => {
    const key = keys.rpcReply(crypto.randomUUID());
    const waiting = raw("/", ["BLPOP", key, 5]);
    expect(await raw("/", ["PING"])).toMatchObject({ status: 200, body: { result: "PONG" } });
    await io.rpush(key, "the reply");
    expect(await waiting).toMatchObject({ status: 200, body: { result: [key, "the reply"] } });
    expect(await raw("/", ["BLPOP", key, 0.05])).toMatchObject({ status: 200, body: { result: null } });
    for (const bad of [
      ["BLPOP", "meridian:room:x", 1],
      ["BLPOP", key, 0],
      ["BLPOP", key, 11],
      ["BLPOP", key, key, 1],
    ])
      expect(await raw("/", bad), JSON.stringify(bad)).toMatchObject({ status: 400 });
    expect((await raw("/pipeline", [["BLPOP", key, 1]])).status).toBe(400);
  });

  it("HELLO 3 spam does not break anyone else's requests", async () => {
    await io.set("steady", "v");
    const c = client();
    let refused = 0;
    const spam = (async () => {
      for (let i = 0; i < 40; i++) {
        if ((await raw("/", ["HELLO", 3])).status === 400) refused++;
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const answers = await Promise.allSettled(
      Array.from({ length: 60 }, async (_, i) => {
        await new Promise((r) => setTimeout(r, i));
        return Promise.all([c.get("steady"), c.createScript<string>(ECHO).exec(["k"], [String(i)])]);
      }),
    );
    await spam;
    const failed = answers
      .filter((a) => a.status === "rejected")
      .map((a) => String((a as PromiseRejectedResult).reason).slice(0, 80));
    expect(failed, failed.slice(0, 3).join("; ")).toEqual([]);
    expect(refused).toBe(40);
    expect(answers.map((a) => (a as PromiseFulfilledResult<unknown>).value)).toEqual(
      Array.from({ length: 60 }, (_, i) => ["v", `${i}k`]),
    );
  });

  it("answers 503 while Redis is down and recovers when it is back", async () => {
    await redis.stop();
    const down = await raw("/", ["PING"]);
    expect(down.status).toBe(503);
    expect(String((down.body as { error: string }).error)).toMatch(/unreachable/);
    expect((await raw("/pipeline", [["PING"]])).status).toBe(503);
    await redis.restart();
    let up = { status: 0, body: null as unknown };
    for (let i = 0; i < 100 && up.status !== 200; i++) {
      up = await raw("/", ["PING"]);
      if (up.status !== 200) await new Promise((r) => setTimeout(r, 50));
    }
    expect(up).toEqual({ status: 200, body: { result: "PONG" } });
  });
});
