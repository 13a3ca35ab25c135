--[[
  claim_room: the node hosts the room (on open, and again on a re-sync after re-registering or
  after Redis lost data): map it here unless another live node owns it, confirmed since the last
  warm-up (keys.ts registry:epoch; an unconfirmed mapping may be restored from an old snapshot:
  the node that really hosts the room takes it over). Participants are written by the hosting
  node, so those recorded by a previous host (a dead node's, when taking over; anyone's, when
  fresh = the room just opened here) are stale; a re-sync passes the node's own participants,
  which replace the list. The node's copy of the room's settings fills in what Redis lost.

  Input:
    KEYS[1] room hash                keys.room(room)
    KEYS[2] rooms zset               keys.rooms()
    KEYS[3] the room's participants  keys.roomParticipants(room)
    KEYS[4] the node's room set      keys.nodeRooms(node_id)
    KEYS[5] unclaimed rooms zset     keys.unclaimedRooms()
    KEYS[6] registry epoch           keys.registryEpoch()

    ARGV[1] JSON object:
      room          room name
      node_id       the claiming node
      region        its region
      now           ms (createdAt of a room Redis has no record of, unless settings has one)
      fresh         boolean: the room just opened here
      participants  re-sync only: the node's participants, { identity, record (JSON text) }[],
                    which replace the recorded ones (unless cascade edges serve the room too)
      settings      the node's copy of the room's settings: { createdAt, emptyTimeout,
                    maxParticipants, metadata } (any may be absent); written where Redis has none
      ttl_ms        lifetime of the node's write log (includes/node_writes.lua)
      write_no      this write's number in the node's log (NodeWriteLog; absent: not logged)
      sid           (optional) the room sid the opening client's media token names: the room
                    must have a record with that sid. Never creates a record then: a room
                    deleted since the token was minted (or never placed: AUTO_CREATE=false) is
                    not brought back by a node

  Output: 1 claimed, 0 another live node owns the room, or (sid given) the room has no record with
  that sid (the caller must not serve it)
]]
-- @include keys
-- @include node_writes
local a = cjson.decode(ARGV[1])
log_node_write(a.node_id, a.write_no, a.ttl_ms)
if a.sid and redis.call('HGET', KEYS[1], 'sid') ~= a.sid then return 0 end
local epoch = redis.call('GET', KEYS[6]) or '0'
local owner, owner_epoch = unpack(redis.call('HMGET', KEYS[1], 'node', 'epoch'))
if owner and owner ~= a.node_id and redis.call('EXISTS', k_node(owner)) == 1 and (owner_epoch or '0') == epoch then
  return 0
end
local s = type(a.settings) == 'table' and a.settings or {}
local created = s.createdAt or a.now
redis.call('HSETNX', KEYS[1], 'name', a.room)
redis.call('HSETNX', KEYS[1], 'createdAt', string.format('%d', created))
for _, f in ipairs({ 'emptyTimeout', 'maxParticipants', 'metadata' }) do
  local v = s[f]
  if type(v) == 'number' then v = string.format('%d', v) end
  if type(v) == 'string' then redis.call('HSETNX', KEYS[1], f, v) end
end
redis.call('ZADD', KEYS[2], 'NX', redis.call('HGET', KEYS[1], 'createdAt'), a.room)
if owner ~= a.node_id then
  if owner then redis.call('SREM', k_node_rooms(owner), a.room) end
  redis.call('HSET', KEYS[1], 'node', a.node_id, 'region', a.region)
end
redis.call('HSET', KEYS[1], 'epoch', epoch)
-- A re-sync's list replaces the recorded one, unless other nodes serve the room too (cascade
-- edges write their own participants): then it is only written over.
local shared = false
for _, id in ipairs(redis.call('HKEYS', k_room_nodes(a.room))) do shared = shared or id ~= a.node_id end
local resync = type(a.participants) == 'table'
if a.fresh or (resync and not shared) or (owner and owner ~= a.node_id) then redis.call('DEL', KEYS[3]) end
if resync then
  for _, p in ipairs(a.participants) do redis.call('HSET', KEYS[3], p.identity, p.record) end
end
redis.call('SADD', KEYS[4], a.room)
redis.call('ZREM', KEYS[5], a.room)
return 1
