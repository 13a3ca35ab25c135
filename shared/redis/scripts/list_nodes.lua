--[[
  list_nodes: one page of the live nodes' records with their placements since their last report.
  A ZSCAN page of the nodes zset: bounded (about `count` members; a small zset comes whole), and
  a node registered throughout the listing is listed (SCAN's guarantee; one may appear twice).

  Input:
    ARGV[1] JSON object:
      now     ms; nodes whose expiry in the nodes zset is not after it are left out
      cursor  ZSCAN cursor ('0' = first page)
      count   ZSCAN COUNT hint

  Output: { next cursor ('0' = last page), { { node record JSON, placements since its report (text) }, ... } }
]]
-- @include keys
local a = cjson.decode(ARGV[1])
local page = redis.call('ZSCAN', k_nodes(), a.cursor, 'COUNT', a.count)
local out = {}
local members = page[2]
for i = 1, #members, 2 do
  local id = members[i]
  if tonumber(members[i + 1]) > a.now then
    local json = redis.call('GET', k_node(id))
    if json then out[#out + 1] = { json, redis.call('GET', k_node_reserved(id)) or '0' } end
  end
end
return { page[1], out }
