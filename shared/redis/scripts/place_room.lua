--[[
  place_room: places (or finds) a room in one atomic step. Concurrent joins to the same new room
  serialize here, so a room lands on exactly one node; each placement reserves the node's learnt
  per-room cost on it (node:<id>:reserved and the selection index scores) so a burst spreads;
  with cascade, each participant sent to an edge reserves its share of one (includes/reserve_load).
  Re-implements the pick step of shared/selector (eligibility, soft limits, region order, sort_by,
  algorithm; lowest: tie -> smallest id, twochoice: tie -> first drawn); test/selector/
  differential.test.ts and twochoice.test.ts keep the two in step.

  Input:
    KEYS[1] room hash                    keys.room(room)
    KEYS[2] rooms zset                   keys.rooms()
    KEYS[3] the room's participants      keys.roomParticipants(room)
    KEYS[4] unclaimed rooms zset         keys.unclaimedRooms()
    KEYS[5] registry warming             keys.registryWarming()
    KEYS[6] rooms of the API key         keys.apiKeyRooms(api_key)
    KEYS[7] the room's serving nodes     keys.roomNodes(room) (cascade)

    ARGV[1] JSON object:
      now                    ms, the caller's clock
      freshness_ms           a node whose last report is older than this is not chosen
      room                   room name
      mode                   'join' (use the mapping, or place if auto_create) | 'create' (place,
                             or answer 'exists')
      auto_create            boolean: join may create an unknown room
      kind, sort_by, algorithm, sysload_limit, cpu_load_limit
                             the node_selector config (shared/config.ts)
      seed                   seed for random sort_by / twochoice
      reservation_ttl_ms     lifetime of node:<id>:reserved (rooms and participants' shares of
                             a room reserved since the node's last report)
      empty_timeout, max_participants, metadata
                             the new room's settings (s; 0 = unlimited; string)
      default_empty_timeout  s, stands in for empty_timeout 0 when computing the open deadline
      min_open_wait_ms       least time a placed room waits to be opened by its node
      default_cost           { <metric> = cost } of a room on a node with no learnt cost (used
                             only if the node's reservation hash is missing)
      want_signal            boolean: also choose the signal node for a client in regions[1]
      sid                    the new room's sid (keys.ts room:<name>), also given to an existing
                             room that has none (a record written by a node's claim)
      api_key                API key creating the room ('' = none: no quota)
      room_quota             most rooms one API key may have (0 = no limit)
      regions                configured region names, nearest to the client first
      cascade                false (rooms live on one node), or { max_nodes, budget,
                             reservation_ms } (shared/cascade.ts cascadeLimits): also choose the
                             node the client's media should use (media_node below), and a room
                             whose origin is gone goes to its serving node with the most
                             participants (cascade_promote; placement 2) when it has one
      failed_node            (optional) the node a rejoining client just lost its connection to:
                             never this client's signal node nor a new media node for it; the
                             client's word moves nothing else (no room is re-placed on it)
      identity               (optional) the joining client: with cascade, a client joining again
                             (a retry, a reconnect, a loop) within reservation_ms is sent to the
                             serving node of its region it was counted on (keys.roomCounted) and counted
                             and reserves load nowhere again; '' = every join counts
      late_ms, node_ttl_ms   cascade off: a host whose last report reached Redis longer ago than
                             late_ms (report age = node_ttl_ms - PTTL) and that the client names as
                             failed gets the answer 'host_late' instead of the dead host's address

  Output:
    { 'ok', placement (0 existing | 1 created | 2 replaced), node json, signal node json | false, room sid,
      media node json | false (cascade off), the media node is in the client's region (connect straight to it) }
    { 'host_late', ms }          the client's failed node hosts the room and missed a report: it
                                 is likely dead and is replaced within ms (its record's PTTL);
                                 nothing changed
    { 'quota', limit }           the API key has room_quota rooms already (a new room only)
    { 'exists', node id }        mode 'create' and the room is mapped
    { 'warming', ms left }       the registry is warming up (Redis came back empty or went back in
                                 time moments ago) and the room is unmapped, or mapped before the
                                 warm-up and not re-claimed since: its host may not have re-claimed
                                 it yet
    { 'not_found' }              mode 'join', unknown room, not auto_create
    { 'no_nodes' }
]]
-- @include keys
-- @include metrics
-- @include cascade_serving
-- @include cascade_promote
-- @include report_age
-- @include reserve_load
local a = cjson.decode(ARGV[1])
local now = a.now
local stale_at = now - a.freshness_ms
local room, mode, auto = a.room, a.mode, a.auto_create
local kind, sort_by, algo = a.kind, a.sort_by, a.algorithm
-- limits go into score ranges as text: written with 17 digits, they parse back to the same double
local limits = { sysload = string.format('%.17g', a.sysload_limit), cpuload = string.format('%.17g', a.cpu_load_limit) }
math.randomseed(a.seed)
local FIELDS = SEL_FIELDS
local cost = a.default_cost
local prefs, known = a.regions, {}
local failed = a.failed_node or ''
for _, r in ipairs(prefs) do known[r] = true end

-- When the room must have been opened by its node (keys.ts rooms:unclaimed): its emptyTimeout,
-- as for a room that emptied, but never before a joining client could have connected.
local function open_deadline(empty_timeout)
  local s = tonumber(empty_timeout) or 0
  if s <= 0 then s = a.default_empty_timeout end
  return now + math.max(s * 1000, a.min_open_wait_ms)
end

local sel = k_sel
local CHUNK = 4000 -- stay far below Lua's unpack limit
local MAX_COUNTED = 10000 -- identities kept per room:<name>:counted:<node>

local function zrem(r, ids)
  for i = 1, #ids, CHUNK do
    local part = { unpack(ids, i, math.min(i + CHUNK - 1, #ids)) }
    for _, f in ipairs(FIELDS) do redis.call('ZREM', sel(r, f), unpack(part)) end
  end
end

-- No ghosts: drop nodes whose TTL passed, from the registry and the region's index.
redis.call('ZREMRANGEBYSCORE', k_nodes(), '-inf', now)
local swept = {}
local function sweep(r)
  if swept[r] then return end
  swept[r] = true
  local gone = redis.call('ZRANGEBYSCORE', sel(r, 'expiry'), '-inf', now)
  if #gone > 0 then zrem(r, gone) end
  if redis.call('ZCARD', sel(r, 'expiry')) == 0 then redis.call('SREM', k_sel_regions(), r) end
end

-- Fresh SERVING nodes of region r, under limits[field] when field is given.
local function gather(r, field)
  sweep(r)
  if not field then return redis.call('ZRANGEBYSCORE', sel(r, 'updated'), '(' .. stale_at, '+inf') end
  local ids = redis.call('ZRANGEBYSCORE', sel(r, field), '-inf', '(' .. limits[field])
  local stale = redis.call('ZRANGEBYSCORE', sel(r, 'updated'), '-inf', stale_at)
  if #stale == 0 or #ids == 0 then return ids end
  local drop, kept = {}, {}
  for _, id in ipairs(stale) do drop[id] = true end
  for _, id in ipairs(ids) do if not drop[id] then kept[#kept + 1] = id end end
  return kept
end

-- Fast path when sort_by is the limit's own metric and the algorithm is lowest (the default):
-- the answer is the first fresh member of the region's sorted set under the limit (score order,
-- equal scores by member = the smallest id, the same rule as pick): O(log n + k), not O(n).
local PAGE = 64
local function first_fresh(r, field)
  sweep(r)
  local max = field and ('(' .. limits[field]) or '+inf'
  local offset = 0
  while true do
    local ids = redis.call('ZRANGE', sel(r, 'sysload'), '-inf', max, 'BYSCORE', 'LIMIT', offset, PAGE)
    for _, id in ipairs(ids) do
      local u = redis.call('ZSCORE', sel(r, 'updated'), id)
      if u and tonumber(u) > stale_at then return id end
    end
    if #ids < PAGE then return nil end
    offset = offset + PAGE
  end
end

local function regions() return redis.call('SMEMBERS', k_sel_regions()) end

local function union(field, only_unknown)
  local groups = {}
  for _, r in ipairs(regions()) do
    if not (only_unknown and known[r]) then
      local ids = gather(r, field)
      if #ids > 0 then groups[#groups + 1] = { r = r, ids = ids } end
    end
  end
  return groups
end

local function scores(r, m, ids)
  local out = {}
  for i = 1, #ids, CHUNK do
    local part = redis.call('ZMSCORE', sel(r, m), unpack(ids, i, math.min(i + CHUNK - 1, #ids)))
    for _, v in ipairs(part) do out[#out + 1] = tonumber(v) or math.huge end
  end
  return out
end

-- The sort_by/algorithm step. Ties go to the smaller id (byte order, like the TS selector for
-- ASCII ids).
local function pick(groups, sb, al)
  local n = 0
  for _, g in ipairs(groups) do n = n + #g.ids end
  if n == 0 then return nil end
  if sb == 'random' then
    local k = math.random(n)
    for _, g in ipairs(groups) do
      if k <= #g.ids then return g.ids[k], g.r end
      k = k - #g.ids
    end
  end
  local ids, regs, vals = {}, {}, {}
  for _, g in ipairs(groups) do
    local v = scores(g.r, sb, g.ids)
    for i, id in ipairs(g.ids) do
      ids[#ids + 1] = id; regs[#regs + 1] = g.r; vals[#vals + 1] = v[i]
    end
  end
  local function better(i, j) return vals[i] < vals[j] or (vals[i] == vals[j] and ids[i] < ids[j]) end
  local best = 1
  if al == 'twochoice' and n >= 2 then
    -- the less loaded of two distinct random candidates; a tie goes to the first drawn (itself
    -- uniformly random), as in shared/selector/pick.ts: by id, the highest id of equal nodes starved
    local i = math.random(n)
    local j = math.random(n - 1)
    if j >= i then j = j + 1 end
    if vals[j] < vals[i] then best = j else best = i end
  else
    for i = 2, n do if better(i, best) then best = i end end
  end
  return ids[best], regs[best]
end

local function choose()
  if kind == 'any' or kind == 'random' then return pick(union(nil), sort_by, algo) end
  if kind == 'sysload' or kind == 'cpuload' then
    local g = union(kind)
    if #g == 0 then g = union(nil) end -- soft limit
    return pick(g, sort_by, algo)
  end
  -- regionaware: under the limit first, then (soft) everything; nearest configured region that
  -- has a candidate; else candidates of unconfigured regions.
  local fast = sort_by == 'sysload' and algo == 'lowest'
  for _, field in ipairs({ 'sysload', false }) do
    local f = field or nil
    for _, r in ipairs(prefs) do
      if fast then
        local id = first_fresh(r, f)
        if id then return id, r end
      else
        local ids = gather(r, f)
        if #ids > 0 then return pick({ { r = r, ids = ids } }, sort_by, algo) end
      end
    end
    local g = union(f, true)
    if #g > 0 then return pick(g, sort_by, algo) end
  end
  return nil
end

-- Whether a node record is one a node could have written (shared/node.ts NodeRecord; reportNode
-- validates before writing, so this only catches records written around it): checked BEFORE the
-- room is mapped, so a bad record is skipped instead of mapping the room and failing the caller.
local function usable(json, id, region)
  local ok, n = pcall(cjson.decode, json)
  return ok and type(n) == 'table' and n.id == id and type(n.region) == 'string' and n.region ~= ''
    and (region == nil or n.region == region) and (n.state == 'SERVING' or n.state == 'DRAINING')
    and type(n.signalUrl) == 'string' and n.signalUrl ~= '' and type(n.stats) == 'table'
end

-- Where the client should signal: the hosting node if it is SERVING in the client's nearest
-- region, else the least loaded SERVING node of the nearest region that has one (it bridges to
-- the hosting node); false = use the hosting node. Never the client's failed node (unless it is
-- the host: the room stays where it is), nor a node whose record is gone.
local function signal_node(host_json)
  if not a.want_signal or #prefs == 0 then return false end
  local host = cjson.decode(host_json)
  if host.region == prefs[1] and host.state == 'SERVING' then return false end
  for _, r in ipairs(prefs) do
    local ids = {}
    for _, id in ipairs(gather(r, nil)) do if id ~= failed then ids[#ids + 1] = id end end
    for _ = 1, 3 do
      if #ids == 0 then break end
      local id = pick({ { r = r, ids = ids } }, 'sysload', 'lowest')
      local json = redis.call('GET', k_node(id))
      if json and usable(json, id, r) then return json end
      for i, other in ipairs(ids) do if other == id then table.remove(ids, i) break end end
    end
  end
  return false
end

-- Cascade: the node this client's media should use, in the client's region (the nearest one with
-- a fresh SERVING node: where its signal node would be). There, the serving node that takes one
-- more participant of the room (cascade_region_node: the origin first, then the edge with the
-- fewest participants, each under the budget); else a new edge, the SERVING node of the region not
-- serving the room yet that room placement would pick there (the selection index in the
-- configured sort_by/algorithm order), if the room may take another node; else the origin. Never
-- the client's failed node when another will do: a client of a dead origin goes to an edge of its
-- region at once, which takes the origin role if the origin is dead (cascade_room: its link
-- silent and its report late). A node named here that has no entry of its own is reserved in
-- KEYS[7] in this same step (participants = joins answered with it), so concurrent joins converge
-- on one edge per region and count against its budget until its clients arrive. Every participant
-- sent to an edge (new or existing) also reserves its share of load on that node's selection
-- scores (reserve_load 'participant'), as a placed room does: a burst of spills spreads over the
-- region instead of piling on the node whose last report looked lightest. Returns the media
-- node's json and whether it is in the client's region, or false, false (cascade off).
local function media_node(origin, origin_json)
  local c = a.cascade
  if not c then return false, false end
  local host = cjson.decode(origin_json)
  local region, ids
  for _, r in ipairs(prefs) do
    ids = {}
    for _, n in ipairs(gather(r, nil)) do if n ~= failed then ids[#ids + 1] = n end end
    if #ids > 0 then region = r break end
  end
  if not region then return origin_json, false end
  local members, serving = cascade_members(room, origin, now, c.reservation_ms)
  -- The same client again: a node of the room in its region that already counts it answers, with
  -- nothing counted or reserved twice (one token in a loop must not fill the budget, take the
  -- room's node slots or pile load on the region's scores).
  if a.identity ~= '' then
    local again
    for n, e in pairs(members) do
      if n ~= origin and n ~= failed and e.region == region and (not again or n < again)
        and redis.call('SISMEMBER', k_room_counted(room, n), a.identity) == 1 and cascade_takes(n) then
        again = n
      end
    end
    local json = again and redis.call('GET', k_node(again))
    if json and usable(json, again, region) then return json, true end
  end
  local id = cascade_region_node(members, origin, host.region, region, c.budget, failed)
  if id == origin then return origin_json, true end
  local function named(n, json)
    local e = members[n]
    if not e or e.reserved then
      redis.call('HSET', KEYS[7], n, cascade_entry(region, (e and e.participants or 0) + 1, now))
      redis.call('SADD', k_node_edge_rooms(n), room)
    end
    reserve_load(n, region, 'participant', a.reservation_ttl_ms, cost)
    if a.identity ~= '' then
      -- bounded: each join renews the set, so a busy edge's would keep every identity it ever
      -- counted; starting over only means a returning client is counted once more
      local set = k_room_counted(room, n)
      if redis.call('SCARD', set) >= MAX_COUNTED then redis.call('DEL', set) end
      redis.call('SADD', set, a.identity)
      redis.call('PEXPIRE', set, c.reservation_ms)
    end
    return json, true
  end
  if id then
    local json = redis.call('GET', k_node(id))
    if json and usable(json, id, region) then return named(id, json) end
  elseif serving < c.max_nodes then
    local free = {}
    for _, n in ipairs(ids) do if n ~= origin and not members[n] then free[#free + 1] = n end end
    for _ = 1, 3 do
      id = pick({ { r = region, ids = free } }, sort_by, algo)
      if not id then break end
      local json = redis.call('GET', k_node(id))
      if json and usable(json, id, region) then return named(id, json) end
      -- index entry outlived its record: drop it, as the placement loop below does
      zrem(region, { id })
      local rest = {}
      for _, n in ipairs(free) do if n ~= id then rest[#rest + 1] = n end end
      free = rest
    end
  end
  return origin_json, host.region == region
end

-- The API key already has room_quota rooms. Members whose room is gone (closed, deleted, swept)
-- or was re-created by another key are dropped first, only when the set is full: O(quota) then.
local function over_quota()
  if a.room_quota <= 0 or a.api_key == '' then return false end
  if redis.call('SCARD', KEYS[6]) < a.room_quota then return false end
  for _, name in ipairs(redis.call('SMEMBERS', KEYS[6])) do
    if redis.call('HGET', k_room(name), 'key') ~= a.api_key then redis.call('SREM', KEYS[6], name) end
  end
  return redis.call('SCARD', KEYS[6]) >= a.room_quota
end

-- The room's sid; a record written by a node's claim has none until its first placement.
local function room_sid()
  local sid = redis.call('HGET', KEYS[1], 'sid')
  if sid then return sid end
  redis.call('HSET', KEYS[1], 'sid', a.sid)
  return a.sid
end

-- The answer for a room on node `id` (record json).
local function placed(placement, id, json)
  local media, direct = media_node(id, json)
  return { 'ok', placement, json, signal_node(json), room_sid(), media, direct }
end

-- Warm-up (keys.ts registry:warming, registry:epoch): Redis came back empty or went back in time
-- moments ago, so the room may live on a node that has not re-claimed it yet. Placing it now, or
-- trusting a mapping from before the warm-up (a restored snapshot's), could split it.
local warm_until = tonumber(redis.call('GET', KEYS[5]) or '0')
local epoch = redis.call('GET', k_registry_epoch()) or '0'
local current, current_epoch = unpack(redis.call('HMGET', KEYS[1], 'node', 'epoch'))
if current then
  if mode == 'create' then return { 'exists', current } end
  if now < warm_until and (current_epoch or '0') ~= epoch then return { 'warming', warm_until - now } end
  -- Existing rooms stay where they are, even on a DRAINING node (LiveKit does the same); only a
  -- node that is gone (TTL expired / removed) forces a re-placement.
  local json = redis.call('GET', k_node(current))
  if json and usable(json, current, nil) then
    if current == failed and not a.cascade and report_age(current, a.node_ttl_ms) > a.late_ms then
      return { 'host_late', redis.call('PTTL', k_node(current)) }
    end
    return placed(0, current, json)
  end
  -- Cascade: the origin is gone but the room may live on in its edges. The serving node with the
  -- most participants takes the origin role, as cascade_room and the sweeper would promote it
  -- (the participant list starts over: the serving nodes write theirs again), instead of moving
  -- the room to a fresh node.
  if a.cascade and not json then
    local heir = cascade_promote(room, current)
    local heir_json = heir and redis.call('GET', k_node(heir))
    if heir_json and usable(heir_json, heir, nil) then return placed(2, heir, heir_json) end
    if heir then current = heir end -- unusable record: placed afresh below, off the heir
  end
else
  if now < warm_until then return { 'warming', warm_until - now } end
  if mode == 'join' and not auto then return { 'not_found' } end
  if over_quota() then return { 'quota', a.room_quota } end
end

for _ = 1, 3 do
  local id, r = choose()
  if not id then return { 'no_nodes' } end
  local json = redis.call('GET', k_node(id))
  if json and usable(json, id, r) then
    if current then
      -- The gone host wrote these participants and nobody else would clear them (the sweeper
      -- only clears rooms still mapped to a dead node): they go in this same step.
      redis.call('SREM', k_node_rooms(current), room)
      redis.call('DEL', KEYS[3])
      redis.call('HSET', KEYS[1], 'node', id, 'region', r, 'epoch', epoch)
      redis.call('ZADD', KEYS[4], open_deadline(redis.call('HGET', KEYS[1], 'emptyTimeout')), room)
    else
      redis.call('HSET', KEYS[1], 'name', room, 'node', id, 'region', r, 'createdAt', now,
        'emptyTimeout', a.empty_timeout, 'maxParticipants', a.max_participants, 'metadata', a.metadata, 'epoch', epoch,
        'sid', a.sid, 'key', a.api_key)
      redis.call('ZADD', KEYS[2], now, room)
      if a.api_key ~= '' then redis.call('SADD', KEYS[6], room) end
      redis.call('ZADD', KEYS[4], open_deadline(a.empty_timeout), room)
    end
    redis.call('SADD', k_node_rooms(id), room)
    -- the node's per-room cost, learnt by its last report (reservation.ts roomCost)
    reserve_load(id, r, 'room', a.reservation_ttl_ms, cost)
    return placed(current and 2 or 1, id, json)
  end
  -- index entry outlived its record (clock skew), or the record is unusable: drop it, choose again
  zrem(r, { id })
end
return { 'no_nodes' }
