// The numbers the selector filters and sorts on, and what one placement "costs" before the node's
// next stats report shows it. Placement (shared/placement.ts) keeps the same metrics in per-region
// sorted sets, so the Lua and this module must agree on every definition here.
import type { NodeRecord } from "../node.ts";

export const METRICS = ["sysload", "cpuload", "rooms", "clients", "tracks", "bytespersec"] as const;
export type Metric = (typeof METRICS)[number];

export function reportedMetric(node: NodeRecord, m: Metric): number {
  const s = node.stats;
  switch (m) {
    case "sysload":
      return s.sysload;
    case "cpuload":
      return s.cpuLoad;
    case "rooms":
      return s.rooms;
    case "clients":
      return s.clients;
    case "tracks":
      return s.tracksIn + s.tracksOut;
    case "bytespersec":
      return s.bytesInPerSec + s.bytesOutPerSec;
  }
}

/** Estimated load of one freshly placed room, added per reservation until the next report
 * (Jitsi adds 0.01 stress per recent endpoint; a room starts with ~2 clients, ~4 tracks and
 * ~250 kB/s, and we charge sysload/cpuload 0.02 so ~25 placements fill an idle node to 0.5). */
export const RESERVATION_COST: Readonly<Record<Metric, number>> = {
  sysload: 0.02,
  cpuload: 0.02,
  rooms: 1,
  clients: 2,
  tracks: 4,
  bytespersec: 250_000,
};

/** Reported value plus reservations. Added one at a time because Redis applies them one
 * ZINCRBY at a time: the floating-point sums must match bit for bit. */
export function effectiveMetric(node: NodeRecord, m: Metric, reserved: number): number {
  let v = reportedMetric(node, m);
  for (let i = 0; i < reserved; i++) v += RESERVATION_COST[m];
  return v;
}
