// Redis reads and the room deletion of the API, each one script (one round trip). Placement
// itself lives in shared/placement.ts.
import type { NodeBusMessage } from "../../shared/bus.ts";
import { LUA_KEY_FUNCTIONS, keys } from "../../shared/keys.ts";
import { NodeRecord } from "../../shared/node.ts";
import { defineScript, type ScriptRunner } from "../../shared/redis-runner.ts";

export interface RoomView {
  name: string;
  node: string;
  region: string;
  createdAt: number;
  emptyTimeout: number;
  maxParticipants: number;
  metadata: string;
  numParticipants: number;
}

export interface NodeView extends NodeRecord {
  /** Placements onto the node since its last report. */
  reserved: number;
}

/** A flat HGETALL reply → object. */
function hash(flat: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!Array.isArray(flat)) return out;
  for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = String(flat[i + 1]);
  return out;
}

function roomView(flat: unknown, numParticipants: unknown): RoomView | undefined {
  const h = hash(flat);
  if (!h.name || !h.node) return undefined;
  return {
    name: h.name,
    node: h.node,
    region: h.region ?? "",
    createdAt: Number(h.createdAt ?? 0),
    emptyTimeout: Number(h.emptyTimeout ?? 0),
    maxParticipants: Number(h.maxParticipants ?? 0),
    metadata: h.metadata ?? "",
    numParticipants: Number(numParticipants ?? 0),
  };
}

const getRoomScript = defineScript(
  "get_room",
  `-- KEYS: room, participants
return { redis.call('HGETALL', KEYS[1]), redis.call('HLEN', KEYS[2]) }`,
);

export async function getRoom(redis: ScriptRunner, name: string): Promise<RoomView | undefined> {
  const [flat, n] = (await redis.run(getRoomScript, [keys.room(name), keys.roomParticipants(name)], [])) as unknown[];
  return roomView(flat, n);
}

const listRoomsScript = defineScript(
  "list_rooms",
  `${LUA_KEY_FUNCTIONS}
-- KEYS: rooms  ARGV: limit
local out = {}
for _, name in ipairs(redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)) do
  out[#out + 1] = { redis.call('HGETALL', k_room(name)), redis.call('HLEN', k_room_participants(name)) }
end
return out`,
);

export async function listRooms(redis: ScriptRunner, limit: number): Promise<RoomView[]> {
  const rows = (await redis.run(listRoomsScript, [keys.rooms()], [limit])) as unknown[][];
  return rows.map(([flat, n]) => roomView(flat, n)).filter((r): r is RoomView => r !== undefined);
}

const listParticipantsScript = defineScript(
  "list_participants",
  `-- KEYS: room, participants
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
return redis.call('HVALS', KEYS[2])`,
);

/** undefined = no such room. Participant records are written by the hosting node. */
export async function listParticipants(redis: ScriptRunner, room: string): Promise<unknown[] | undefined> {
  const r = await redis.run(listParticipantsScript, [keys.room(room), keys.roomParticipants(room)], []);
  if (!Array.isArray(r)) return undefined;
  return r.flatMap((v) => {
    try {
      return [JSON.parse(String(v)) as unknown];
    } catch {
      return [];
    }
  });
}

const listNodesScript = defineScript(
  "list_nodes",
  `${LUA_KEY_FUNCTIONS}
-- ARGV: now
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', k_nodes(), '(' .. ARGV[1], '+inf')) do
  local json = redis.call('GET', k_node(id))
  if json then out[#out + 1] = { json, redis.call('GET', k_node_reserved(id)) or '0' } end
end
return out`,
);

export async function listNodes(redis: ScriptRunner, now = Date.now()): Promise<NodeView[]> {
  const rows = (await redis.run(listNodesScript, [], [now])) as unknown[][];
  return rows.flatMap(([json, reserved]) => {
    try {
      const node = NodeRecord.parse(JSON.parse(String(json)));
      return [{ ...node, reserved: Number(reserved) || 0 }];
    } catch {
      return []; // a record we cannot read is not listed (and never selected either)
    }
  });
}

const deleteRoomScript = defineScript(
  "delete_room",
  `${LUA_KEY_FUNCTIONS}
-- KEYS: room, rooms, participants, unclaimed rooms  ARGV: name, bus message
local node = redis.call('HGET', KEYS[1], 'node')
if not node then return false end
redis.call('DEL', KEYS[1], KEYS[3])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('SREM', k_node_rooms(node), ARGV[1])
redis.call('PUBLISH', k_node_bus(node), ARGV[2])
return node`,
);

/** Removes the room's record and mapping and tells the hosting node (bus message room.delete)
 * to close it. Returns the hosting node, or undefined if there was no such room. */
export async function deleteRoom(redis: ScriptRunner, room: string): Promise<string | undefined> {
  const message: NodeBusMessage = { type: "room.delete", room };
  const r = await redis.run(
    deleteRoomScript,
    [keys.room(room), keys.rooms(), keys.roomParticipants(room), keys.unclaimedRooms()],
    [room, JSON.stringify(message)],
  );
  return typeof r === "string" ? r : undefined;
}
