// Node registry and room bookkeeping written by media nodes. Every write is one Lua script call
// (one round trip, atomic). Layout: see keys.ts.
import { LUA_KEY_FUNCTIONS, SEL_FIELDS, keys } from "./keys.ts";
import { NODE_TTL_MS, type NodeRecord } from "./node.ts";
import { defineScript, type ScriptRunner } from "./redis-runner.ts";
import { METRICS, reportedMetric } from "./selector/metrics.ts";

const reportNodeScript = defineScript(
  "report_node",
  `
-- KEYS: node, nodes, reserved, selRegions, sel:<region>:<field> for each SEL_FIELDS
-- ARGV: json, ttl_ms, id, now_ms, region, state, updatedAt, metric values (METRICS order)
local expiry = tonumber(ARGV[4]) + tonumber(ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], expiry, ARGV[3])
redis.call('DEL', KEYS[3])
if ARGV[6] ~= 'SERVING' then
  -- leaves the selection index at once: a draining node takes no new rooms
  for i = 5, #KEYS do redis.call('ZREM', KEYS[i], ARGV[3]) end
  return 1
end
redis.call('SADD', KEYS[4], ARGV[5])
redis.call('ZADD', KEYS[5], expiry, ARGV[3])
redis.call('ZADD', KEYS[6], ARGV[7], ARGV[3])
for i = 7, #KEYS do redis.call('ZADD', KEYS[i], ARGV[i + 1], ARGV[3]) end
return 1
`,
);

const selKeys = (region: string) => SEL_FIELDS.map((f) => keys.sel(region, f));

/** Publishes a node's record with a TTL; a node that stops reporting disappears by itself. Also
 * (re)writes its entry in the selection index, which resets its placement reservations. */
export async function reportNode(redis: ScriptRunner, record: NodeRecord, now = Date.now()): Promise<void> {
  await redis.run(
    reportNodeScript,
    [keys.node(record.id), keys.nodes(), keys.nodeReserved(record.id), keys.selRegions(), ...selKeys(record.region)],
    [
      JSON.stringify(record),
      NODE_TTL_MS,
      record.id,
      now,
      record.region,
      record.state,
      record.updatedAt,
      ...METRICS.map((m) => reportedMetric(record, m)),
    ],
  );
}

const removeNodeScript = defineScript(
  "remove_node",
  `${LUA_KEY_FUNCTIONS}
-- KEYS: node, nodes, reserved  ARGV: id, selection fields...
local json = redis.call('GET', KEYS[1])
if json then
  local region = cjson.decode(json).region
  for i = 2, #ARGV do redis.call('ZREM', k_sel(region, ARGV[i]), ARGV[1]) end
end
redis.call('DEL', KEYS[1], KEYS[3])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
`,
);

/** Removes a node at clean shutdown (the TTL covers crashes). */
export async function removeNode(redis: ScriptRunner, nodeId: string): Promise<void> {
  await redis.run(
    removeNodeScript,
    [keys.node(nodeId), keys.nodes(), keys.nodeReserved(nodeId)],
    [nodeId, ...SEL_FIELDS],
  );
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
