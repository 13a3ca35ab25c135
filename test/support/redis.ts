// A real redis-server per test run (infra/local/redis-server.ts), on a free loopback port, so
// fault tests can stop and restart it without touching the machine's shared instance.
export { freePort } from "../../infra/local/ports.ts";
export { RedisServer as TestRedis } from "../../infra/local/redis-server.ts";
