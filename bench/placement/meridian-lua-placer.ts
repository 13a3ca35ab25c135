// Meridian's production placement path in the simulation: every stats report goes through
// shared/registry.ts reportNode and every room through shared/placement.ts placeRoom — the real
// Lua scripts on a real redis-server — with the simulated clock passed as `now`.
import { NodeSelectorConfig } from "#shared/config.ts";
import { placeRoom } from "#shared/placement.ts";
import type { ScriptRunner } from "#shared/redis/runner.ts";
import { reportNode } from "#shared/registry.ts";
import { regionPreference } from "#shared/selector/index.ts";
import type { Rng } from "../lib/prng.ts";
import { epochMs } from "./clock.ts";
import type { NodeView, Placer } from "./cluster.ts";
import { nodeRecord } from "./meridian-placer.ts";
import { REGIONS } from "./world.ts";

export interface MeridianLuaPlacerOptions {
  name: string;
  config: Partial<NodeSelectorConfig>;
  /** A runner on an EMPTY Redis database (room names repeat across runs). */
  redis: ScriptRunner;
  rng: Rng;
}

export function meridianLuaPlacer(o: MeridianLuaPlacerOptions): Placer {
  const config = NodeSelectorConfig.parse({ ...o.config, regions: REGIONS });
  return {
    name: o.name,
    async place(room, now) {
      const r = await placeRoom(o.redis, {
        room: room.id,
        mode: "create",
        autoCreate: true,
        config,
        regionOrder: regionPreference(REGIONS, room.client),
        now: epochMs(now),
        seed: Math.floor(o.rng() * 2 ** 31),
      });
      if (r.status !== "ok") throw new Error(`${o.name}: placeRoom(${room.id}) → ${r.status}`);
      return r.node.id;
    },
    async onReport(node: NodeView, now: number) {
      await reportNode(o.redis, nodeRecord(node.spec, node.report), epochMs(now));
    },
  };
}
