--[[
  cascade_room: which node does what for a room that spans nodes (issue 9), decided atomically so
  two nodes never both become the origin, a region gets at most one edge (more only when the
  region's edges are over their participant budget) and a room never splits. The origin is the
  room hash's `node` (today's placement); every serving node, origin included, is a field of
  room:<name>:nodes with {region, participants}. Called by a node when a participant's media is to
  be served there (op 'join', participants = the room's participants on that node counting the
  joiner) and when its share of the room ends (op 'leave', participants = 0) or shrinks.

  Input:
    KEYS[1] room hash              keys.room(room)
    KEYS[2] the room's nodes       keys.roomNodes(room)

    ARGV[1] JSON object:
      op            'join' | 'leave'
      room          room name
      node_id       the calling node
      region        its region
      participants  the room's participants on the calling node (after the change)
      max_nodes     most nodes serving the room, origin included (>= 1)
      budget        participants of the room one node takes (0 = no limit)

  Output (join):
    { 'origin', node id }          the caller is (or, its origin being dead, now became) the origin
    { 'edge', origin id }          the caller serves the room as an edge of that origin
    { 'spill', node id }           another serving node of the caller's region (or the origin in
                                   it) has room: the participant's media goes there
    { 'full', origin id }          max_nodes reached or the caller is over budget: media at the origin
    { 'unmapped' }                 the room has no origin (the caller claims it as today)
  Output (leave): { 'ok' }
]]
-- @include keys
-- @include cascade_promote
local a = cjson.decode(ARGV[1])
local me = a.node_id
local function entry(region, n) return cjson.encode({ region = region, participants = n }) end

if a.op == 'leave' then
  if a.participants > 0 then
    if redis.call('HEXISTS', KEYS[2], me) == 1 then redis.call('HSET', KEYS[2], me, entry(a.region, a.participants)) end
  elseif redis.call('HGET', KEYS[1], 'node') ~= me then
    redis.call('HDEL', KEYS[2], me)
  end
  return { 'ok' }
end

local origin = redis.call('HGET', KEYS[1], 'node')
if not origin then return { 'unmapped' } end
if origin ~= me and redis.call('EXISTS', k_node(origin)) == 0 then
  origin = cascade_promote(a.room, origin)
  if not origin then return { 'unmapped' } end
end
local over = a.budget > 0 and a.participants > a.budget
if origin == me then
  redis.call('HSET', KEYS[2], me, entry(a.region, a.participants))
  return { 'origin', me }
end
if redis.call('HEXISTS', KEYS[2], me) == 1 and not over then
  redis.call('HSET', KEYS[2], me, entry(a.region, a.participants))
  return { 'edge', origin }
end

-- Not serving the room yet (or full here): the origin or an edge of this region with room, else
-- a new edge here, if the room may take another node.
local members = redis.call('HGETALL', KEYS[2])
local serving, best, best_n = 0, nil, nil
for i = 1, #members, 2 do
  local id = members[i]
  if redis.call('EXISTS', k_node(id)) == 0 and id ~= origin then
    redis.call('HDEL', KEYS[2], id)
  else
    serving = serving + 1
    local e = cjson.decode(members[i + 1])
    if id ~= me and e.region == a.region and (a.budget == 0 or e.participants < a.budget) then
      -- prefer the origin in this region, then the least loaded edge
      local n = id == origin and -1 or e.participants
      if not best or n < best_n then best, best_n = id, n end
    end
  end
end
if best then return { 'spill', best } end
if over or redis.call('HEXISTS', KEYS[2], me) == 1 then return { 'full', origin } end
if redis.call('HEXISTS', KEYS[2], origin) == 0 then serving = serving + 1 end
if serving + 1 > a.max_nodes then return { 'full', origin } end
redis.call('HSET', KEYS[2], me, entry(a.region, a.participants))
return { 'edge', origin }
