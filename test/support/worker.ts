// The real control-plane Worker under the Miniflare API, against a real redis-server through the
// Upstash REST bridge. One per test file.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { build } from "esbuild";
import type { Redis } from "ioredis";
import { Miniflare, type RequestInit as MfRequestInit } from "miniflare";
import type { Env } from "../../control-plane/src/env.ts";
import { startBridge, type Bridge } from "../../infra/upstash-bridge/server.ts";
import { ioredisRunner } from "../../shared/redis-ioredis.ts";
import type { ScriptRunner } from "../../shared/redis-runner.ts";
import { mintToken, type VideoGrant } from "../../shared/token.ts";
import { TestRedis } from "./redis.ts";

/** Bundles a Worker entry the way wrangler does (esbuild, workerd export conditions). */
export async function bundleWorkerEntry(entry: string): Promise<string> {
  const r = await build({
    entryPoints: [entry],
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["module", "main"],
    write: false,
    logLevel: "silent",
  });
  return r.outputFiles[0]!.text;
}

let bundle: Promise<string> | undefined;

/** The control-plane Worker, bundled once per process. */
export function bundleWorker(): Promise<string> {
  bundle ??= bundleWorkerEntry(new URL("../../control-plane/src/index.ts", import.meta.url).pathname);
  return bundle;
}

export interface CfInit extends Omit<MfRequestInit, "body"> {
  body?: string;
  cf?: { latitude?: string; longitude?: string };
}

export interface WorkerHarness {
  mf: Miniflare;
  redis: TestRedis;
  bridge: Bridge;
  ioredis: Redis;
  runner: ScriptRunner;
  apiKey: string;
  apiSecret: string;
  fetch(path: string, init?: CfInit): Promise<{ status: number; body: any }>;
  /** POST JSON helper. */
  post(path: string, body: unknown, token?: string, cf?: CfInit["cf"]): Promise<{ status: number; body: any }>;
  token(video: VideoGrant, o?: { identity?: string; ttlSeconds?: number; secret?: string; now?: number }): Promise<string>;
  close(): Promise<void>;
}

export const ORIGIN = "http://control-plane.test";

/** wrangler.toml's compatibility_date, so tests run what deploys. */
export const COMPATIBILITY_DATE = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(
  readFileSync(new URL("../../wrangler.toml", import.meta.url), "utf8"),
)![1]!;

export async function startWorker(vars: Partial<Env> = {}): Promise<WorkerHarness> {
  const [script, redis] = await Promise.all([bundleWorker(), TestRedis.start()]);
  const restToken = randomBytes(16).toString("hex");
  const bridge = await startBridge({ redisUrl: redis.url, token: restToken });
  const apiKey = "testkey";
  const apiSecret = randomBytes(24).toString("hex");
  const bindings: Record<string, string> = {
    API_KEYS: `${apiKey}:${apiSecret}`,
    UPSTASH_REDIS_REST_URL: bridge.url,
    UPSTASH_REDIS_REST_TOKEN: restToken,
    ...(vars as Record<string, string>),
  };
  const mf = new Miniflare({ modules: true, script, compatibilityDate: COMPATIBILITY_DATE, bindings });
  await mf.ready;
  const ioredis = redis.client();
  ioredis.on("error", () => undefined); // outage tests stop Redis on purpose

  const h: WorkerHarness = {
    mf,
    redis,
    bridge,
    ioredis,
    runner: ioredisRunner(ioredis),
    apiKey,
    apiSecret,
    async fetch(path, init = {}) {
      const res = await mf.dispatchFetch(ORIGIN + path, init as MfRequestInit);
      const text = await res.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        /* not JSON: keep the text */
      }
      return { status: res.status, body };
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
      await bridge.close();
      await redis.stop();
    },
  };
  return h;
}
