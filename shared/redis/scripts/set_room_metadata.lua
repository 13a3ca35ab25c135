--[[
  set_room_metadata: stores a room's metadata (RoomService UpdateRoomMetadata); a node opening the
  room later reads it from the room hash.

  Input:
    KEYS[1] room hash                keys.room(room)
    KEYS[2] the room's participants  keys.roomParticipants(room)
    KEYS[3] the room's nodes         keys.roomNodes(room)

    ARGV[1] JSON object:
      metadata  the new metadata

  Output: as get_room, or false when there is no such room
]]
-- @include signal_nodes
-- @include room_nodes
local a = cjson.decode(ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
redis.call('HSET', KEYS[1], 'metadata', a.metadata)
return { redis.call('HGETALL', KEYS[1]), redis.call('HLEN', KEYS[2]), signal_nodes(KEYS[2]), room_nodes(KEYS[3]) }
