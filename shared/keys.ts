// The Redis key layout, in one place. Every key either carries a TTL or is swept, so nothing
// outlives the node or room it describes (LiveKit's `nodes` hash has no TTL: ghost nodes).
//
//   node:<id>               STRING  JSON NodeRecord, PX = NODE_TTL_MS, rewritten every report
//   nodes                   ZSET    node id -> expiry (ms); lets scripts enumerate live nodes and
//                                   drop expired members without SCAN
//   node:<id>:rooms         SET     rooms hosted by the node (swept with the node)
//   node:<id>:reserved      STRING  placements made onto the node since its last report (anti-herding)
//   room:<name>             HASH    room record: name, node, createdAt, emptyTimeout, maxParticipants, metadata
//   rooms                   ZSET    room name -> createdAt (ms)
//   room:<name>:participants HASH   identity -> JSON participant (written by the hosting node)
//   bus:node:<id>           CHANNEL pub/sub inbox of a node (signaling bridge)
const P = "meridian:";

export const keys = {
  node: (id: string) => `${P}node:${id}`,
  nodes: () => `${P}nodes`,
  nodeRooms: (id: string) => `${P}node:${id}:rooms`,
  nodeReserved: (id: string) => `${P}node:${id}:reserved`,
  room: (name: string) => `${P}room:${name}`,
  rooms: () => `${P}rooms`,
  roomParticipants: (name: string) => `${P}room:${name}:participants`,
  nodeBus: (id: string) => `${P}bus:node:${id}`,
} as const;

export const KEY_PREFIX = P;
