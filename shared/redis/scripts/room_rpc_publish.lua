--[[
  room_rpc_publish: sends a RoomService request (bus message room.rpc) to the room's hosting node.

  Input:
    KEYS[1] room hash  keys.room(room)

    ARGV[1] JSON object:
      node     the node the caller sealed `message` for (shared/bus.ts: a sealed message is only
               accepted on the channel it was sealed for); may be empty
      message  the sealed bus message for that node's channel, published as is

  Output: false when there is no such room; { hosting node id, subscribers that received it (0: the
  node is not listening) }; or { hosting node id, -1 } when `node` is not the host: nothing was
  published, the caller seals for the host and calls again
]]
-- @include keys
local a = cjson.decode(ARGV[1])
local node = redis.call('HGET', KEYS[1], 'node')
if not node then return false end
if node ~= a.node then return { node, -1 } end
return { node, redis.call('PUBLISH', k_node_bus(node), a.message) }
