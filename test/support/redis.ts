// A real redis-server per test run (infra/local/redis-server.ts), on a free loopback port, so
// fault tests can stop and restart it without touching the machine's shared instance.
export { freePort } from "../../infra/local/ports.ts";
export { RedisServer as TestRedis } from "../../infra/local/redis-server.ts";

import type { Redis } from "ioredis";
import { afterAll, beforeAll, beforeEach } from "vitest";
import { RedisServer } from "../../infra/local/redis-server.ts";
import { ioredisRunner } from "#shared/redis/ioredis.ts";
import type { ScriptRunner } from "#shared/redis/runner.ts";

/** Per test file: a fresh redis-server, a client and a script runner over it, flushed before each
 * test. `ready` receives them once the server is up. */
export function scriptRedisPerFile(ready: (c: { redis: Redis; run: ScriptRunner }) => void): void {
  let server: RedisServer | undefined;
  let redis: Redis | undefined;
  beforeAll(async () => {
    server = await RedisServer.start();
    redis = server.client();
    ready({ redis, run: ioredisRunner(redis) });
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });
  beforeEach(async () => {
    await redis!.flushall();
  });
}
