// Node registry and room bookkeeping written by media nodes. Every write is one Lua script call
// (one round trip, atomic). Layout: see keys.ts.
import { LUA_KEY_FUNCTIONS, SEL_FIELDS, keys } from "./keys.ts";
import { NODE_TTL_MS, REGISTRY_RESTART_UPTIME_MS, REGISTRY_WARMUP_MS, type NodeRecord } from "./node.ts";
import { defineScript, type ScriptRunner } from "./redis-runner.ts";
import { METRICS } from "./selector/metrics.ts";
import { LUA_DECAY_FACTOR, REFLECT_TAU_MS, roomCost, settledMetric } from "./selector/reservation.ts";

const luaList = (xs: readonly string[]) => `{ ${xs.map((x) => `'${x}'`).join(", ")} }`;

const reportNodeScript = defineScript(
  "report_node",
  `${LUA_DECAY_FACTOR}
-- KEYS: node, nodes, reserved, selRegions, sweepNodes, reservation, registrySince,
--       registryWarming, sel:<region>:<field> for each SEL_FIELDS
-- ARGV: json, ttl_ms, id, now_ms, region, state, updatedAt, then per metric (METRICS order):
--       settled values, room costs, reflect time constants (ms); then startedAt, warm-up ms,
--       restart uptime ms
-- Returns 1 if the node was registered already, 0 if this report (re-)registered it: its record
-- had expired or Redis lost it, so the node must re-sync its rooms and participants.
local METRICS = ${luaList(METRICS)}
local M = #METRICS
local SEL = 9 -- KEYS[SEL] = sel:<region>:expiry, then updated, then one per metric
local id, updated = ARGV[3], tonumber(ARGV[7])
local now = tonumber(ARGV[4])
local existed = redis.call('EXISTS', KEYS[1])
local expiry = now + tonumber(ARGV[2])

if existed == 0 then
  -- Warm-up (keys.ts registry:*): the first report into an empty registry records its start; a
  -- node that was up for a while before that start had reported into a registry this one does
  -- not remember (Redis restarted empty), so rooms that live nodes still host are unknown until
  -- they re-claim them. Placement refuses unmapped rooms until start + warm-up.
  redis.call('SET', KEYS[7], ARGV[4], 'NX')
  local since = tonumber(redis.call('GET', KEYS[7]))
  local warm_until = since + tonumber(ARGV[9 + 3 * M])
  if now < warm_until and tonumber(ARGV[8 + 3 * M]) + tonumber(ARGV[10 + 3 * M]) < since then
    redis.call('SET', KEYS[8], string.format('%d', warm_until), 'PX', string.format('%d', warm_until - now))
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], expiry, id)
redis.call('ZADD', KEYS[5], expiry, id)

-- Carry forward what the report cannot show yet: (carried + placed x cost) decayed over the time
-- between this report and the previous one (reservation.ts afterReport, the same arithmetic).
local want = { 'at' }
for i, m in ipairs(METRICS) do want[1 + i] = 'carried:' .. m; want[1 + M + i] = 'cost:' .. m end
local prev = redis.call('HMGET', KEYS[6], unpack(want))
local placed = tonumber(redis.call('GET', KEYS[3]) or '0')
local carried, fields = {}, { 'at', ARGV[7] }
for i, m in ipairs(METRICS) do
  local c = 0
  if prev[1] then
    local outstanding = (tonumber(prev[1 + i]) or 0) + placed * (tonumber(prev[1 + M + i]) or 0)
    c = outstanding * decay_factor(updated - tonumber(prev[1]), tonumber(ARGV[7 + 2 * M + i]))
  end
  carried[i] = string.format('%.17g', c) -- round-trips exactly
  fields[#fields + 1] = 'carried:' .. m; fields[#fields + 1] = carried[i]
  fields[#fields + 1] = 'cost:' .. m; fields[#fields + 1] = ARGV[7 + M + i]
end
redis.call('HSET', KEYS[6], unpack(fields))
redis.call('PEXPIRE', KEYS[6], ARGV[2])
redis.call('DEL', KEYS[3])

if ARGV[6] ~= 'SERVING' then
  -- leaves the selection index at once: a draining node takes no new rooms
  for i = SEL, #KEYS do redis.call('ZREM', KEYS[i], id) end
  return existed
end
redis.call('SADD', KEYS[4], ARGV[5])
redis.call('ZADD', KEYS[SEL], expiry, id)
redis.call('ZADD', KEYS[SEL + 1], ARGV[7], id)
for i = 1, M do
  -- settled + carried, summed by Redis in the same order as effectiveMetric
  local key = KEYS[SEL + 1 + i]
  redis.call('ZADD', key, ARGV[7 + i], id)
  if tonumber(carried[i]) ~= 0 then redis.call('ZINCRBY', key, carried[i], id) end
end
return existed
`,
);

const selKeys = (region: string) => SEL_FIELDS.map((f) => keys.sel(region, f));

/** Publishes a node's record with a TTL; a node that stops reporting disappears by itself. Also
 * (re)writes its entry in the selection index: its settled metrics plus the reservations they
 * cannot show yet (shared/selector/reservation.ts), and starts the registry's warm-up when Redis
 * came back empty under it (keys.ts registry:*). Returns false when the report (re-)registered
 * the node (first report, expired record, Redis restarted). */
export async function reportNode(redis: ScriptRunner, record: NodeRecord, now = Date.now()): Promise<boolean> {
  const existed = await redis.run(
    reportNodeScript,
    [
      keys.node(record.id),
      keys.nodes(),
      keys.nodeReserved(record.id),
      keys.selRegions(),
      keys.sweepNodes(),
      keys.nodeReservation(record.id),
      keys.registrySince(),
      keys.registryWarming(),
      ...selKeys(record.region),
    ],
    [
      JSON.stringify(record),
      NODE_TTL_MS,
      record.id,
      now,
      record.region,
      record.state,
      record.updatedAt,
      ...METRICS.map((m) => settledMetric(record, m)),
      ...METRICS.map((m) => roomCost(record, m)),
      ...METRICS.map((m) => REFLECT_TAU_MS[m]),
      record.startedAt,
      REGISTRY_WARMUP_MS,
      REGISTRY_RESTART_UPTIME_MS,
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
redis.call('DEL', KEYS[1], KEYS[3], k_node_reservation(ARGV[1]), k_node_rooms(ARGV[1]))
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
return 1
`,
);

/** Removes a node and its room set at clean shutdown (the TTL and the sweep cover crashes). */
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

// Only the room's owner writes its participants: a node that lost the room (failover while it
// was cut off from Redis) must not add or remove entries of the new host's participants. An
// unmapped room (Redis came back empty, before the re-sync's claim) takes the write.
const upsertParticipantScript = defineScript(
  "upsert_participant",
  `
-- KEYS: room, participants  ARGV: identity, json, nodeId
local owner = redis.call('HGET', KEYS[1], 'node')
if owner and owner ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
`,
);

/** Returns false when another node owns the room (nothing written). */
export async function upsertParticipant(redis: ScriptRunner, room: string, p: ParticipantRecord, nodeId: string): Promise<boolean> {
  return (await redis.run(upsertParticipantScript, [keys.room(room), keys.roomParticipants(room)], [p.identity, JSON.stringify(p), nodeId])) === 1;
}

const removeParticipantScript = defineScript(
  "remove_participant",
  `
-- KEYS: room, participants  ARGV: identity, nodeId
local owner = redis.call('HGET', KEYS[1], 'node')
if owner and owner ~= ARGV[2] then return 0 end
return redis.call('HDEL', KEYS[2], ARGV[1])
`,
);

export async function removeParticipant(redis: ScriptRunner, room: string, identity: string, nodeId: string): Promise<void> {
  await redis.run(removeParticipantScript, [keys.room(room), keys.roomParticipants(room)], [identity, nodeId]);
}

const closeRoomScript = defineScript(
  "close_room",
  `
-- KEYS: room, rooms, participants, nodeRooms, unclaimedRooms  ARGV: name, nodeId
-- Only the node that owns the room may close it: the mapping may have moved (failover).
local owner = redis.call('HGET', KEYS[1], 'node')
if owner and owner ~= ARGV[2] then
  redis.call('SREM', KEYS[4], ARGV[1])
  return 0
end
redis.call('DEL', KEYS[1], KEYS[3])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[1])
redis.call('SREM', KEYS[4], ARGV[1])
return 1
`,
);

/** Called by the hosting node when a room ends (empty timeout, delete, drain). */
export async function closeRoom(redis: ScriptRunner, room: string, nodeId: string): Promise<boolean> {
  const r = await redis.run(
    closeRoomScript,
    [keys.room(room), keys.rooms(), keys.roomParticipants(room), keys.nodeRooms(nodeId), keys.unclaimedRooms()],
    [room, nodeId],
  );
  return r === 1;
}

const claimRoomScript = defineScript(
  "claim_room",
  `${LUA_KEY_FUNCTIONS}
-- KEYS: room, rooms, participants, nodeRooms, unclaimedRooms
-- ARGV: name, nodeId, region, now, fresh (1|0)
-- The node hosts the room: map it here unless it is mapped to another node (0: the mapping moved,
-- the caller must not serve it). Participants are written by the hosting node, so those recorded
-- by a previous host (a dead node's, when taking over; anyone's, when fresh = the room just
-- opened here) are stale; a re-sync (fresh = 0) rewrites this node's own right after.
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
if ARGV[5] == '1' or (owner and owner ~= ARGV[2]) then redis.call('DEL', KEYS[3]) end
redis.call('SADD', KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[1])
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
    [keys.room(room), keys.rooms(), keys.roomParticipants(room), keys.nodeRooms(node.id), keys.unclaimedRooms()],
    [room, node.id, node.region, now, fresh ? 1 : 0],
  );
  return r === 1;
}

const sweepScript = defineScript(
  "sweep_dead_nodes",
  `${LUA_KEY_FUNCTIONS}
-- KEYS: sweepNodes, nodes, selRegions, unclaimedRooms  ARGV: now, limit, selection fields...
-- Every node whose registration expired: remove its index entries, its rooms (when still mapped
-- to it), their participants and its own keys. Idempotent; a node that re-registered meanwhile
-- (record present again) is left alone. (Rooms re-placed off a dead node lost its participants
-- in that same step: placement and claimRoom.)
-- Then every room placed but never opened by its node within its deadline (keys.ts
-- rooms:unclaimed): nobody joined it, so it goes, as LiveKit's empty_timeout closes it.
local function drop_room(room)
  redis.call('DEL', k_room(room), k_room_participants(room))
  redis.call('ZREM', k_rooms(), room)
  redis.call('ZREM', KEYS[4], room)
end
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local swept = {}
for _, id in ipairs(dead) do
  if redis.call('EXISTS', k_node(id)) == 0 then
    redis.call('ZREM', KEYS[2], id)
    for _, region in ipairs(redis.call('SMEMBERS', KEYS[3])) do
      for i = 3, #ARGV do redis.call('ZREM', k_sel(region, ARGV[i]), id) end
    end
    for _, room in ipairs(redis.call('SMEMBERS', k_node_rooms(id))) do
      if redis.call('HGET', k_room(room), 'node') == id then drop_room(room) end
    end
    redis.call('DEL', k_node_rooms(id), k_node_reserved(id), k_node_reservation(id))
    swept[#swept + 1] = id
    redis.call('ZREM', KEYS[1], id)
  else
    -- Still registered: a report landed meanwhile, or the record outlives the score by the
    -- report's transit time (the score is the node's clock + TTL, the key's PX counts from
    -- arrival). Re-arm at the record's real expiry; dropping the entry would lose the node for
    -- good if it dies now.
    local pttl = redis.call('PTTL', k_node(id))
    redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + math.max(pttl, 1), id)
  end
end
for _, room in ipairs(redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))) do
  local owner = redis.call('HGET', k_room(room), 'node')
  if owner then redis.call('SREM', k_node_rooms(owner), room) end
  drop_room(room)
end
return swept
`,
);

/** Removes everything left behind by nodes whose registry entry expired (crashed, partitioned),
 * and rooms placed but never opened by their node before their deadline: no ghost nodes, rooms
 * or participants. Every live node runs it each report tick. Returns the node ids swept. */
export async function sweepDeadNodes(redis: ScriptRunner, now = Date.now(), limit = 100): Promise<string[]> {
  const r = await redis.run(
    sweepScript,
    [keys.sweepNodes(), keys.nodes(), keys.selRegions(), keys.unclaimedRooms()],
    [now, limit, ...SEL_FIELDS],
  );
  return (r as unknown[]).map(String);
}
