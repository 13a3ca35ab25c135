// The Redis key layout, in one place. Every key either carries a TTL or is swept, so nothing
// outlives the node or room it describes (LiveKit's `nodes` hash has no TTL: ghost nodes).
//
//   node:<id>               STRING  JSON NodeRecord, PX = NODE_TTL_MS, rewritten every report
//   nodes                   ZSET    node id -> expiry (ms); lets scripts enumerate live nodes and
//                                   drop expired members without SCAN
//   node:<id>:rooms         SET     rooms hosted by the node (swept with the node)
//   node:<id>:reserved      STRING  rooms placed onto the node since its last report (anti-herding)
//   node:<id>:reservation   HASH    at (updatedAt of the last report), carried:<metric> (reservation
//                                   a report could not show yet, decayed), cost:<metric> (what one
//                                   more room costs, learnt from that report); PX = NODE_TTL_MS
//   room:<name>             HASH    room record: name, node, region, createdAt, emptyTimeout, maxParticipants, metadata
//   rooms                   ZSET    room name -> createdAt (ms)
//   rooms:unclaimed         ZSET    room name -> deadline (ms): placed (or re-placed) onto a node that
//                                   has not opened it yet. claimRoom removes it; sweepDeadNodes deletes
//                                   the rooms whose deadline (placement + emptyTimeout) passed, as
//                                   LiveKit closes a room nobody joined after empty_timeout
//   room:<name>:participants HASH   identity -> JSON participant (written by the hosting node)
//   registry:since          STRING  ms of the first report into this Redis (SET NX, no TTL, one key):
//                                   missing = the registry is empty (new, or restarted without data)
//   registry:warming        STRING  ms when the registry's warm-up ends, PX = the time left. Set by a
//                                   report when the registry started under a node that was already
//                                   running (Redis came back empty under a live cluster): until then
//                                   placement refuses rooms it has no mapping for (registry_warming),
//                                   as their hosts may not have re-claimed them yet (node.ts
//                                   REGISTRY_WARMUP_MS)
//   bus:node:<id>           CHANNEL pub/sub inbox of a node (signaling bridge, room.delete)
//   sweep:nodes             ZSET    node id -> expiry (ms); the sweeper's own list of nodes to clean
//                                   up after (placement prunes `nodes`, so it cannot serve); see
//                                   sweepDeadNodes in registry.ts
//
// Selection index (written by reportNode, read by the placement script; SERVING nodes only, so
// placement never JSON-decodes node records and touches only the regions it needs):
//   sel:regions             SET     regions that currently have SERVING nodes
//   sel:<region>:expiry     ZSET    node id -> expiry (ms); placement sweeps members <= now
//   sel:<region>:updated    ZSET    node id -> updatedAt (ms) of its last report (freshness)
//   sel:<region>:<metric>   ZSET    node id -> settled metric + carried + rooms placed since the
//                                   report x cost, for each metric in shared/selector/metrics.ts
//                                   (sysload, cpuload, rooms, clients, tracks, bytespersec). A report
//                                   does NOT forget placements: the metric shows a room only once
//                                   its participants have arrived (and, for sysload, once the load
//                                   average has caught up), so the report script carries what is
//                                   still outstanding forward, decayed with the metric's own time
//                                   constant (shared/selector/reservation.ts explains the model)
// A DRAINING report removes the node from sel:*; an expired one is swept by the next placement
// that reads its region. Scripts build these keys from KEY_PREFIX, so Redis must not be a
// cluster (Upstash and a single redis-server are fine).
import { METRICS } from "./selector/metrics.ts";

const P = "meridian:";

/** The sorted sets of one region's selection index, in the order scripts receive them. */
export const SEL_FIELDS = ["expiry", "updated", ...METRICS] as const;

export const keys = {
  node: (id: string) => `${P}node:${id}`,
  nodes: () => `${P}nodes`,
  nodeRooms: (id: string) => `${P}node:${id}:rooms`,
  nodeReserved: (id: string) => `${P}node:${id}:reserved`,
  nodeReservation: (id: string) => `${P}node:${id}:reservation`,
  room: (name: string) => `${P}room:${name}`,
  rooms: () => `${P}rooms`,
  unclaimedRooms: () => `${P}rooms:unclaimed`,
  registrySince: () => `${P}registry:since`,
  registryWarming: () => `${P}registry:warming`,
  roomParticipants: (name: string) => `${P}room:${name}:participants`,
  nodeBus: (id: string) => `${P}bus:node:${id}`,
  sweepNodes: () => `${P}sweep:nodes`,
  selRegions: () => `${P}sel:regions`,
  /** field: "expiry" | "updated" | a selector metric. */
  sel: (region: string, field: string) => `${P}sel:${region}:${field}`,
} as const;

export const KEY_PREFIX = P;

/** Lua builds the keys it cannot receive in KEYS (they depend on data it reads) with these
 * functions, generated from `keys` above so the layout is written down once. */
function luaKeyFunction(name: string, fn: (...a: string[]) => string, arity: number): string {
  const params = Array.from({ length: arity }, (_, i) => `a${i + 1}`);
  const parts = fn(...params.map((p) => `\u0000${p}\u0000`)).split("\u0000");
  const body = parts
    .map((s, i) => (i % 2 === 1 ? s : JSON.stringify(s)))
    .filter((s) => s !== '""')
    .join(" .. ");
  return `local function ${name}(${params.join(", ")}) return ${body || '""'} end`;
}

export const LUA_KEY_FUNCTIONS = [
  luaKeyFunction("k_node", keys.node, 1),
  luaKeyFunction("k_nodes", keys.nodes, 0),
  luaKeyFunction("k_node_rooms", keys.nodeRooms, 1),
  luaKeyFunction("k_node_reserved", keys.nodeReserved, 1),
  luaKeyFunction("k_node_reservation", keys.nodeReservation, 1),
  luaKeyFunction("k_node_bus", keys.nodeBus, 1),
  luaKeyFunction("k_sel_regions", keys.selRegions, 0),
  luaKeyFunction("k_sel", keys.sel, 2),
  luaKeyFunction("k_room", keys.room, 1),
  luaKeyFunction("k_rooms", keys.rooms, 0),
  luaKeyFunction("k_unclaimed_rooms", keys.unclaimedRooms, 0),
  luaKeyFunction("k_room_participants", keys.roomParticipants, 1),
].join("\n");
