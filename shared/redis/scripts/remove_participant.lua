--[[
  remove_participant: deletes a participant's record, unless another node owns the room (the
  new host's entries are not this node's to remove), or (sid given) the record is another
  connection's of the identity (it connected on another node since: cascade).

  Input:
    KEYS[1] room hash                keys.room(room)
    KEYS[2] the room's participants  keys.roomParticipants(room)
    KEYS[3] the room's serving nodes keys.roomNodes(room) (cascade: its edges write their own)

    ARGV[1] JSON object:
      identity  the participant's identity
      sid       (optional) the participant's sid: a record with another sid stays
      node_id   the writing node
      ttl_ms    lifetime of the node's write log (includes/node_writes.lua)
      write_no  this write's number in the node's log (NodeWriteLog; absent: not logged)

  Output: number of records deleted (0 or 1); 0 also when another node owns the room
]]
-- @include keys
-- @include node_writes
local a = cjson.decode(ARGV[1])
log_node_write(a.node_id, a.write_no, a.ttl_ms)
local owner = redis.call('HGET', KEYS[1], 'node')
if owner and owner ~= a.node_id and redis.call('HEXISTS', KEYS[3], a.node_id) == 0 then return 0 end
if a.sid then
  local ok, r = pcall(cjson.decode, redis.call('HGET', KEYS[2], a.identity) or '')
  if ok and type(r) == 'table' and type(r.sid) == 'string' and r.sid ~= a.sid then return 0 end
end
return redis.call('HDEL', KEYS[2], a.identity)
