--[[
  list_participants: one page of the participant records of a room (written by its hosting node).
  An HSCAN page: bounded (about `count` records; a small hash comes whole), and a participant
  present throughout the listing is listed (SCAN's guarantee; one may appear twice).

  Input:
    KEYS[1] room hash                keys.room(room)
    KEYS[2] the room's participants  keys.roomParticipants(room)

    ARGV[1] JSON object:
      cursor  HSCAN cursor ('0' = first page)
      count   HSCAN COUNT hint

  Output: { next cursor ('0' = last page), { record (JSON text), ... } }, or false when there is no
  such room
]]
local a = cjson.decode(ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local page = redis.call('HSCAN', KEYS[2], a.cursor, 'COUNT', a.count)
local out = {}
for i = 2, #page[2], 2 do out[#out + 1] = page[2][i] end
return { page[1], out }
