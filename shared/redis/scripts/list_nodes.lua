--[[
  list_nodes: the live nodes' records with their placements since their last report.

  Input:
    ARGV[1] JSON object:
      now  ms; nodes whose expiry in the nodes zset is not after it are left out

  Output: { { node record JSON, placements since its report (text) }, ... }
]]
-- @include keys
local a = cjson.decode(ARGV[1])
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', k_nodes(), '(' .. string.format('%.17g', a.now), '+inf')) do
  local json = redis.call('GET', k_node(id))
  if json then out[#out + 1] = { json, redis.call('GET', k_node_reserved(id)) or '0' } end
end
return out
