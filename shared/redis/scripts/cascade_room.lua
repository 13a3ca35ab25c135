--[[
  cascade_room: which node does what for a room that spans nodes (issue 9), decided atomically so
  two nodes never both become the origin, a region gets at most one edge (more only when the
  region's edges are over their participant budget) and a room never splits. The origin is the
  room hash's `node` (today's placement); every serving node, origin included, is a field of
  room:<name>:nodes (includes/cascade_serving.lua: a node's own entry, or a reservation place_room
  wrote when it named the node as a joining client's media node; the node's join overwrites it).
  Called by a node when a participant's media is to be served there (op 'join', participants =
  the room's participants on that node counting the joiner) and when its share of the room ends
  (op 'leave', participants = 0) or shrinks; and, for the dashboard, when its pipes for the room
  change (op 'pipes': pipe transports and tracks piped in, written into its own entry if it has
  one, never into a reservation). Joins and leaves keep the pipe figures of the node's entry.

  Input:
    KEYS[1] room hash              keys.room(room)
    KEYS[2] the room's nodes       keys.roomNodes(room)

    ARGV[1] JSON object:
      op              'join' | 'leave' | 'pipes'
      now             ms, the caller's clock (reservations older than reservation_ms are dropped)
      room            room name
      node_id         the calling node
      region          its region
      participants    the room's participants on the calling node (after the change)
      max_nodes       most nodes serving the room, origin included (>= 1)
      budget          participants of the room one node takes (0 = no limit)
      reservation_ms  how long a reservation stands in for its node (shared/cascade.ts)
      pipes           ('pipes') the caller's pipe transports for the room (one per linked node)
      piped_in        ('pipes') tracks produced on the caller from another node over those pipes

  Output (join):
    { 'origin', node id }          the caller is (or, its origin being dead, now became) the origin
    { 'edge', origin id }          the caller serves the room as an edge of that origin (it was
                                   serving or reserved, or it just became an edge)
    { 'spill', node id }           another serving node of the caller's region (the origin first)
                                   that may take the participant (cascade_region_node): media there
    { 'full', origin id }          max_nodes reached or the caller is over budget: media at the origin
    { 'unmapped' }                 the room has no origin (the caller claims it as today)
  Output (leave, pipes): { 'ok' }
]]
-- @include keys
-- @include cascade_promote
-- @include cascade_serving
local a = cjson.decode(ARGV[1])
local me = a.node_id

-- The caller's entry as it stands (nil: none, or not JSON).
local function current()
  local ok, e = pcall(cjson.decode, redis.call('HGET', KEYS[2], me) or '')
  if ok and type(e) == 'table' then return e end
end
-- The caller's own entry (a reservation's `reserved` goes), with the pipe figures it wrote.
local function own_entry(region, participants)
  local e = cjson.decode(cascade_entry(region, participants))
  local old = current()
  if old then e.pipes, e.pipedIn = old.pipes, old.pipedIn end
  return cjson.encode(e)
end

if a.op == 'pipes' then
  local e = current()
  if e and e.reserved == nil then
    e.pipes, e.pipedIn = a.pipes, a.piped_in
    redis.call('HSET', KEYS[2], me, cjson.encode(e))
  end
  return { 'ok' }
end

if a.op == 'leave' then
  if a.participants > 0 then
    if redis.call('HEXISTS', KEYS[2], me) == 1 then redis.call('HSET', KEYS[2], me, own_entry(a.region, a.participants)) end
  elseif redis.call('HGET', KEYS[1], 'node') ~= me then
    redis.call('HDEL', KEYS[2], me)
    redis.call('DEL', k_room_counted(a.room, me))
    redis.call('SREM', k_node_edge_rooms(me), a.room)
  end
  return { 'ok' }
end

local origin = redis.call('HGET', KEYS[1], 'node')
if not origin then return { 'unmapped' } end
if origin ~= me and redis.call('EXISTS', k_node(origin)) == 0 then
  origin = cascade_promote(a.room, origin)
  if not origin then return { 'unmapped' } end
end
if origin == me then
  redis.call('HSET', KEYS[2], me, own_entry(a.region, a.participants))
  return { 'origin', me }
end
local members, serving = cascade_members(a.room, origin, a.now, a.reservation_ms)
local over = a.budget > 0 and a.participants > a.budget
-- An edge's rooms are listed under it too, so the sweeper drops its entries if it dies.
local function as_edge()
  redis.call('HSET', KEYS[2], me, own_entry(a.region, a.participants))
  redis.call('SADD', k_node_edge_rooms(me), a.room)
  return { 'edge', origin }
end
if members[me] and not over then return as_edge() end

-- Not serving the room yet (or full here): a serving node of this region that takes one more,
-- else a new edge here, if the room may take another node.
local origin_region = redis.call('HGET', KEYS[1], 'region')
local best = cascade_region_node(members, origin, origin_region, a.region, a.budget, me)
if best then return { 'spill', best } end
if over or members[me] or serving + 1 > a.max_nodes then return { 'full', origin } end
return as_edge()
