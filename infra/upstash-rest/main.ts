// CLI: `npm run upstash-rest` — serves the Upstash REST API for a local redis-server.
// Env: REDIS_URL (default redis://127.0.0.1:6379), UPSTASH_REDIS_REST_TOKEN (required; the same
// value goes to the Worker as a secret), UPSTASH_REST_PORT (default 8079), UPSTASH_REST_HOST (default 127.0.0.1).
import { startUpstashRest } from "./server.ts";

const token = process.env.UPSTASH_REDIS_REST_TOKEN;
if (!token) {
  console.error("set UPSTASH_REDIS_REST_TOKEN (any random string; give the Worker the same one)");
  process.exit(2);
}
const upstashRest = await startUpstashRest({
  redisUrl: process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
  token,
  port: Number(process.env.UPSTASH_REST_PORT ?? 8079),
  host: process.env.UPSTASH_REST_HOST ?? "127.0.0.1",
});
console.log(`upstash rest listening on ${upstashRest.url}`);
for (const sig of ["SIGINT", "SIGTERM"] as const)
  process.once(sig, () => void upstashRest.close().then(() => process.exit(0)));
