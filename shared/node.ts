// The node registry record: written by media nodes every report interval, read by the control
// plane's selector. One schema for both sides.
import { z } from "zod";

export const NodeState = z.enum(["SERVING", "DRAINING"]);
export type NodeState = z.infer<typeof NodeState>;

export const NodeStats = z.object({
  numCpus: z.number().int().positive(),
  loadAvg1: z.number().nonnegative(),
  /** load average (1 min) / number of CPUs — LiveKit's definition, so limits carry over. */
  sysload: z.number().nonnegative(),
  /** 1 − idle share over the last sample window, 0..1. */
  cpuLoad: z.number().min(0).max(1),
  rooms: z.number().int().nonnegative(),
  clients: z.number().int().nonnegative(),
  tracksIn: z.number().int().nonnegative(),
  tracksOut: z.number().int().nonnegative(),
  bytesInPerSec: z.number().nonnegative(),
  bytesOutPerSec: z.number().nonnegative(),
});
export type NodeStats = z.infer<typeof NodeStats>;

export const NodeRecord = z.object({
  id: z.string().min(1).max(128),
  region: z.string().min(1).max(64),
  state: NodeState,
  /** ws(s):// URL clients use for signaling on this node. */
  signalUrl: z.string().url(),
  /** Address announced in ICE candidates (media goes straight here). */
  rtcAddress: z.string().min(1),
  startedAt: z.number().int(),
  /** ms since epoch of this report; the selector ignores records older than the freshness window. */
  updatedAt: z.number().int(),
  stats: NodeStats,
});
export type NodeRecord = z.infer<typeof NodeRecord>;

/** Media nodes report this often. */
export const REPORT_INTERVAL_MS = 2_000;
/** A record older than this is stale and not eligible (LiveKit uses 5 s). Never longer than
 * NODE_TTL_MS: a record cannot be fresh after it expired (the TS selector and the placement Lua
 * must agree). */
export const STATS_FRESHNESS_MS = 2 * REPORT_INTERVAL_MS;
/** A node that stops reporting vanishes from Redis by itself after this (key TTL). Placement keeps
 * an existing room on its node while the node's record exists, so this is also the failover
 * bound: a room on a killed node is re-placed by the first join at most 2 report intervals after
 * the kill. (One late report makes a live node flap; it re-registers and reclaims its rooms.) */
export const NODE_TTL_MS = 2 * REPORT_INTERVAL_MS;
/** A node whose last report reached Redis longer ago than this has missed one (reports come every
 * REPORT_INTERVAL_MS; the rest is margin for a loaded event loop and transit). Alone that proves
 * nothing; with other evidence — its bridge peers hearing nothing from it — it is declared dead
 * before its record's TTL runs out (declare_node_dead.lua), and a client that cannot reach it is
 * told to retry rather than sent back to it (place_room.lua). */
export const REPORT_LATE_MS = REPORT_INTERVAL_MS + 750;
/** How long placement refuses unmapped rooms after Redis came back empty under running nodes
 * (keys.ts registry:warming): every live node re-registers and re-claims its rooms within its TTL
 * of the registry's start (one report interval, plus one of margin for reconnect back-off and a
 * loaded event loop); a node that has not by then would count as dead anyway. */
export const REGISTRY_WARMUP_MS = NODE_TTL_MS;
/** A node up for longer than this when the registry started had reported into an earlier registry
 * (it reports at start and every interval): the registry is a restarted one, not a new one. */
export const REGISTRY_RESTART_UPTIME_MS = REPORT_INTERVAL_MS;
