--[[
  get_room: one room's record and participant count.

  Input:
    KEYS[1] room hash                keys.room(room)
    KEYS[2] the room's participants  keys.roomParticipants(room)

  Output: { HGETALL of the room hash (flat), number of participants }
]]
return { redis.call('HGETALL', KEYS[1]), redis.call('HLEN', KEYS[2]) }
