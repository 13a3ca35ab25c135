// Meridian's production placement path in the simulation: every stats report goes through
// shared/registry.ts reportNode and every room through shared/placement.ts placeRoom — the real
// Lua scripts on a real redis-server — with the simulated clock passed as `now`.
//
// With `cascade` (spill-over, issue 9), every participant also goes the way a real join goes
// (control-plane/src/routes/join.ts): placeRoom in join mode with the cascade settings names the
// participant's media node (place_room.lua: the origin while it is in the client's region and
// under its per-room budget, else an edge of the region under budget, else a new edge there); the
// client connects to it when it is in its region (else to its signal node), and that node asks
// the media node's own cascade code (media-node/src/cascade/cascade.ts mediaNodeFor, which runs
// cascade_room.lua and records its share) which node serves the participant; a node the join is
// relayed to asks again, as the real relay does. So the figure follows the real rules.
import { type CascadeConfig, cascadeLeave } from "#shared/cascade.ts";
import { NodeSelectorConfig } from "#shared/config.ts";
import { placeRoom } from "#shared/placement.ts";
import type { ScriptRunner } from "#shared/redis/runner.ts";
import { reportNode } from "#shared/registry.ts";
import { regionPreference } from "#shared/selector/index.ts";
import { Cascade } from "../../media-node/src/cascade/cascade.ts";
import { createLogger } from "../../media-node/src/log.ts";
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
  /** Place each participant through the cascade rules (spill-over) with these settings. */
  cascade?: CascadeConfig;
}

export function meridianLuaPlacer(o: MeridianLuaPlacerOptions): Placer {
  const config = NodeSelectorConfig.parse({ ...o.config, regions: REGIONS });
  const regionOf = new Map<string, string>();
  const placer: Placer = {
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
      regionOf.set(node.spec.id, node.spec.region);
      await reportNode(o.redis, nodeRecord(node.spec, node.report), epochMs(now));
    },
  };
  const cascade = o.cascade;
  if (!cascade) return placer;
  const nodes = new Map<string, Cascade>();
  const log = createLogger("error", "bench");
  const unused = () => {
    throw new Error("placement bench: only the join decision of the cascade runs here");
  };
  const node = (id: string): Cascade => {
    let c = nodes.get(id);
    if (!c) {
      c = new Cascade({
        nodeId: id,
        region: regionOf.get(id) ?? "",
        config: cascade,
        pipe: { listenIp: "127.0.0.1" },
        redis: () => o.redis,
        bridge: () => undefined,
        serves: unused,
        openRoom: unused,
        owner: unused,
        resync: unused,
        flushed: unused,
        log,
      });
      nodes.set(id, c);
    }
    return c;
  };
  return {
    ...placer,
    async join(room, now, local) {
      const r = await placeRoom(o.redis, {
        room: room.id,
        mode: "join",
        autoCreate: false,
        config,
        regionOrder: regionPreference(REGIONS, room.client),
        wantSignal: true,
        now: epochMs(now),
        seed: Math.floor(o.rng() * 2 ** 31),
        cascade,
      });
      if (r.status !== "ok")
        throw new Error(
          `${o.name}: placeRoom(${room.id}, join) → ${r.status}` +
            (r.status === "no_nodes"
              ? " (node records expire in real time, NODE_TTL_MS: the simulation fell over 2 s behind the wall clock — 2–3 Redis scripts per participant; re-run on a less loaded machine)"
              : ""),
        );
      const host = r.node.id;
      // Where the client connects (join.ts: the media node when in its region, else the signal
      // node); that node decides, and a node it relays the join to decides again (and records its
      // share), as the real relay does — a chain the rules end in two hops; bounded anyway.
      let at = r.media?.direct ? r.media.node.id : (r.signalNode ?? r.node).id;
      for (let hop = 0; hop < 4; hop++) {
        const next = await node(at).mediaNodeFor(room.id, host, local(at));
        if (next === at) return at;
        at = next;
      }
      throw new Error(`${o.name}: ${room.id}: the cascade relayed a join more than 4 times`);
    },
    async ended(room, _now, shares) {
      // Each node's share of the room ends; an edge leaves room:<name>:nodes (cascade.ts closed()).
      for (const id of shares.keys())
        await cascadeLeave(o.redis, { room: room.id, node: { id, region: regionOf.get(id) ?? "" }, participants: 0 });
    },
  };
}
