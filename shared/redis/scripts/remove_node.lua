--[[
  remove_node: removes a node, its selection-index entries and its room set at clean shutdown
  (the TTL and sweep_dead_nodes cover crashes).

  Input:
    KEYS[1] node record              keys.node(id)
    KEYS[2] nodes zset               keys.nodes()
    KEYS[3] placements since report  keys.nodeReserved(id)
    KEYS[4] the sweeper's nodes zset keys.sweepNodes()

    ARGV[1] JSON object:
      id  the node id

  Output: 1
]]
-- @include keys
-- @include metrics
local a = cjson.decode(ARGV[1])
local json = redis.call('GET', KEYS[1])
if json then
  local region = cjson.decode(json).region
  for _, f in ipairs(SEL_FIELDS) do redis.call('ZREM', k_sel(region, f), a.id) end
end
redis.call('DEL', KEYS[1], KEYS[3], k_node_reservation(a.id), k_node_rooms(a.id), k_node_writes(a.id))
redis.call('ZREM', KEYS[2], a.id)
redis.call('ZREM', KEYS[4], a.id)
return 1
