--[[
  get_participant: one participant record of a room (written by its hosting node).

  Input:
    KEYS[1] room hash                keys.room(room)
    KEYS[2] the room's participants  keys.roomParticipants(room)

    ARGV[1] JSON object:
      identity  the participant's identity

  Output: { record JSON text, or nothing when no such participant }, or false when there is no such room
]]
local a = cjson.decode(ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
return { redis.call('HGET', KEYS[2], a.identity) }
