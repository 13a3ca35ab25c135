--[[
  upsert_participant: writes a participant's record. Only the room's owner writes its
  participants: a node that lost the room (failover while it was cut off from Redis) must not add
  entries among the new host's participants. An unmapped room (Redis came back empty, before the
  re-sync's claim) takes the write.

  Input:
    KEYS[1] room hash                keys.room(room)
    KEYS[2] the room's participants  keys.roomParticipants(room)
    KEYS[3] the room's serving nodes keys.roomNodes(room) (cascade: its edges write their own)

    ARGV[1] JSON object:
      identity  the participant's identity (hash field)
      record    the participant record, as JSON text (stored as is)
      node_id   the writing node
      ttl_ms    lifetime of the node's write log (includes/node_writes.lua)
      write_no  this write's number in the node's log (NodeWriteLog; absent: not logged)

  Output: 1 written, 0 another node owns the room (nothing written)
]]
-- @include keys
-- @include node_writes
local a = cjson.decode(ARGV[1])
log_node_write(a.node_id, a.write_no, a.ttl_ms)
local owner = redis.call('HGET', KEYS[1], 'node')
if owner and owner ~= a.node_id and redis.call('HEXISTS', KEYS[3], a.node_id) == 0 then return 0 end
redis.call('HSET', KEYS[2], a.identity, a.record)
return 1
