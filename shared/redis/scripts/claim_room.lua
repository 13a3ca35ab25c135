--[[
  claim_room: the node hosts the room (on open, and again after re-registering, since an expired
  record or a restarted Redis lost the mapping): map it here unless it is mapped to another live
  node. Participants are written by the hosting node, so those recorded by a previous host (a dead
  node's, when taking over; anyone's, when fresh = the room just opened here) are stale; a re-sync
  (fresh = false) rewrites this node's own right after.

  Input:
    KEYS[1] room hash                keys.room(room)
    KEYS[2] rooms zset               keys.rooms()
    KEYS[3] the room's participants  keys.roomParticipants(room)
    KEYS[4] the node's room set      keys.nodeRooms(node_id)
    KEYS[5] unclaimed rooms zset     keys.unclaimedRooms()

    ARGV[1] JSON object:
      room     room name
      node_id  the claiming node
      region   its region
      now      ms (createdAt of a room that was not mapped)
      fresh    boolean: the room just opened here

  Output: 1 claimed, 0 the room is mapped to another live node (the caller must not serve it)
]]
-- @include keys
local a = cjson.decode(ARGV[1])
local owner = redis.call('HGET', KEYS[1], 'node')
if owner and owner ~= a.node_id and redis.call('EXISTS', k_node(owner)) == 1 then return 0 end
if not owner then
  redis.call('HSET', KEYS[1], 'name', a.room, 'createdAt', a.now)
  redis.call('ZADD', KEYS[2], 'NX', a.now, a.room)
end
if owner ~= a.node_id then
  if owner then redis.call('SREM', k_node_rooms(owner), a.room) end
  redis.call('HSET', KEYS[1], 'node', a.node_id, 'region', a.region)
end
if a.fresh or (owner and owner ~= a.node_id) then redis.call('DEL', KEYS[3]) end
redis.call('SADD', KEYS[4], a.room)
redis.call('ZREM', KEYS[5], a.room)
return 1
