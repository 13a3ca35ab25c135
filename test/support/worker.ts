// The real control-plane Worker under the Miniflare API (infra/local/worker.ts), against a real
// redis-server through the Upstash REST stand-in. One per test file.
import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import type { Miniflare, RequestInit as MfRequestInit } from "miniflare";
import type { Env } from "../../control-plane/src/env.ts";
import { readResponse, startLocalWorker } from "../../infra/local/worker.ts";
import { startUpstashRest, type UpstashRest } from "../../infra/upstash-rest/server.ts";
import { ioredisRunner } from "#shared/redis/ioredis.ts";
import type { ScriptRunner } from "#shared/redis/runner.ts";
import { mintToken, type VideoGrant } from "#shared/token.ts";
import { TestRedis } from "./redis.ts";

export { COMPATIBILITY_DATE, bundleWorker, bundleWorkerEntry } from "../../infra/local/worker.ts";

export interface CfInit extends Omit<MfRequestInit, "body"> {
  body?: string;
  cf?: { latitude?: string; longitude?: string };
}

export interface WorkerHarness {
  mf: Miniflare;
  redis: TestRedis;
  upstashRest: UpstashRest;
  ioredis: Redis;
  runner: ScriptRunner;
  apiKey: string;
  apiSecret: string;
  fetch(path: string, init?: CfInit): Promise<{ status: number; body: any }>;
  /** POST JSON helper. */
  post(path: string, body: unknown, token?: string, cf?: CfInit["cf"]): Promise<{ status: number; body: any }>;
  token(
    video: VideoGrant,
    o?: { identity?: string; ttlSeconds?: number; secret?: string; now?: number },
  ): Promise<string>;
  close(): Promise<void>;
}

export const ORIGIN = "http://control-plane.test";

export async function startWorker(vars: Partial<Env> = {}): Promise<WorkerHarness> {
  const redis = await TestRedis.start();
  const restToken = randomBytes(16).toString("hex");
  const upstashRest = await startUpstashRest({ redisUrl: redis.url, token: restToken });
  const apiKey = "testkey";
  const apiSecret = randomBytes(24).toString("hex");
  const bindings: Env = {
    API_KEYS: `${apiKey}:${apiSecret}`,
    UPSTASH_REDIS_REST_URL: upstashRest.url,
    UPSTASH_REDIS_REST_TOKEN: restToken,
    ...vars,
  };
  const { mf } = await startLocalWorker({ bindings });
  const ioredis = redis.client();
  ioredis.on("error", () => undefined); // outage tests stop Redis on purpose

  const h: WorkerHarness = {
    mf,
    redis,
    upstashRest,
    ioredis,
    runner: ioredisRunner(ioredis),
    apiKey,
    apiSecret,
    async fetch(path, init = {}) {
      return readResponse(await mf.dispatchFetch(ORIGIN + path, init as MfRequestInit));
    },
    post(path, body, token, cf) {
      return h.fetch(path, {
        method: "POST",
        headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: typeof body === "string" ? body : JSON.stringify(body),
        ...(cf ? { cf } : {}),
      });
    },
    token(video, o = {}) {
      return mintToken({
        apiKey,
        apiSecret: o.secret ?? apiSecret,
        video,
        ttlSeconds: o.ttlSeconds ?? 600,
        ...(o.identity !== undefined ? { identity: o.identity } : {}),
        ...(o.now !== undefined ? { now: o.now } : {}),
      });
    },
    async close() {
      await mf.dispose();
      ioredis.disconnect();
      await upstashRest.close();
      await redis.stop();
    },
  };
  return h;
}
