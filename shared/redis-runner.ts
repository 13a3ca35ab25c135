// The one Redis capability both sides share: run a Lua script. The Worker talks to Redis through
// @upstash/redis (HTTP), media nodes through ioredis (TCP); each wraps its client in this interface
// so registry and placement code exists once. Implementations must use EVALSHA with an EVAL
// fallback on NOSCRIPT (one round trip in the steady state).
export interface RedisScript {
  /** Lua source. */
  readonly lua: string;
  /** Label for logs and metrics; adapters compute and cache the SHA1 of `lua` themselves. */
  readonly name: string;
}

export interface ScriptRunner {
  run(script: RedisScript, keys: string[], args: (string | number)[]): Promise<unknown>;
}

export function defineScript(name: string, lua: string): RedisScript {
  return { name, lua };
}
