// bench:scale's fleet stays eligible on a busy machine (issue 12 finding 16d): every node of the
// fleet must be a placement candidate once registerFleet returns and for as long as the bench runs,
// even when each report takes milliseconds (a loaded machine; Redis farther away). Real
// redis-server; the delay is added in front of it.
import { setTimeout as sleep } from "node:timers/promises";
import type { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { freshNodes, registerFleet } from "../../bench/lib/fleet.ts";
import { seededRng } from "../../bench/lib/prng.ts";
import { NodeSelectorConfig } from "#shared/config.ts";
import { NODE_TTL_MS } from "#shared/node.ts";
import { placeRoom } from "#shared/placement.ts";
import type { ScriptRunner } from "#shared/redis/runner.ts";
import { scriptRedisPerFile } from "../support/redis.ts";
import { REGIONS } from "../../bench/placement/world.ts";

let redis: Redis;
let run: ScriptRunner;
scriptRedisPerFile((c) => ({ redis, run } = c));

describe("bench fleet registration", () => {
  it("3,000 nodes at 2 ms per report (longer than the freshness window) are all eligible, also a TTL later", async () => {
    const slow: ScriptRunner = {
      run: async (...a) => {
        await sleep(2);
        return run.run(...a);
      },
    };
    const fleet = await registerFleet(slow, redis, 3000, seededRng(1));
    expect(await freshNodes(redis, fleet.now)).toBe(3000);
    await sleep(NODE_TTL_MS + 500);
    expect(await freshNodes(redis, fleet.now)).toBe(3000);
    const config = NodeSelectorConfig.parse({ regions: REGIONS });
    const r = await placeRoom(run, {
      room: "r",
      mode: "create",
      autoCreate: true,
      config,
      regionOrder: [REGIONS[0]!.name],
      now: fleet.now,
    });
    expect(r.status).toBe("ok");
  }, 60_000);
});
