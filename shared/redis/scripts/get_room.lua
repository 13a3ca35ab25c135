--[[
  get_room: one room's record, participant count, participants by signal node and the nodes
  serving it (cascade).

  Input:
    KEYS[1] room hash                keys.room(room)
    KEYS[2] the room's participants  keys.roomParticipants(room)
    KEYS[3] the room's nodes         keys.roomNodes(room)

  Output: { HGETALL of the room hash (flat), number of participants, { signal node, participants, ... },
            { serving node, entry JSON, ... } (includes/room_nodes.lua) }
]]
-- @include signal_nodes
-- @include room_nodes
return { redis.call('HGETALL', KEYS[1]), redis.call('HLEN', KEYS[2]), signal_nodes(KEYS[2]), room_nodes(KEYS[3]) }
