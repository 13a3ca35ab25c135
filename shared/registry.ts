// Node registry and room bookkeeping written by media nodes. Every write is one Lua script call
// (one round trip, atomic). Layout: see keys.ts.
import { LUA_KEY_FUNCTIONS, SEL_FIELDS, keys } from "./keys.ts";
import { NODE_TTL_MS, type NodeRecord } from "./node.ts";
import { defineScript, type ScriptRunner } from "./redis-runner.ts";
import { METRICS, reportedMetric } from "./selector/metrics.ts";

const reportNodeScript = defineScript(
  "report_node",
  `
-- KEYS: node, nodes, reserved, selRegions, sweepNodes, sel:<region>:<field> for each SEL_FIELDS
-- ARGV: json, ttl_ms, id, now_ms, region, state, updatedAt, metric values (METRICS order)
-- Returns 1 if the node was registered already, 0 if this report (re-)registered it: its record
-- had expired or Redis lost it, so the node must re-sync its rooms and participants.
local existed = redis.call('EXISTS', KEYS[1])
local expiry = tonumber(ARGV[4]) + tonumber(ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], expiry, ARGV[3])
redis.call('ZADD', KEYS[5], expiry, ARGV[3])
redis.call('DEL', KEYS[3])
if ARGV[6] ~= 'SERVING' then
  -- leaves the selection index at once: a draining node takes no new rooms
  for i = 6, #KEYS do redis.call('ZREM', KEYS[i], ARGV[3]) end
  return existed
end
redis.call('SADD', KEYS[4], ARGV[5])
redis.call('ZADD', KEYS[6], expiry, ARGV[3])
redis.call('ZADD', KEYS[7], ARGV[7], ARGV[3])
for i = 8, #KEYS do redis.call('ZADD', KEYS[i], ARGV[i], ARGV[3]) end
return existed
`,
);

const selKeys = (region: string) => SEL_FIELDS.map((f) => keys.sel(region, f));

/** Publishes a node's record with a TTL; a node that stops reporting disappears by itself. Also
 * (re)writes its entry in the selection index, which resets its placement reservations. Returns
 * false when the report (re-)registered the node (first report, expired record, Redis restarted). */
export async function reportNode(redis: ScriptRunner, record: NodeRecord, now = Date.now()): Promise<boolean> {
  const existed = await redis.run(
    reportNodeScript,
    [keys.node(record.id), keys.nodes(), keys.nodeReserved(record.id), keys.selRegions(), keys.sweepNodes(), ...selKeys(record.region)],
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
  return existed === 1;
}

const removeNodeScript = defineScript(
  "remove_node",
  `${LUA_KEY_FUNCTIONS}
-- KEYS: node, nodes, reserved, sweepNodes  ARGV: id, selection fields...
local json = redis.call('GET', KEYS[1])
if json then
  local region = cjson.decode(json).region
  for i = 2, #ARGV do redis.call('ZREM', k_sel(region, ARGV[i]), ARGV[1]) end
end
redis.call('DEL', KEYS[1], KEYS[3])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
return 1
`,
);

/** Removes a node at clean shutdown (the TTL covers crashes). */
export async function removeNode(redis: ScriptRunner, nodeId: string): Promise<void> {
  await redis.run(
    removeNodeScript,
    [keys.node(nodeId), keys.nodes(), keys.nodeReserved(nodeId), keys.sweepNodes()],
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

const claimRoomScript = defineScript(
  "claim_room",
  `${LUA_KEY_FUNCTIONS}
-- KEYS: room, rooms, participants, nodeRooms  ARGV: name, nodeId, region, now, fresh (1|0)
-- The node hosts the room: map it here unless it is mapped to another node (0: the mapping moved,
-- the caller must not serve it). fresh = the room just opened here, so participants recorded by a
-- previous host (a dead node's) are stale.
local owner = redis.call('HGET', KEYS[1], 'node')
if owner and owner ~= ARGV[2] and redis.call('EXISTS', k_node(owner)) == 1 then return 0 end
if not owner then
  redis.call('HSET', KEYS[1], 'name', ARGV[1], 'createdAt', ARGV[4])
  redis.call('ZADD', KEYS[2], 'NX', ARGV[4], ARGV[1])
end
if owner ~= ARGV[2] then
  if owner then redis.call('SREM', k_node_rooms(owner), ARGV[1]) end
  redis.call('HSET', KEYS[1], 'node', ARGV[2], 'region', ARGV[3])
end
if ARGV[5] == '1' then redis.call('DEL', KEYS[3]) end
redis.call('SADD', KEYS[4], ARGV[1])
return 1
`,
);

/** The hosting node records that it serves `room` (on open, and again after re-registering, since
 * an expired record or a restarted Redis lost the mapping). False if another live node owns it. */
export async function claimRoom(
  redis: ScriptRunner,
  room: string,
  node: { id: string; region: string },
  fresh: boolean,
  now = Date.now(),
): Promise<boolean> {
  const r = await redis.run(
    claimRoomScript,
    [keys.room(room), keys.rooms(), keys.roomParticipants(room), keys.nodeRooms(node.id)],
    [room, node.id, node.region, now, fresh ? 1 : 0],
  );
  return r === 1;
}

const sweepScript = defineScript(
  "sweep_dead_nodes",
  `${LUA_KEY_FUNCTIONS}
-- KEYS: sweepNodes, nodes, selRegions  ARGV: now, limit, selection fields...
-- Every node whose registration expired: remove its index entries, its rooms (when still mapped
-- to it), their participants and its own keys. Idempotent; a node that re-registered meanwhile
-- (record present again) is left alone.
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local swept = {}
for _, id in ipairs(dead) do
  if redis.call('EXISTS', k_node(id)) == 0 then
    redis.call('ZREM', KEYS[2], id)
    for _, region in ipairs(redis.call('SMEMBERS', KEYS[3])) do
      for i = 3, #ARGV do redis.call('ZREM', k_sel(region, ARGV[i]), id) end
    end
    for _, room in ipairs(redis.call('SMEMBERS', k_node_rooms(id))) do
      if redis.call('HGET', k_room(room), 'node') == id then
        redis.call('DEL', k_room(room), k_room_participants(room))
        redis.call('ZREM', k_rooms(), room)
      end
    end
    redis.call('DEL', k_node_rooms(id), k_node_reserved(id))
    swept[#swept + 1] = id
  end
  redis.call('ZREM', KEYS[1], id)
end
return swept
`,
);

/** Removes everything left behind by nodes whose registry entry expired (crashed, partitioned):
 * no ghost nodes, rooms or participants. Every live node runs it each report tick. Returns the
 * ids swept. */
export async function sweepDeadNodes(redis: ScriptRunner, now = Date.now(), limit = 100): Promise<string[]> {
  const r = await redis.run(sweepScript, [keys.sweepNodes(), keys.nodes(), keys.selRegions()], [now, limit, ...SEL_FIELDS]);
  return (r as unknown[]).map(String);
}
