// ScriptRunner over ioredis (Node only: media nodes, tests, benchmarks). The Worker has its own
// adapter over @upstash/redis.
import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import { scriptArgv, type RedisScript, type ScriptRunner } from "./runner.ts";

const shaCache = new WeakMap<RedisScript, string>();

function sha1(script: RedisScript): string {
  let sha = shaCache.get(script);
  if (sha === undefined) {
    sha = createHash("sha1").update(script.lua).digest("hex");
    shaCache.set(script, sha);
  }
  return sha;
}

export function ioredisRunner(redis: Redis): ScriptRunner {
  return {
    async run(script, keys, args) {
      const argv = scriptArgv(args);
      try {
        return await redis.evalsha(sha1(script), keys.length, ...keys, ...argv);
      } catch (e) {
        if (!String((e as Error).message).includes("NOSCRIPT")) throw e;
        return await redis.eval(script.lua, keys.length, ...keys, ...argv);
      }
    },
  };
}
