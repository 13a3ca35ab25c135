// The Worker's Redis: @upstash/redis (HTTP) wrapped as the shared ScriptRunner. Every Redis
// access of the Worker is a script through this runner, so "Redis is down" is detected in one
// place and becomes a 503.
import { Redis, errors } from "@upstash/redis/cloudflare";
import { scriptArgv, type RedisScript, type ScriptRunner } from "#shared/redis/runner.ts";
import { redisUnavailable } from "./errors.ts";
import type { Settings } from "./env.ts";

const shas = new WeakMap<RedisScript, Promise<string>>();

async function sha1Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function shaOf(script: RedisScript): Promise<string> {
  let sha = shas.get(script);
  if (!sha) {
    sha = sha1Hex(script.lua);
    shas.set(script, sha);
  }
  return sha;
}

const { UpstashError } = errors;

/** Redis answered with an error reply (a bug in a script or a command): not an outage. */
const REDIS_REPLY = /^(ERR|WRONGTYPE|NOSCRIPT|EXECABORT)\b/;

function classify(e: unknown): Error {
  if (e instanceof UpstashError && REDIS_REPLY.test(e.message)) return e;
  const msg = e instanceof Error ? e.message.split(", command was:")[0]! : String(e);
  return redisUnavailable(msg.slice(0, 200));
}

export function upstashRunner(redis: Redis): ScriptRunner {
  return {
    async run(script, keys, args) {
      const argv = scriptArgv(args);
      try {
        try {
          return await redis.evalsha(await shaOf(script), keys, argv);
        } catch (e) {
          if (!(e instanceof UpstashError) || !e.message.includes("NOSCRIPT")) throw e;
          return await redis.eval(script.lua, keys, argv);
        }
      } catch (e) {
        throw classify(e);
      }
    },
  };
}

/** The Worker's @upstash/redis client (also used by bench/join-latency's bare-GET probe). */
export function upstashClient(url: string, token: string): Redis {
  return new Redis({
    url,
    token,
    // Values are JSON we validate ourselves; "123" must stay a string.
    automaticDeserialization: false,
    enableTelemetry: false,
    // One quick retry: a dead Redis must turn into a 503 in milliseconds, not seconds.
    retry: { retries: 1, backoff: () => 25 },
  });
}

const clients = new WeakMap<Settings, { client: Redis; runner: ScriptRunner }>();

function clientsFor(s: Settings): { client: Redis; runner: ScriptRunner } {
  let c = clients.get(s);
  if (!c) {
    const client = upstashClient(s.redisUrl, s.redisToken);
    c = { client, runner: upstashRunner(client) };
    clients.set(s, c);
  }
  return c;
}

export function redisFor(s: Settings): ScriptRunner {
  return clientsFor(s).runner;
}

/** BLPOP over REST (Upstash holds the request until an element arrives or `timeoutMs` passes):
 * the Worker cannot SUBSCRIBE, so a node's reply comes through a list. null = timed out. */
export async function blpop(s: Settings, key: string, timeoutMs: number): Promise<string | null> {
  try {
    const r = await clientsFor(s).client.exec<[string, string] | null>(["BLPOP", key, (timeoutMs / 1000).toFixed(3)]);
    return r === null ? null : String(r[1]);
  } catch (e) {
    throw classify(e);
  }
}
