// The Upstash REST bridge against a real redis-server, driven by the real @upstash/redis client.
import { Redis as Upstash } from "@upstash/redis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBridge, type Bridge } from "../../infra/upstash-rest/server.ts";
import { TestRedis } from "../support/redis.ts";

const TOKEN = "bridge-test-token";
let redis: TestRedis;
let bridge: Bridge;

beforeAll(async () => {
  redis = await TestRedis.start();
  bridge = await startBridge({ redisUrl: redis.url, token: TOKEN });
});
afterAll(async () => {
  await bridge?.close();
  await redis?.stop();
});

const client = (o: { token?: string; base64?: boolean; autoPipeline?: boolean } = {}) =>
  new Upstash({
    url: bridge.url,
    token: o.token ?? TOKEN,
    retry: false,
    automaticDeserialization: false,
    enableAutoPipelining: o.autoPipeline ?? false,
    ...(o.base64 === false ? { responseEncoding: false } : {}),
  });

async function raw(path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(bridge.url + path, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as unknown };
}

describe("upstash bridge", () => {
  it("round-trips unicode and binary-ish strings with and without base64", async () => {
    for (const base64 of [true, false]) {
      const c = client({ base64 });
      const v = `héllo ✓ "quoted" ${base64}`;
      await c.set("k:uni", v);
      expect(await c.get("k:uni")).toBe(v);
    }
  });

  it("encodes nested replies in base64 and leaves numbers/null alone", async () => {
    await raw("/", ["DEL", "h"]);
    await raw("/", ["HSET", "h", "a", "1", "b", "two"]);
    const r = await raw("/", ["HGETALL", "h"], { "upstash-encoding": "base64" });
    expect(r).toEqual({ status: 200, body: { result: ["a", "1", "b", "two"].map((s) => Buffer.from(s).toString("base64")) } });
    expect(await raw("/", ["HLEN", "h"], { "upstash-encoding": "base64" })).toEqual({ status: 200, body: { result: 2 } });
    expect(await raw("/", ["GET", "missing"], { "upstash-encoding": "base64" })).toEqual({ status: 200, body: { result: null } });
  });

  it("hgetall through the client (no auto-deserialization) returns the flat reply", async () => {
    expect(await client().hgetall("h")).toEqual(["a", "1", "b", "two"]);
  });

  it("serves /pipeline (auto-pipelining client) with per-command errors", async () => {
    const c = client({ autoPipeline: true });
    await c.del("p:n");
    expect(await Promise.all([c.set("p:a", "1"), c.incr("p:n"), c.incr("p:n")])).toEqual(["OK", 1, 2]);
    expect(bridge.stats.requests).toBeGreaterThan(0);
    const p = client().pipeline();
    p.set("p:s", "x");
    p.incr("p:s");
    p.get("p:s");
    await expect(p.exec()).rejects.toThrow(/not an integer/);
    const r = await raw("/pipeline", [["SET", "p:t", "x"], ["INCR", "p:t"], ["GET", "p:t"]]);
    expect(r.status).toBe(200);
    expect(r.body).toEqual([{ result: "OK" }, { error: "ERR value is not an integer or out of range" }, { result: "x" }]);
  });

  it("serves /multi-exec transactionally; a rejected queued command aborts with 400", async () => {
    const tx = client().multi();
    tx.set("m:a", "1");
    tx.incrby("m:a", 41);
    expect(await tx.exec()).toEqual(["OK", 42]);
    const bad = await raw("/multi-exec", [["SET", "m:b", "1"], ["SET", "m:b"]]);
    expect(bad.status).toBe(400);
    expect(String((bad.body as { error: string }).error)).toMatch(/EXECABORT/);
    expect(await raw("/", ["EXISTS", "m:b"])).toEqual({ status: 200, body: { result: 0 } });
  });

  it("runs scripts: EVALSHA NOSCRIPT then EVAL, as createScript does", async () => {
    const s = client().createScript<string>("return ARGV[1] .. KEYS[1]");
    expect(await s.exec(["k"], ["v-"])).toBe("v-k");
    expect(await s.exec(["k2"], ["v-"])).toBe("v-k2");
  });

  it("answers 401 for a missing or wrong token, 400 for bad requests and Redis errors", async () => {
    await expect(client({ token: "wrong" }).get("x")).rejects.toThrow(/Unauthorized/);
    const noAuth = await fetch(`${bridge.url}/`, { method: "POST", body: '["GET","x"]' });
    expect(noAuth.status).toBe(401);
    expect((await raw("/", { not: "a command" })).status).toBe(400);
    expect((await raw("/", [])).status).toBe(400);
    expect((await raw("/pipeline", [["GET", "x"], "oops"])).status).toBe(400);
    expect(await raw("/", ["NOSUCHCMD"])).toMatchObject({ status: 400 });
    expect(await raw("/", ["BLPOP", "q", "0"])).toMatchObject({ status: 400 });
    expect(await raw("/", ["SUBSCRIBE", "c"])).toMatchObject({ status: 400 });
    const notJson = await fetch(`${bridge.url}/`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}` }, body: "{" });
    expect(notJson.status).toBe(400);
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
