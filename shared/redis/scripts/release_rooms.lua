--[[
  release_rooms: a re-syncing node's room set becomes what it really hosts. Rooms Redis lists for
  it that it does not host (a restored snapshot's, or a predecessor's under the same node id) are
  dropped from its set, and deleted when still mapped to it, with their participants: nobody hosts
  them, and a join would otherwise be sent to a node that reopens an empty copy. A room placed on
  the node but not opened yet (rooms:unclaimed) is left to its open deadline.

  Input:
    KEYS[1] the node's room set      keys.nodeRooms(node_id)
    KEYS[2] rooms zset               keys.rooms()
    KEYS[3] unclaimed rooms zset     keys.unclaimedRooms()

    ARGV[1] JSON object:
      node_id   the re-syncing node
      hosted    the rooms it hosts (names)
      ttl_ms    lifetime of the node's write log (includes/node_writes.lua)
      write_no  this write's number in the node's log (NodeWriteLog; absent: not logged)

  Output: the names of the rooms released
]]
-- @include keys
-- @include node_writes
local a = cjson.decode(ARGV[1])
log_node_write(a.node_id, a.write_no, a.ttl_ms)
local hosted = {}
for _, room in ipairs(a.hosted) do hosted[room] = true end
local released = {}
for _, room in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if not hosted[room] and not redis.call('ZSCORE', KEYS[3], room) then
    if redis.call('HGET', k_room(room), 'node') == a.node_id then
      redis.call('DEL', k_room(room), k_room_participants(room))
      redis.call('ZREM', KEYS[2], room)
    end
    redis.call('SREM', KEYS[1], room)
    released[#released + 1] = room
  end
end
return released
