-- cascade_promote(room, dead_origin): the room's origin is gone; the live serving node (an edge)
-- with the most participants takes the origin role (ties: smallest id), so the room continues
-- where its media already is. A reservation (cascade_serving.lua: named by the control plane,
-- no client there yet) holds no media and is not promoted. The room's participant records go with
-- the old origin: the dead origin's would be ghosts, and each serving node writes its own again
-- when it learns of the new origin (cascade/cascade.ts). Returns the new origin's id, or false when
-- no live node serves the room (the caller drops it). Needs the `keys` include.
local function cascade_promote(room, dead_origin)
  local best, best_n
  local members = redis.call('HGETALL', k_room_nodes(room))
  for i = 1, #members, 2 do
    local id = members[i]
    -- an entry that is not one (written around the scripts) is dropped, never fails the caller:
    -- the sweeper would otherwise stall on it for good
    local ok, e = pcall(cjson.decode, members[i + 1])
    local valid = ok and type(e) == 'table' and type(e.participants) == 'number' and type(e.region) == 'string'
    if valid and id ~= dead_origin and redis.call('EXISTS', k_node(id)) == 1 then
      local n = e.participants
      if not e.reserved and (not best or n > best_n or (n == best_n and id < best)) then best, best_n = id, n end
    else
      redis.call('HDEL', k_room_nodes(room), id)
      redis.call('DEL', k_room_counted(room, id))
    end
  end
  if not best then return false end
  local region = cjson.decode(redis.call('HGET', k_room_nodes(room), best)).region
  redis.call('HSET', k_room(room), 'node', best, 'region', region)
  redis.call('DEL', k_room_participants(room))
  redis.call('SREM', k_node_rooms(dead_origin), room)
  redis.call('SADD', k_node_rooms(best), room)
  return best
end
