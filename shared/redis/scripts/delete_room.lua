--[[
  delete_room: removes the room's record and mapping and tells every node serving it (the hosting
  node, and the edges of a room spanning nodes) with a bus message room.delete to close it.

  Input:
    KEYS[1] room hash                keys.room(room)
    KEYS[2] rooms zset               keys.rooms()
    KEYS[3] the room's participants  keys.roomParticipants(room)
    KEYS[4] unclaimed rooms zset     keys.unclaimedRooms()

    ARGV[1] JSON object:
      room      room name
      messages  node id -> the bus message sealed for that node's channel (shared/bus.ts: a sealed
                message is only accepted on the channel it was sealed for); published as is

  Output: the hosting node's id; false when there was no such room; or, when `messages` lacks a
  node that serves the room, the list of those nodes ({ host, edge... }) and nothing changed: the
  caller seals for them and calls again
]]
-- @include keys
local a = cjson.decode(ARGV[1])
local node = redis.call('HGET', KEYS[1], 'node')
if not node then return false end
local serving = { node }
-- A room spanning nodes (cascade): its edges close their share too.
for _, edge in ipairs(redis.call('HKEYS', k_room_nodes(a.room))) do
  if edge ~= node then serving[#serving + 1] = edge end
end
for _, n in ipairs(serving) do
  if type(a.messages[n]) ~= 'string' then return serving end
end
for i = 2, #serving do redis.call('PUBLISH', k_node_bus(serving[i]), a.messages[serving[i]]) end
redis.call('DEL', KEYS[1], KEYS[3], k_room_nodes(a.room))
redis.call('ZREM', KEYS[2], a.room)
redis.call('ZREM', KEYS[4], a.room)
redis.call('SREM', k_node_rooms(node), a.room)
redis.call('PUBLISH', k_node_bus(node), a.messages[node])
return node
