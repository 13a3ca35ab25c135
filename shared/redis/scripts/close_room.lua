--[[
  close_room: the hosting node ends a room (empty timeout, delete, drain). Only the node that owns
  the room may close it: the mapping may have moved (failover); then only the node's own room set
  forgets it.

  Input:
    KEYS[1] room hash                keys.room(room)
    KEYS[2] rooms zset               keys.rooms()
    KEYS[3] the room's participants  keys.roomParticipants(room)
    KEYS[4] the node's room set      keys.nodeRooms(node_id)
    KEYS[5] unclaimed rooms zset     keys.unclaimedRooms()

    ARGV[1] JSON object:
      room      room name
      node_id   the closing node
      ttl_ms    lifetime of the node's write log (includes/node_writes.lua)
      write_no  this write's number in the node's log (NodeWriteLog; absent: not logged)

  Output: 1 closed, 0 another node owns the room
]]
-- @include keys
-- @include node_writes
local a = cjson.decode(ARGV[1])
log_node_write(a.node_id, a.write_no, a.ttl_ms)
local owner = redis.call('HGET', KEYS[1], 'node')
if owner and owner ~= a.node_id then
  redis.call('SREM', KEYS[4], a.room)
  return 0
end
redis.call('DEL', KEYS[1], KEYS[3], k_room_nodes(a.room))
redis.call('ZREM', KEYS[2], a.room)
redis.call('ZREM', KEYS[5], a.room)
redis.call('SREM', KEYS[4], a.room)
return 1
