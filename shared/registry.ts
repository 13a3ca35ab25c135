// Node registry and room bookkeeping written by media nodes. Every write is one Lua script call
// (one round trip, atomic). Layout: see keys.ts.
import { keys } from "./keys.ts";
import { NODE_TTL_MS, type NodeRecord } from "./node.ts";
import { defineScript, type ScriptRunner } from "./redis-runner.ts";

const reportNodeScript = defineScript(
  "report_node",
  `
-- KEYS: node, nodes, reserved  ARGV: json, ttl_ms, id, now_ms
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], tonumber(ARGV[4]) + tonumber(ARGV[2]), ARGV[3])
redis.call('DEL', KEYS[3])
return 1
`,
);

/** Publishes a node's record with a TTL; a node that stops reporting disappears by itself. */
export async function reportNode(redis: ScriptRunner, record: NodeRecord, now = Date.now()): Promise<void> {
  await redis.run(
    reportNodeScript,
    [keys.node(record.id), keys.nodes(), keys.nodeReserved(record.id)],
    [JSON.stringify(record), NODE_TTL_MS, record.id, now],
  );
}

const removeNodeScript = defineScript(
  "remove_node",
  `
-- KEYS: node, nodes, reserved  ARGV: id
redis.call('DEL', KEYS[1], KEYS[3])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
`,
);

/** Removes a node at clean shutdown (the TTL covers crashes). */
export async function removeNode(redis: ScriptRunner, nodeId: string): Promise<void> {
  await redis.run(removeNodeScript, [keys.node(nodeId), keys.nodes(), keys.nodeReserved(nodeId)], [nodeId]);
}

export interface ParticipantRecord {
  identity: string;
  name?: string;
  sid: string;
  joinedAt: number;
  /** Node the participant's signaling connection is on (may differ from the hosting node). */
  signalNode: string;
  tracks: { sid: string; kind: "audio" | "video" | "data"; source?: string; muted: boolean }[];
}

const upsertParticipantScript = defineScript(
  "upsert_participant",
  `
-- KEYS: participants  ARGV: identity, json
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
`,
);

export async function upsertParticipant(redis: ScriptRunner, room: string, p: ParticipantRecord): Promise<void> {
  await redis.run(upsertParticipantScript, [keys.roomParticipants(room)], [p.identity, JSON.stringify(p)]);
}

const removeParticipantScript = defineScript(
  "remove_participant",
  `
-- KEYS: participants  ARGV: identity
return redis.call('HDEL', KEYS[1], ARGV[1])
`,
);

export async function removeParticipant(redis: ScriptRunner, room: string, identity: string): Promise<void> {
  await redis.run(removeParticipantScript, [keys.roomParticipants(room)], [identity]);
}

const closeRoomScript = defineScript(
  "close_room",
  `
-- KEYS: room, rooms, participants, nodeRooms  ARGV: name, nodeId
-- Only the node that owns the room may close it: the mapping may have moved (failover).
local owner = redis.call('HGET', KEYS[1], 'node')
if owner and owner ~= ARGV[2] then
  redis.call('SREM', KEYS[4], ARGV[1])
  return 0
end
redis.call('DEL', KEYS[1], KEYS[3])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('SREM', KEYS[4], ARGV[1])
return 1
`,
);

/** Called by the hosting node when a room ends (empty timeout, delete, drain). */
export async function closeRoom(redis: ScriptRunner, room: string, nodeId: string): Promise<boolean> {
  const r = await redis.run(
    closeRoomScript,
    [keys.room(room), keys.rooms(), keys.roomParticipants(room), keys.nodeRooms(nodeId)],
    [room, nodeId],
  );
  return r === 1;
}
