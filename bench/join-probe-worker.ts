// Baseline Worker for bench/join-latency.ts: one bare GET through exactly the client the control
// plane uses (upstashClient), so the join/GET ratio isolates what join adds.
import type { Redis } from "@upstash/redis/cloudflare";
import { upstashClient } from "../control-plane/src/redis.ts";

interface ProbeEnv {
  UPSTASH_REDIS_REST_URL: string;
  UPSTASH_REDIS_REST_TOKEN: string;
}

let client: Redis | undefined;

export default {
  async fetch(_req: Request, env: ProbeEnv): Promise<Response> {
    client ??= upstashClient(env.UPSTASH_REDIS_REST_URL, env.UPSTASH_REDIS_REST_TOKEN);
    return Response.json({ value: await client.get("meridian:bench:probe") });
  },
};
