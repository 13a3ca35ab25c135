--[[
  list_rooms: the first rooms by creation time, with their participant counts, in all and by signal
  node.

  Input:
    KEYS[1] rooms zset  keys.rooms()

    ARGV[1] JSON object:
      limit  most rooms listed

  Output: { { HGETALL of the room hash (flat), number of participants, { signal node, participants, ... } }, ... }
]]
-- @include keys
-- @include signal_nodes
local a = cjson.decode(ARGV[1])
local out = {}
for _, name in ipairs(redis.call('ZRANGE', KEYS[1], 0, a.limit - 1)) do
  local p = k_room_participants(name)
  out[#out + 1] = { redis.call('HGETALL', k_room(name)), redis.call('HLEN', p), signal_nodes(p) }
end
return out
