-- Cascade (issue 9): the nodes serving a room (keys.ts room:<name>:nodes) and which of them takes
-- one more participant of the room in a region. place_room (the control plane names a join's
-- media node) and cascade_room (a node asks whether it may serve a participant) both decide with
-- these functions, so the two apply one rule. Needs the `keys` include.
--
-- A member is { region, participants } written by the node itself (cascade_room), or a
-- reservation { region, participants, reserved = ms } written by place_room for a node it named
-- before the client connected (participants = joins answered with it since). A reservation
-- counts as the node serving the room, so concurrent joins converge on it, until the node's own
-- 'join' overwrites it, or until it is reservation_ms old (shared/cascade.ts
-- CASCADE_RESERVATION_MS): a client that never connects holds no node slot of the room for long.

local function cascade_entry(region, participants, reserved)
  return cjson.encode({ region = region, participants = participants, reserved = reserved })
end

-- The room's serving nodes as { [id] = member }, after dropping members whose node is gone and
-- stale reservations (the origin's own entry stays: a dead origin is cascade_promote's), and how
-- many nodes serve the room, origin included.
local function cascade_members(room, origin, now, reservation_ms)
  local key = k_room_nodes(room)
  local raw = redis.call('HGETALL', key)
  local members, count = {}, 0
  for i = 1, #raw, 2 do
    local id = raw[i]
    local ok, e = pcall(cjson.decode, raw[i + 1])
    local valid = ok and type(e) == 'table' and type(e.participants) == 'number'
    local stale = valid and type(e.reserved) == 'number' and e.reserved < now - reservation_ms
    if id ~= origin and (not valid or stale or redis.call('EXISTS', k_node(id)) == 0) then
      redis.call('HDEL', key, id)
      redis.call('DEL', k_room_counted(room, id))
    elseif valid then
      members[id] = e
      count = count + 1
    end
  end
  if not members[origin] then count = count + 1 end
  return members, count
end

-- Whether node id may take new participants: its record is live and SERVING (not DRAINING).
local function cascade_takes(id)
  local json = redis.call('GET', k_node(id))
  if not json then return false end
  local ok, n = pcall(cjson.decode, json)
  return ok and type(n) == 'table' and n.state == 'SERVING'
end

-- The serving node of `region` that takes one more participant of the room: the origin when it is
-- in that region, SERVING and under `budget` participants of the room (0 = no limit); else the
-- SERVING member of the region with the fewest participants under budget (ties: smallest id);
-- never `except` (the calling node). nil: none, the region needs another node.
local function cascade_region_node(members, origin, origin_region, region, budget, except)
  local function under(n) return budget == 0 or n < budget end
  if origin ~= except and origin_region == region then
    local n = members[origin] and members[origin].participants or 0
    if under(n) and cascade_takes(origin) then return origin end
  end
  local best, best_n
  for id, e in pairs(members) do
    if id ~= origin and id ~= except and e.region == region and under(e.participants)
      and (not best or e.participants < best_n or (e.participants == best_n and id < best))
      and cascade_takes(id) then
      best, best_n = id, e.participants
    end
  end
  return best
end
