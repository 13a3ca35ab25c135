--[[
  report_node: publishes a node's record with a TTL and (re)writes its entry in the selection
  index: its settled metrics plus the reservations they cannot show yet (carried forward, decayed:
  shared/selector/reservation.ts afterReport, the same arithmetic). Starts the registry's warm-up
  when Redis came back empty under a running node, or lost writes it had acknowledged to this node
  (went back in time: an older snapshot, a lagging replica; keys.ts node:<id>:writes, registry:*).

  Input:
    KEYS[1] node record                  keys.node(id)
    KEYS[2] nodes zset                   keys.nodes()
    KEYS[3] placements since the report  keys.nodeReserved(id)
    KEYS[4] regions with SERVING nodes   keys.selRegions()
    KEYS[5] the sweeper's nodes zset     keys.sweepNodes()
    KEYS[6] the node's reservation hash  keys.nodeReservation(id)
    KEYS[7] registry start               keys.registrySince()
    KEYS[8] registry warming             keys.registryWarming()
    KEYS[9]  the node's write count      keys.nodeWrites(id)
    KEYS[10] registry epoch              keys.registryEpoch()
    KEYS[11..] the region's selection index, keys.sel(region, f) for f in SEL_FIELDS order
            (expiry, updated, then one per metric)

    ARGV[1] JSON object:
      record             the NodeRecord, as JSON text (stored as is)
      id, region, state  of the record
      updated_at         the record's updatedAt (ms, the node's clock)
      now                ms, the caller's clock
      ttl_ms             lifetime of the record
      settled            { <metric> = settled value }  (reservation.ts settledMetric)
      cost               { <metric> = cost of one more room }  (reservation.ts roomCost)
      reflect_tau_ms     { <metric> = time constant }  (reservation.ts REFLECT_TAU_MS)
      started_at         ms the node started
      warmup_ms          registry warm-up length (node.ts REGISTRY_WARMUP_MS)
      restart_uptime_ms  node uptime that proves Redis restarted under it (REGISTRY_RESTART_UPTIME_MS)
      write_no           this report's number in the node's write log (NodeWriteLog; absent:
                         not logged, nothing is checked)
      acked_max          the highest number of the node's logged writes Redis acknowledged since
                         its first report (0: none, or this is the first)
      quiet_ms           ms since the node sent its last acknowledged report (-1: none yet)
      lost_after_ms      its record cannot have expired by itself if quiet_ms is below this
      log_ttl_ms         lifetime of the node's write log (longer than the record's)

  Output: { status, epoch }
    status 1: the node was registered already; 0: this report (re-)registered it (its record had
    expired, or was another process's), so the node must re-sync its rooms and participants;
    2: Redis lost writes it had acknowledged to the node: a warm-up started, the node must re-sync.
    epoch: registry:epoch now (a node re-syncs when it changed: someone started a warm-up).
]]
-- @include metrics
-- @include decay_factor
local a = cjson.decode(ARGV[1])
local M = #METRICS
local SEL = 11 -- KEYS[SEL] = sel:<region>:expiry, then updated, then one per metric
local id, updated = a.id, a.updated_at
local now = a.now
local expiry = now + a.ttl_ms

-- The record is this process's when it carries its start time (a node restarted under the same
-- id finds its predecessor's record: that one's rooms are not its own).
local stored = redis.call('GET', KEYS[1])
local mine = false
if stored then
  local ok, rec = pcall(cjson.decode, stored)
  mine = ok and type(rec) == 'table' and rec.startedAt == a.started_at
end
local existed = mine and 1 or 0

-- Did Redis lose writes it had acknowledged to this node? Its write log (which outlives the record)
-- holds a lower number than one the node saw acknowledged, or is another process's, or is gone
-- while the record is there; or, the log gone too, its record is another process's or gone
-- although it could not have expired yet. A Redis restored from an older snapshot keeps
-- registry:since, so this is the only sign of it.
local writes = redis.call('HMGET', KEYS[9], 'boot', 'seq')
local logged = type(a.write_no) == 'number'
local lost = false
if logged and a.acked_max > 0 then
  if writes[1] then
    lost = tonumber(writes[1]) ~= a.started_at or (tonumber(writes[2]) or 0) < a.acked_max
  elseif mine or stored then
    lost = true
  else
    lost = a.quiet_ms >= 0 and a.quiet_ms < a.lost_after_ms
  end
end

-- Warm-up (keys.ts registry:*): until it ends, placement refuses unmapped rooms and rooms whose
-- mapping predates it; a new warm-up starts a new epoch (mappings before it are unconfirmed).
local function warm_up(warm_until)
  local current = tonumber(redis.call('GET', KEYS[8]) or '0')
  if current <= now then redis.call('INCR', KEYS[10]) end
  if warm_until > current then
    redis.call('SET', KEYS[8], string.format('%d', warm_until), 'PX', string.format('%d', warm_until - now))
  end
end
if lost then warm_up(now + a.warmup_ms) end
if existed == 0 then
  -- The first report into an empty registry records its start; a node that was up for a while
  -- before that start had reported into a registry this one does not remember (Redis restarted
  -- empty), so rooms that live nodes still host are unknown until they re-claim them.
  redis.call('SET', KEYS[7], now, 'NX')
  local since = tonumber(redis.call('GET', KEYS[7]))
  local warm_until = since + a.warmup_ms
  if now < warm_until and a.started_at + a.restart_uptime_ms < since then warm_up(warm_until) end
end

-- Log this report: a new process, or one whose writes Redis lost, starts the log over here (its
-- earlier writes ran before this one on the same connection).
if logged then
  if lost or tonumber(writes[1]) ~= a.started_at then
    redis.call('HSET', KEYS[9], 'boot', string.format('%d', a.started_at), 'seq', string.format('%d', a.write_no))
  elseif (tonumber(writes[2]) or 0) < a.write_no then
    redis.call('HSET', KEYS[9], 'seq', string.format('%d', a.write_no))
  end
  redis.call('PEXPIRE', KEYS[9], a.log_ttl_ms)
end
local status = lost and 2 or existed
local epoch = tonumber(redis.call('GET', KEYS[10]) or '0')
redis.call('SET', KEYS[1], a.record, 'PX', a.ttl_ms)
redis.call('ZADD', KEYS[2], expiry, id)
redis.call('ZADD', KEYS[5], expiry, id)

-- Carry forward what the report cannot show yet: (carried + placed x cost) decayed over the time
-- between this report and the previous one (reservation.ts afterReport, the same arithmetic).
local want = { 'at' }
for i, m in ipairs(METRICS) do want[1 + i] = 'carried:' .. m; want[1 + M + i] = 'cost:' .. m end
local prev = redis.call('HMGET', KEYS[6], unpack(want))
local placed = tonumber(redis.call('GET', KEYS[3]) or '0')
local carried, fields = {}, { 'at', updated }
for i, m in ipairs(METRICS) do
  local c = 0
  if prev[1] then
    local outstanding = (tonumber(prev[1 + i]) or 0) + placed * (tonumber(prev[1 + M + i]) or 0)
    c = outstanding * decay_factor(updated - tonumber(prev[1]), a.reflect_tau_ms[m])
  end
  carried[i] = string.format('%.17g', c) -- round-trips exactly
  fields[#fields + 1] = 'carried:' .. m; fields[#fields + 1] = carried[i]
  fields[#fields + 1] = 'cost:' .. m; fields[#fields + 1] = a.cost[m]
end
redis.call('HSET', KEYS[6], unpack(fields))
redis.call('PEXPIRE', KEYS[6], a.ttl_ms)
redis.call('DEL', KEYS[3])

if a.state ~= 'SERVING' then
  -- leaves the selection index at once: a draining node takes no new rooms
  for i = SEL, #KEYS do redis.call('ZREM', KEYS[i], id) end
  return { status, epoch }
end
redis.call('SADD', KEYS[4], a.region)
redis.call('ZADD', KEYS[SEL], expiry, id)
redis.call('ZADD', KEYS[SEL + 1], updated, id)
for i, m in ipairs(METRICS) do
  -- settled + carried, summed by Redis in the same order as effectiveMetric
  local key = KEYS[SEL + 1 + i]
  redis.call('ZADD', key, a.settled[m], id)
  if tonumber(carried[i]) ~= 0 then redis.call('ZINCRBY', key, carried[i], id) end
end
return { status, epoch }
