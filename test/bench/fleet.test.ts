// bench:scale's fleet registration stays fresh on a busy machine (issue 12 finding 16d): every
// node of the fleet must be eligible once registerFleet returns, even when each report takes
// milliseconds (a loaded machine; Redis farther away). Real redis-server; the delay is added in
// front of it.
import { setTimeout as sleep } from "node:timers/promises";
import type { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { freshNodes, registerFleet } from "../../bench/lib/fleet.ts";
import { seededRng } from "../../bench/lib/prng.ts";
import type { ScriptRunner } from "#shared/redis/runner.ts";
import { scriptRedisPerFile } from "../support/redis.ts";

let redis: Redis;
let run: ScriptRunner;
scriptRedisPerFile((c) => ({ redis, run } = c));

describe("bench fleet registration", () => {
  it("3,000 nodes at 2 ms per report are all fresh when registration returns", async () => {
    const slow: ScriptRunner = {
      run: async (...a) => {
        await sleep(2);
        return run.run(...a);
      },
    };
    const started = Date.now();
    const fleet = await registerFleet(slow, redis, 3000, seededRng(1));
    expect(fleet).toHaveLength(3000);
    expect({ fresh: await freshNodes(redis), took: Date.now() - started }).toMatchObject({ fresh: 3000 });
  }, 60_000);
});
