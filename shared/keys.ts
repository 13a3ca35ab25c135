// The Redis key layout, in one place. Every key either carries a TTL or is swept, so nothing
// outlives the node or room it describes (LiveKit's `nodes` hash has no TTL: ghost nodes).
// Every <part> below is encoded (encodeKeyPart: ":" and any byte outside [A-Za-z0-9._~-] as %XX),
// so no room name, node id or region can spell another key; members and fields are not encoded.
//
//   node:<id>               STRING  JSON NodeRecord, PX = NODE_TTL_MS, rewritten every report
//   nodes                   ZSET    node id -> expiry (ms); lets scripts enumerate live nodes and
//                                   drop expired members without SCAN
//   node:<id>:rooms         SET     rooms hosted by the node (swept with the node)
//   node:<id>:edge-rooms    SET     rooms the node serves as a cascade edge, or was named for by a
//                                   join (cascade_room, place_room; an edge leaving removes its
//                                   room): the sweep drops the node's entry from their room:<name>:nodes
//   node:<id>:reserved      STRING  rooms placed onto the node since its last report (anti-herding),
//                                   a float: a participant sent to it as a cascade edge adds its share
//                                   of a room, 1 / (the node's clients per room) (place_room.lua)
//   node:<id>:reservation   HASH    at (updatedAt of the last report), carried:<metric> (reservation
//                                   a report could not show yet, decayed), cost:<metric> (what one
//                                   more room costs, learnt from that report); PX = NODE_TTL_MS
//   node:<id>:writes        HASH    the node's write log: boot (the node process's startedAt), seq (the
//                                   highest number of its writes Redis executed; registry.ts
//                                   NodeWriteLog numbers them); PX = WRITE_LOG_TTL_MS (outlives the
//                                   record), swept with the node. A seq below a number the node saw
//                                   acknowledged, or another boot, means Redis lost acknowledged
//                                   writes (restored from an older snapshot, failover to a lagging
//                                   replica): report_node starts a warm-up and the node re-syncs
//   room:<name>             HASH    room record: name, node, region, createdAt, emptyTimeout, maxParticipants,
//                                   metadata, epoch (registry:epoch of its last placement or claim),
//                                   sid (this incarnation of the room: set when placed, carried by media
//                                   tokens; a token for a deleted room names a sid no record has),
//                                   key (API key that created it, for the room quota)
//   apikey:<key>:rooms      SET     rooms created by the API key (quota, ROOMS_PER_API_KEY); members
//                                   whose record is gone or belongs to another key are dropped
//                                   lazily by placement when the set reaches the quota
//   rooms                   ZSET    room name -> createdAt (ms)
//   rooms:unclaimed         ZSET    room name -> deadline (ms): placed (or re-placed) onto a node that
//                                   has not opened it yet. claimRoom removes it; sweepDeadNodes deletes
//                                   the rooms whose deadline (placement + emptyTimeout) passed, as
//                                   LiveKit closes a room nobody joined after empty_timeout
//   room:<name>:participants HASH   identity -> JSON participant (written by the node serving it:
//                                   the origin, or an edge of a room that spans nodes)
//   room:<name>:nodes       HASH    cascade (issue 9): node id -> JSON {region, participants, pipes?,
//                                   pipedIn?} (records.ts RoomNodeEntry) of every node serving the
//                                   room, origin included, written by cascade_room.lua (the node's
//                                   own); or a reservation {region, participants,
//                                   reserved: ms} written by place_room.lua for the node a join
//                                   named (scripts/includes/cascade_serving.lua), dropped once older
//                                   than CASCADE_RESERVATION_MS. Deleted with the room, dead members
//                                   pruned by cascade_room, place_room and sweep_dead_nodes (which
//                                   promotes a live member when the origin died)
//   room:<name>:counted:<id> SET   cascade: identities place_room.lua counted on node <id> for the
//                                   room (a reservation's participants, their share of load),
//                                   PX = CASCADE_RESERVATION_MS: the same client joining again is
//                                   sent there and counted nowhere again (a join loop takes no
//                                   slots); deleted with the node's entry of room:<name>:nodes,
//                                   at most 10,000 members (then it starts over)
//   registry:since          STRING  ms of the first report into this Redis (SET NX, no TTL, one key):
//                                   missing = the registry is empty (new, or restarted without data)
//   registry:warming        STRING  ms when the registry's warm-up ends, PX = the time left. Set by a
//                                   report when the registry started under a node that was already
//                                   running (Redis came back empty under a live cluster), or when a
//                                   node finds Redis lost writes it had acknowledged (went back in
//                                   time: node:<id>:writes): until then placement refuses rooms it has
//                                   no mapping for, and rooms whose mapping predates the warm-up
//                                   (registry_warming), as their hosts may not have re-claimed them
//                                   yet (node.ts REGISTRY_WARMUP_MS)
//   registry:epoch          STRING  counter (no TTL, one key), +1 when a warm-up starts; a room's
//                                   record carries the epoch of its last placement or claim, so a
//                                   mapping from before the warm-up (maybe restored from an old
//                                   snapshot) is known unconfirmed: a node that hosts the room takes
//                                   it over from a live owner that has not re-claimed it
//   bus:node:<id>           CHANNEL pub/sub inbox of a node (signaling bridge, room.delete, room.rpc)
//   rpc:<uuid>              LIST    the hosting node's reply to one room.rpc request (RPUSH, PX
//                                   RPC_REPLY_TTL_MS); the control plane BLPOPs it (room-admin.ts)
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

// Every parameter of a key (room name, node id, region, API key, identity: anything a user or an
// operator chose) is encoded, so no value can produce another key: `room:X:participants` is room
// X's participant list, while a room named "X:participants" lives at `room:X%3Aparticipants`.
// Bytes outside KEY_SAFE become %XX (upper-case hex of each UTF-8 byte); ":" is never safe, so
// an encoded part never contains the separator, and "*?[]\\" never reach a SCAN/PSUBSCRIBE
// pattern either. Lua (k_enc below) encodes from the same character list, byte for byte.
const KEY_SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-";
const SAFE_BYTE = new Uint8Array(256);
for (const c of KEY_SAFE) SAFE_BYTE[c.charCodeAt(0)] = 1;
const ALL_SAFE = new RegExp(`^[${KEY_SAFE.replace(/[-\\\]^]/g, "\\$&")}]*$`);
const utf8 = new TextEncoder();

/** One key component as it appears in a key. Pure, deterministic, injective. */
export function encodeKeyPart(s: string): string {
  if (ALL_SAFE.test(s)) return s;
  let out = "";
  for (const b of utf8.encode(s))
    out += SAFE_BYTE[b] ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
  return out;
}

/** The value an encoded key component stands for (tools that list keys: ghost checks, dumps). */
export function decodeKeyPart(s: string): string {
  return decodeURIComponent(s);
}

/** The sorted sets of one region's selection index, in the order scripts receive them. */
export const SEL_FIELDS = ["expiry", "updated", ...METRICS] as const;

/** The layout, with `part` applied to every parameter: encodeKeyPart for `keys`, a Lua
 * expression marker when generating the Lua key functions. */
function layout(part: (s: string) => string) {
  return {
    node: (id: string) => `${P}node:${part(id)}`,
    nodes: () => `${P}nodes`,
    nodeRooms: (id: string) => `${P}node:${part(id)}:rooms`,
    nodeEdgeRooms: (id: string) => `${P}node:${part(id)}:edge-rooms`,
    nodeReserved: (id: string) => `${P}node:${part(id)}:reserved`,
    nodeReservation: (id: string) => `${P}node:${part(id)}:reservation`,
    nodeWrites: (id: string) => `${P}node:${part(id)}:writes`,
    room: (name: string) => `${P}room:${part(name)}`,
    rooms: () => `${P}rooms`,
    unclaimedRooms: () => `${P}rooms:unclaimed`,
    registrySince: () => `${P}registry:since`,
    registryWarming: () => `${P}registry:warming`,
    registryEpoch: () => `${P}registry:epoch`,
    roomParticipants: (name: string) => `${P}room:${part(name)}:participants`,
    roomNodes: (name: string) => `${P}room:${part(name)}:nodes`,
    roomCounted: (name: string, node: string) => `${P}room:${part(name)}:counted:${part(node)}`,
    apiKeyRooms: (apiKey: string) => `${P}apikey:${part(apiKey)}:rooms`,
    nodeBus: (id: string) => `${P}bus:node:${part(id)}`,
    rpcReply: (id: string) => `${P}rpc:${part(id)}`,
    sweepNodes: () => `${P}sweep:nodes`,
    selRegions: () => `${P}sel:regions`,
    /** field: "expiry" | "updated" | a selector metric. */
    sel: (region: string, field: string) => `${P}sel:${part(region)}:${part(field)}`,
  } as const;
}

export const keys = layout(encodeKeyPart);

export const KEY_PREFIX = P;

// Lua builds the keys it cannot receive in KEYS (they depend on data it reads) with these
// functions, generated from `layout` above so the layout and its encoding are written down once.
const LUA_PARAM = "\u0000";
const luaKeys = layout((param) => `${LUA_PARAM}k_enc(${param})${LUA_PARAM}`);
const luaPattern = `[^${[...KEY_SAFE].map((c) => (/[A-Za-z0-9]/.test(c) ? c : `%${c}`)).join("")}]`;
const LUA_ENCODE = `local function k_enc(s) return (string.gsub(s, '${luaPattern}', function(c) return string.format('%%%02X', string.byte(c)) end)) end`;

function luaKeyFunction(name: string, fn: (...a: string[]) => string, arity: number): string {
  const params = Array.from({ length: arity }, (_, i) => `a${i + 1}`);
  const body = fn(...params)
    .split(LUA_PARAM)
    .map((s, i) => (i % 2 === 1 ? s : JSON.stringify(s)))
    .filter((s) => s !== '""')
    .join(" .. ");
  return `local function ${name}(${params.join(", ")}) return ${body || '""'} end`;
}

/** k_<name in snake case>(params) for every key of the layout, after k_enc. */
const snakeCase = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
export const LUA_KEY_FUNCTIONS = [
  LUA_ENCODE,
  ...Object.entries(luaKeys).map(([name, fn]) =>
    luaKeyFunction(`k_${snakeCase(name)}`, fn as (...a: string[]) => string, fn.length),
  ),
].join("\n");
