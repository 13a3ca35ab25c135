// The one Redis capability both sides share: run a Lua script. The Worker talks to Redis through
// @upstash/redis (HTTP), media nodes through ioredis (TCP); each wraps its client in this interface
// so registry and placement code exists once. Implementations must use EVALSHA with an EVAL
// fallback on NOSCRIPT (one round trip in the steady state).
export interface RedisScript {
  /** Lua source (shared/redis/scripts.ts). */
  readonly lua: string;
  /** Label for logs and metrics; adapters compute and cache the SHA1 of `lua` themselves. */
  readonly name: string;
}

/** A script's named arguments; it receives them as one JSON ARGV (cjson.decode(ARGV[1])). */
export type ScriptArgs = Readonly<Record<string, unknown>>;

export interface ScriptRunner {
  run(script: RedisScript, keys: string[], args?: ScriptArgs): Promise<unknown>;
}

// cjson refuses an escaped lone surrogate ("\ud800"); a raw ARGV string became U+FFFD in UTF-8,
// so the same happens here. Numbers are JSON's shortest round-trip text, which cjson parses back
// to the same double.
const LONE_SURROGATE = /\p{Cs}/gu;

/** The ARGV a runner sends for `args`: none, or the one JSON entry. */
export function scriptArgv(args: ScriptArgs | undefined): string[] {
  if (args === undefined) return [];
  return [JSON.stringify(args, (_, v: unknown) => (typeof v === "string" ? v.replace(LONE_SURROGATE, "\uFFFD") : v))];
}
