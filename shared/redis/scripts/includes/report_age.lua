-- report_age(id, ttl_ms): ms since node <id>'s last report reached Redis, by Redis's own clock
-- (report_node writes the record with PX ttl_ms, so no node's clock is involved); nil when the
-- node has no record. Needs the `keys` include.
local function report_age(id, ttl_ms)
  local pttl = redis.call('PTTL', k_node(id))
  if pttl < 0 then return nil end
  return ttl_ms - pttl
end
