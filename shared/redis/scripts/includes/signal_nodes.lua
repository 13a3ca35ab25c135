-- A room's participants counted by the node their signaling connection is on (the records the
-- hosting node wrote; one that does not decode is skipped), as a flat { node, count, ... } list.
local function signal_nodes(participants_key)
  local by, out = {}, {}
  for _, v in ipairs(redis.call('HVALS', participants_key)) do
    local ok, p = pcall(cjson.decode, v)
    local s = ok and type(p) == 'table' and p.signalNode
    if type(s) == 'string' then by[s] = (by[s] or 0) + 1 end
  end
  for s, n in pairs(by) do out[#out + 1] = s; out[#out + 1] = n end
  return out
end
