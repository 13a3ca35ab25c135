// LiveKit's placement path as deployed behind latency-based DNS: the client's WebSocket lands on a
// node of the region DNS picked (usually its nearest; sometimes not — resolvers far from the user,
// VPNs), and THAT node's regionaware selector measures distances from its own region. The
// selector reads the `nodes` hash (HVALS: a fixed order) holding each node's last report.
import {
  createNodeSelector,
  type LkNode,
  type LkNodeSelector,
  type LkSelectorConfig,
} from "../baselines/livekit/index.ts";
import type { Rng } from "../lib/prng.ts";
import { epochMs } from "./clock.ts";
import type { NodeView, Placer } from "./cluster.ts";
import type { RoomSpec } from "./workload.ts";
import { REGIONS } from "./world.ts";

export interface LivekitPlacerOptions {
  name: string;
  config: Omit<LkSelectorConfig, "regions">;
  /** Share of clients whose DNS answer is not their nearest region. */
  dnsMissRate: number;
  rng: Rng;
}

export function livekitPlacer(o: LivekitPlacerOptions): Placer {
  const cfg: LkSelectorConfig = { ...o.config, regions: REGIONS };
  let now = 0;
  const env = { nowUnix: () => Math.floor(epochMs(now) / 1000), random: o.rng };
  const selectors = new Map<string, LkNodeSelector>(REGIONS.map((r) => [r.name, createNodeSelector(cfg, r.name, env)]));
  const records = new Map<string, LkNode>();
  // Redis hash iteration order: stable but unrelated to ids.
  let hashOrder: LkNode[] = [];

  function signalRegion(room: RoomSpec): string {
    const [miss, which] = room.dnsDraw;
    if (miss >= o.dnsMissRate) return room.closestRegion;
    const others = REGIONS.filter((r) => r.name !== room.closestRegion);
    return others[Math.floor(which * others.length)]!.name;
  }

  return {
    name: o.name,
    place(room, at) {
      now = at;
      const selector = selectors.get(signalRegion(room))!;
      return selector.selectNode(hashOrder).id;
    },
    onReport(node: NodeView) {
      const r = node.report;
      const rec: LkNode = {
        id: node.spec.id,
        region: node.spec.region,
        state: "SERVING",
        stats: {
          updatedAt: Math.floor(epochMs(r.at) / 1000),
          numCpus: node.spec.numCpus,
          loadAvgLast1Min: r.loadAvg1,
          cpuLoad: r.cpuLoad,
          numRooms: r.rooms,
          numClients: r.clients,
          numTracksIn: r.tracksIn,
          numTracksOut: r.tracksOut,
          bytesPerSec: r.bytesPerSec,
        },
      };
      if (!records.has(rec.id)) {
        records.set(rec.id, rec);
        hashOrder = shuffled([...records.values()], o.rng);
      } else {
        Object.assign(records.get(rec.id)!, rec);
      }
    },
  };
}

function shuffled<T>(items: T[], rng: Rng): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}
