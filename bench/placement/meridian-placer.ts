// Meridian's placement run in-process: the real shared selector (shared/selector) over NodeRecords
// built from each node's last report, plus the reservations placement keeps per node (each
// placement adds the node's per-room cost; each report carries the outstanding part forward,
// decayed — shared/selector/reservation.ts afterReport, what shared/registry.ts reportNode does
// in Lua). The reference point is the CLIENT's location (request.cf).
import { NodeSelectorConfig } from "#shared/config.ts";
import type { NodeRecord } from "#shared/node.ts";
import { afterReport, regionPreference, selectNode, type Candidate } from "#shared/selector/index.ts";
import type { Rng } from "../lib/prng.ts";
import { epochMs } from "./clock.ts";
import type { NodeView, Placer, Snapshot } from "./cluster.ts";
import { REGIONS } from "./world.ts";
import type { NodeSpec } from "./world.ts";

export function nodeRecord(spec: NodeSpec, r: Snapshot): NodeRecord {
  return {
    id: spec.id,
    region: spec.region,
    state: "SERVING",
    signalUrl: `wss://${spec.id}.sim.invalid/signal`,
    rtcAddress: "127.0.0.1",
    startedAt: epochMs(0), // with the simulated registry: no restart warm-up (shared/keys.ts)
    updatedAt: epochMs(r.at),
    stats: {
      numCpus: spec.numCpus,
      loadAvg1: r.loadAvg1,
      sysload: r.loadAvg1 / spec.numCpus,
      cpuLoad: r.cpuLoad,
      rooms: r.rooms,
      clients: r.clients,
      tracksIn: r.tracksIn,
      tracksOut: r.tracksOut,
      bytesInPerSec: (r.bytesPerSec * r.tracksIn) / Math.max(1, r.tracksIn + r.tracksOut),
      bytesOutPerSec: (r.bytesPerSec * r.tracksOut) / Math.max(1, r.tracksIn + r.tracksOut),
    },
  };
}

export interface MeridianPlacerOptions {
  name: string;
  /** Partial NodeSelectorConfig; everything else takes Meridian's defaults. */
  config: Partial<NodeSelectorConfig>;
  rng: Rng;
}

export function meridianPlacer(o: MeridianPlacerOptions): Placer {
  const config = NodeSelectorConfig.parse({ ...o.config, regions: REGIONS });
  const cands = new Map<string, Candidate>();
  return {
    name: o.name,
    place(room, now) {
      const chosen = selectNode([...cands.values()], {
        config,
        now: epochMs(now),
        regionOrder: regionPreference(REGIONS, room.client),
        rng: o.rng,
      });
      if (!chosen) throw new Error(`${o.name}: no eligible node`);
      chosen.reserved++;
      return chosen.node.id;
    },
    onReport(node: NodeView) {
      cands.set(node.spec.id, afterReport(cands.get(node.spec.id), nodeRecord(node.spec, node.report)));
    },
  };
}
