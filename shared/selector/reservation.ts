// Reservations: the load a placed room will add to its node before the node's stats can show it.
//
// Why they must outlive a report: a report only shows what its metric has absorbed so far. A room
// placed now is opened at once (the next report counts it), but its participants trickle in over
// the following tens of seconds (clients, tracks, bytes/s and the CPU share show each one within a
// report interval of its arrival), and sysload, a 1-minute load average, trails even those by up
// to a minute. The old model zeroed the reservation at every 2 s report and charged a fixed 0.02
// sysload per room: a node that had just received a burst looked idle again until its load
// average caught up, so placement herded back onto it (bench:placement max/mean 1.22-1.32).
//
// The model, per metric:
//   effective = settled + carried + placements since the last report x roomCost
// - settled (settledMetric): where the metric is heading for the load the node already carries;
//   for sysload the load-average lag is MEASURED each report as max(sysload, cpuload) rather than
//   modelled, the other metrics are instantaneous.
// - roomCost: the node's own average room (settled / rooms), so the expected participants of a
//   new room and what each costs are learnt from the node, not assumed (defaults while it has no
//   room).
// - carried: at each report the reservation still outstanding (carried + placements x cost) is
//   carried forward, decayed by exp(-dt/tau) over the time between the two reports, tau
//   (REFLECT_TAU_MS) being how long the metric takes to show a room: participants' arrival plus
//   the metric's sampling window; 0 for rooms, which the next report always shows. A single
//   exponential per node keeps it O(1) state and one Lua step per report.
// shared/registry.ts's report script performs the carry in Lua and shared/placement.ts adds
// roomCost with ZINCRBY, keeping exactly `effective` as the selection-index score; the arithmetic
// is the same in both (decayFactor), so the TS selector and the Lua agree bit for bit
// (test/selector/differential.test.ts).
// Cascade (place_room.lua, includes/reserve_load.lua): a participant sent to an edge node reserves
// 1 / roomCost(node, "clients") of a room there — the node's own average participant (settled
// metric / clients) — in the same placement count, so the report carries it like a room's share.
// The TS selector places rooms only; its `reserved` stays a whole number.
import type { NodeRecord } from "../node.ts";
import { REPORT_INTERVAL_MS } from "../node.ts";
import { METRICS, reportedMetric, type Metric } from "./metrics.ts";

/** Mean delay between a room's placement and its participants' arrival. Meetings fill over their
 * first half minute (invite links, late joiners): uniform over 0–30 s has mean 15 s. */
export const ARRIVAL_TAU_MS = 15_000;

/** How long each metric takes to reflect a placed room (exponential time constant). */
export const REFLECT_TAU_MS: Readonly<Record<Metric, number>> = {
  // the load average's own lag is measured at each report (settledMetric), so what is left to
  // reserve is the participants still to come, seen by the CPU share within a report interval
  sysload: REPORT_INTERVAL_MS + ARRIVAL_TAU_MS,
  // cpuload and byte rates are measured over the interval between two reports
  cpuload: REPORT_INTERVAL_MS + ARRIVAL_TAU_MS,
  // the node opens the room as soon as the first participant connects: the next report counts it
  rooms: 0,
  clients: ARRIVAL_TAU_MS,
  tracks: ARRIVAL_TAU_MS,
  bytespersec: REPORT_INTERVAL_MS + ARRIVAL_TAU_MS,
};

/** Cost of a room on a node that hosts none yet, so nothing can be learnt from it: ~2 clients,
 * ~4 tracks, ~250 kB/s, and 0.02 sysload/cpuload so ~25 placements fill an idle node to 0.5
 * (Jitsi adds 0.01 stress per recent endpoint). */
export const DEFAULT_ROOM_COST: Readonly<Record<Metric, number>> = {
  sysload: 0.02,
  cpuload: 0.02,
  rooms: 1,
  clients: 2,
  tracks: 4,
  bytespersec: 250_000,
};

/** Where the reported metric is heading for the load the node ALREADY carries. sysload is a
 * 1-minute load average: during a ramp it trails the CPU share by up to a minute (it reached ~63 %
 * of a step after 60 s), while for a CPU-bound SFU the two agree once settled (runnable threads ≈
 * busy cores). Taking max(sysload, cpuload) measures that lag at every report instead of
 * guessing it; max, not cpuload alone, keeps sysload's meaning when the host has other runnable
 * work or the CPU share saturates at 1. The other metrics are already instantaneous. */
export function settledMetric(node: NodeRecord, m: Metric): number {
  return m === "sysload" ? Math.max(node.stats.sysload, node.stats.cpuLoad) : reportedMetric(node, m);
}

/** What one more room will cost this node: the node's own average room (settled metric / rooms),
 * which learns the deployment's real room size (clients / rooms) and per-participant cost instead
 * of assuming them. */
export function roomCost(node: NodeRecord, m: Metric): number {
  const s = node.stats;
  if (m === "rooms") return 1;
  const load = settledMetric(node, m);
  if (s.rooms === 0 || load === 0) return DEFAULT_ROOM_COST[m];
  return load / s.rooms;
}

/** exp(-dt/τ) as (1 + x/1024)^-1024: only + × ÷, which IEEE 754 rounds identically in V8 and in
 * Redis's Lua (libm exp may differ in the last bit), so carried reservations match bit for bit.
 * Within 0.2 % of exp for the x ≤ 2 a report interval spans. The scripts' copy:
 * shared/redis/scripts/includes/decay_factor.lua. */
export function decayFactor(dtMs: number, tauMs: number): number {
  if (tauMs <= 0) return 0;
  const x = dtMs / tauMs;
  if (x <= 0) return 1;
  let y = 1 + x / 1024;
  for (let i = 0; i < 10; i++) y = y * y;
  return 1 / y;
}

export type Carried = Readonly<Record<Metric, number>>;

export const NOTHING_CARRIED: Carried = Object.fromEntries(METRICS.map((m) => [m, 0])) as Record<Metric, number>;

/** A node as the selector sees it: its last report plus the reservations not yet reflected. */
export interface Candidate {
  node: NodeRecord;
  /** Rooms placed on the node since its last report (each adds roomCost(node, m)). */
  reserved: number;
  /** Earlier placements the last report could not show yet, per metric; absent = none. */
  carried?: Carried;
}

/** The candidate after `next` is reported: placements since the previous report join the carried
 * reservation, and everything decays by the time between the two reports (the node's own clock,
 * so skew between hosts cancels). registry.ts's report script does the same in Lua. */
export function afterReport(prev: Candidate | undefined, next: NodeRecord): Candidate {
  if (!prev) return { node: next, reserved: 0, carried: NOTHING_CARRIED };
  const dt = next.updatedAt - prev.node.updatedAt;
  const carried = {} as Record<Metric, number>;
  for (const m of METRICS) {
    const outstanding = (prev.carried?.[m] ?? 0) + prev.reserved * roomCost(prev.node, m);
    carried[m] = outstanding * decayFactor(dt, REFLECT_TAU_MS[m]);
  }
  return { node: next, reserved: 0, carried };
}

/** Settled value + carried reservation + placements since the report. Placements are added one
 * at a time because Redis applies them one ZINCRBY at a time: the sums must match bit for bit. */
export function effectiveMetric(c: Candidate, m: Metric): number {
  let v = settledMetric(c.node, m) + (c.carried?.[m] ?? 0);
  const cost = roomCost(c.node, m);
  for (let i = 0; i < c.reserved; i++) v += cost;
  return v;
}
