// The numbers the selector filters and sorts on (reservations on top of them: reservation.ts).
// Placement (shared/placement.ts) keeps the same metrics in per-region sorted sets, so the Lua and
// this module must agree on every definition here.
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
