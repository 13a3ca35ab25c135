--[[
  list_participants: the participant records of a room (written by its hosting node).

  Input:
    KEYS[1] room hash                keys.room(room)
    KEYS[2] the room's participants  keys.roomParticipants(room)

  Output: the records (JSON text each), or false when there is no such room
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
return redis.call('HVALS', KEYS[2])
