// CLI: `npm run bridge` — serves the Upstash REST API for a local redis-server.
// Env: REDIS_URL (default redis://127.0.0.1:6379), UPSTASH_REDIS_REST_TOKEN (required; the same
// value goes to the Worker as a secret), BRIDGE_PORT (default 8079), BRIDGE_HOST (default 127.0.0.1).
import { startBridge } from "./server.ts";

const token = process.env.UPSTASH_REDIS_REST_TOKEN;
if (!token) {
  console.error("set UPSTASH_REDIS_REST_TOKEN (any random string; give the Worker the same one)");
  process.exit(2);
}
const bridge = await startBridge({
  redisUrl: process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
  token,
  port: Number(process.env.BRIDGE_PORT ?? 8079),
  host: process.env.BRIDGE_HOST ?? "127.0.0.1",
});
console.log(`upstash bridge listening on ${bridge.url}`);
for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => void bridge.close().then(() => process.exit(0)));
