-- room_nodes(key): the nodes serving a room that spans nodes (keys.roomNodes, cascade_room.lua),
-- as a flat { node id, entry JSON, ... } list, bounded for listings: at most 64 nodes (the most
-- cascade.max_nodes_per_room allows; a larger hash was not written by the nodes, and gets an HSCAN
-- page of it) and entries of at most 512 bytes (longer ones are skipped, not cut).
local function room_nodes(key)
  local flat
  if redis.call('HLEN', key) <= 64 then
    flat = redis.call('HGETALL', key)
  else
    flat = redis.call('HSCAN', key, '0', 'COUNT', 64)[2]
  end
  local out = {}
  for i = 1, #flat - 1, 2 do
    if #out < 128 and #flat[i + 1] <= 512 then
      out[#out + 1] = flat[i]
      out[#out + 1] = flat[i + 1]
    end
  end
  return out
end
