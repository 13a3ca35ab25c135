--[[
  delete_room: removes the room's record and mapping and tells the hosting node (bus message
  room.delete) to close it.

  Input:
    KEYS[1] room hash                keys.room(room)
    KEYS[2] rooms zset               keys.rooms()
    KEYS[3] the room's participants  keys.roomParticipants(room)
    KEYS[4] unclaimed rooms zset     keys.unclaimedRooms()

    ARGV[1] JSON object:
      room     room name
      message  the bus message for the hosting node, as JSON text (published as is)

  Output: the hosting node's id, or false when there was no such room
]]
-- @include keys
local a = cjson.decode(ARGV[1])
local node = redis.call('HGET', KEYS[1], 'node')
if not node then return false end
-- A room spanning nodes (cascade): its edges close their share too.
for _, edge in ipairs(redis.call('HKEYS', k_room_nodes(a.room))) do
  if edge ~= node then redis.call('PUBLISH', k_node_bus(edge), a.message) end
end
redis.call('DEL', KEYS[1], KEYS[3], k_room_nodes(a.room))
redis.call('ZREM', KEYS[2], a.room)
redis.call('ZREM', KEYS[4], a.room)
redis.call('SREM', k_node_rooms(node), a.room)
redis.call('PUBLISH', k_node_bus(node), a.message)
return node
