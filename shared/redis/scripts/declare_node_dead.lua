--[[
  declare_node_dead: a node's bus peers have heard nothing from it for a while (bridge heartbeats
  come every second); it is dead if Redis saw its last report longer ago than late_ms too. Then its
  record goes now, as its expiry would a little later: placement re-places its rooms, cascade_room
  and the sweeper promote an edge of the rooms it was the origin of. Never on silence alone, so a
  node that keeps reporting is never declared dead; one that stalled that long re-registers at its
  next report and hands over the rooms it lost (the flap path: no split).

  Input:
    KEYS[1] the node's record  keys.node(id)

    ARGV[1] JSON object:
      ttl_ms   the records' TTL (NODE_TTL_MS): report age = ttl_ms - PTTL (Redis's clock)
      late_ms  REPORT_LATE_MS

  Output: 1 dead (no record, or a late one, deleted now), 0 alive (or a record without a TTL,
  which no report writes: its age is unknown, and silence alone declares nothing)
]]
local a = cjson.decode(ARGV[1])
local pttl = redis.call('PTTL', KEYS[1])
if pttl == -2 then return 1 end
if pttl < 0 then return 0 end
if a.ttl_ms - pttl <= a.late_ms then return 0 end
redis.call('DEL', KEYS[1])
return 1
