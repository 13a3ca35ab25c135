--[[
  list_rooms: one page of rooms by creation time (oldest first), with their participant counts, in
  all and by signal node, and the nodes serving each (cascade). Pages follow a cursor, the (createdAt, name) of the last room of the
  previous page, so a page never repeats or skips a room that exists throughout the listing (rooms
  with equal createdAt come in name order, as the zset keeps them). A page is bounded in rooms
  (limit) and in bytes (max_bytes of room records and serving-node entries, at least one room): no
  reply is unbounded.

  Input:
    KEYS[1] rooms zset  keys.rooms()

    ARGV[1] JSON object:
      limit        most rooms listed
      max_bytes    stop adding rooms once their records hold this many bytes
      after_score  (optional) cursor: createdAt of the last room already listed
      after_name   (optional) cursor: its name

  Output: { { { HGETALL of the room hash (flat), number of participants, { signal node,
            participants, ... }, createdAt score, name, { serving node, entry JSON, ... } }, ... },
            more (1 | 0) }
]]
-- @include keys
-- @include signal_nodes
-- @include room_nodes
local a = cjson.decode(ARGV[1])
local out, bytes, more = {}, 0, 0
local min = a.after_score and string.format('%.17g', a.after_score) or '-inf'
local offset, batch = 0, a.limit + 1
while more == 0 do
  local page = redis.call('ZRANGE', KEYS[1], min, '+inf', 'BYSCORE', 'LIMIT', offset, batch, 'WITHSCORES')
  for i = 1, #page, 2 do
    local name, score = page[i], tonumber(page[i + 1])
    -- rooms at the cursor's own createdAt up to and including the cursor were listed already
    if not (a.after_name and score == a.after_score and name <= a.after_name) then
      if #out >= a.limit or (#out > 0 and bytes >= a.max_bytes) then
        more = 1
        break
      end
      local flat = redis.call('HGETALL', k_room(name))
      for _, v in ipairs(flat) do bytes = bytes + #v end
      local serving = room_nodes(k_room_nodes(name))
      for _, v in ipairs(serving) do bytes = bytes + #v end
      local p = k_room_participants(name)
      out[#out + 1] = { flat, redis.call('HLEN', p), signal_nodes(p), string.format('%.17g', score), name, serving }
    end
  end
  if #page < 2 * batch then break end
  offset = offset + batch
end
return { out, more }
