--[[
  sweep_dead_nodes: every node whose registration expired loses its index entries, its rooms (when
  still mapped to it), their participants and its own keys. Idempotent; a node that re-registered
  meanwhile (record present again) is left alone. (Rooms re-placed off a dead node lost its
  participants in that same step: place_room and claim_room.) A room spanning nodes (cascade)
  whose origin died is not dropped: a live serving node takes the origin role (cascade_promote,
  which starts the participants list over: the serving nodes write theirs again when they see the
  new origin). Then every room placed but never
  opened by its node within its deadline (keys.ts rooms:unclaimed) goes: nobody joined it, as
  LiveKit's empty_timeout closes it.

  Input:
    KEYS[1] the sweeper's nodes zset  keys.sweepNodes()
    KEYS[2] nodes zset                keys.nodes()
    KEYS[3] regions with SERVING nodes keys.selRegions()
    KEYS[4] unclaimed rooms zset      keys.unclaimedRooms()

    ARGV[1] JSON object:
      now    ms
      limit  most nodes, and most unclaimed rooms, handled in one call

  Output: the ids of the nodes swept
]]
-- @include keys
-- @include metrics
-- @include cascade_promote
local a = cjson.decode(ARGV[1])
local function drop_room(room)
  redis.call('DEL', k_room(room), k_room_participants(room), k_room_nodes(room))
  redis.call('ZREM', k_rooms(), room)
  redis.call('ZREM', KEYS[4], room)
end
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', a.now, 'LIMIT', 0, a.limit)
local swept = {}
for _, id in ipairs(dead) do
  if redis.call('EXISTS', k_node(id)) == 0 then
    redis.call('ZREM', KEYS[2], id)
    for _, region in ipairs(redis.call('SMEMBERS', KEYS[3])) do
      for _, f in ipairs(SEL_FIELDS) do redis.call('ZREM', k_sel(region, f), id) end
    end
    for _, room in ipairs(redis.call('SMEMBERS', k_node_rooms(id))) do
      if redis.call('HGET', k_room(room), 'node') == id then
        if not cascade_promote(room, id) then drop_room(room) end
      end
    end
    -- Rooms it served as a cascade edge (or was reserved for) keep no entry of it.
    for _, room in ipairs(redis.call('SMEMBERS', k_node_edge_rooms(id))) do
      redis.call('HDEL', k_room_nodes(room), id)
      redis.call('DEL', k_room_counted(room, id))
    end
    redis.call('DEL', k_node_rooms(id), k_node_edge_rooms(id), k_node_reserved(id), k_node_reservation(id),
      k_node_writes(id))
    swept[#swept + 1] = id
    redis.call('ZREM', KEYS[1], id)
  else
    -- Still registered: a report landed meanwhile, or the record outlives the score by the
    -- report's transit time (the score is the node's clock + TTL, the key's PX counts from
    -- arrival). Re-arm at the record's real expiry; dropping the entry would lose the node for
    -- good if it dies now.
    local pttl = redis.call('PTTL', k_node(id))
    redis.call('ZADD', KEYS[1], a.now + math.max(pttl, 1), id)
  end
end
for _, room in ipairs(redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', a.now, 'LIMIT', 0, a.limit)) do
  local owner = redis.call('HGET', k_room(room), 'node')
  if owner then redis.call('SREM', k_node_rooms(owner), room) end
  drop_room(room)
end
return swept
