--[[
  get_room: one room's record, participant count and participants by signal node.

  Input:
    KEYS[1] room hash                keys.room(room)
    KEYS[2] the room's participants  keys.roomParticipants(room)

  Output: { HGETALL of the room hash (flat), number of participants, { signal node, participants, ... } }
]]
-- @include signal_nodes
return { redis.call('HGETALL', KEYS[1]), redis.call('HLEN', KEYS[2]), signal_nodes(KEYS[2]) }
