-- reserve_load(id, region, what, ttl_ms, default_cost): reserves on node <id> (region) load its
-- stats cannot show yet, so the next pick in the region sees it (shared/selector/reservation.ts).
-- The unit is the node's learnt per-room cost (roomCost, written by its last report as
-- node:<id>:reservation cost:<metric>; default_cost while it has none), added to its selection
-- index scores; node:<id>:reserved counts the rooms reserved, and the node's next report carries
-- them forward, decayed (report_node.lua).
--   what 'room': a room placed on the node, one room's cost.
--   what 'participant': a participant whose media goes to the node as an edge of its room
--     (cascade): the node's own average participant, i.e. 1 / (its clients per room) of a room's
--     cost: settled load / clients for sysload, cpuload, tracks and bytes, 1 for clients.
-- Needs the `keys` and `metrics` includes.
local function reserve_load(id, region, what, ttl_ms, default_cost)
  local want = {}
  for i, m in ipairs(METRICS) do want[i] = 'cost:' .. m end
  local learnt = redis.call('HMGET', k_node_reservation(id), unpack(want))
  local per_room = {}
  for i, m in ipairs(METRICS) do per_room[m] = learnt[i] or default_cost[m] end
  local share = 1
  if what == 'participant' then
    local clients = tonumber(per_room.clients)
    if not clients or clients <= 0 then clients = default_cost.clients end
    share = 1 / clients
  end
  local reserved = k_node_reserved(id)
  -- a float counter: rooms count 1, a participant its share of a room
  redis.call('INCRBYFLOAT', reserved, string.format('%.17g', share))
  redis.call('PEXPIRE', reserved, ttl_ms)
  for _, m in ipairs(METRICS) do
    -- a room adds the cost as stored (text), exactly what the TS selector adds (differential test)
    local add = per_room[m]
    if share ~= 1 then add = string.format('%.17g', tonumber(add) * share) end
    redis.call('ZINCRBY', k_sel(region, m), add, id)
  end
end
