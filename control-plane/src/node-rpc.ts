// Control plane → hosting node request/reply over Redis. The Worker reaches Redis only through
// Upstash's REST API, so it cannot SUBSCRIBE; instead one script checks the room's node and
// PUBLISHes the request on its bus, sealed for that node's channel by the bus authentication
// (shared/bus.ts; 0 receivers = nobody listening → 503 at once), and a REST BLPOP on the request's
// reply list waits for the node's RPUSH (held open by Redis until the reply or the timeout).
// Total: 2 round trips (3 the first time a room is addressed from this isolate), no polling.
import { keys } from "#shared/keys.ts";
import { SCRIPTS } from "#shared/redis/scripts.ts";
import { CONTROL_PLANE, busSigner } from "#shared/bus.ts";
import { RoomRpcReply, type RoomOp, type RoomRpcMessage } from "#shared/room-admin.ts";
import { ErrorCode } from "#shared/errors.ts";
import type { Settings } from "./env.ts";
import { ApiError, nodeUnavailable, notFound } from "./errors.ts";
import { blpop, redisFor } from "./redis.ts";
import type { BusSeal } from "./store.ts";

const STATUS: Partial<Record<ErrorCode, 400 | 403 | 404 | 409 | 429>> = {
  [ErrorCode.BadRequest]: 400,
  [ErrorCode.Forbidden]: 403,
  [ErrorCode.NotFound]: 404,
  [ErrorCode.Conflict]: 409,
  [ErrorCode.RateLimited]: 429,
};

export type RoomOpResult = Omit<Extract<RoomRpcReply, { ok: true }>, "ok">;

/** The control plane's bus signer, once per Settings (key derivation and import are async). */
const sealers = new WeakMap<Settings, Promise<BusSeal>>();
export function busSealFor(s: Settings): Promise<BusSeal> {
  let p = sealers.get(s);
  if (!p) sealers.set(s, (p = busSigner(s.apiKeys, CONTROL_PLANE)));
  return p;
}

/** Last known host per room (this isolate): a request is sealed for it at once; a moved room costs
 * one more round trip. Bounded: cleared when full. */
const hosts = new Map<string, string>();
const MAX_HOSTS = 1_000;

/** Applies `op` on the node hosting `room`. Throws ApiError: not_found (no room, or the node says
 * so), node_unavailable 503 (not listening, no answer within settings.roomRpcTimeoutMs),
 * redis_unavailable 503. */
export async function callRoomNode(s: Settings, room: string, op: RoomOp): Promise<RoomOpResult> {
  const seal = await busSealFor(s);
  const id = crypto.randomUUID();
  const timeoutMs = s.roomRpcTimeoutMs;
  const payload = JSON.stringify({
    type: "room.rpc",
    id,
    room,
    deadline: Date.now() + timeoutMs,
    op,
  } satisfies RoomRpcMessage);
  let node = hosts.get(room) ?? "";
  let receivers = -1;
  for (let attempt = 0; attempt < 3 && receivers < 0; attempt++) {
    const message = node ? await seal(keys.nodeBus(node), payload) : "";
    const r = await redisFor(s).run(SCRIPTS.room_rpc_publish, [keys.room(room)], { node, message });
    if (!Array.isArray(r)) {
      hosts.delete(room);
      throw notFound(`no room ${room}`);
    }
    node = String(r[0]);
    receivers = Number(r[1]);
  }
  if (receivers < 0) throw new ApiError(409, ErrorCode.Conflict, `room ${room} keeps changing nodes; try again`);
  if (hosts.size >= MAX_HOSTS) hosts.clear();
  hosts.set(room, node);
  if (receivers === 0) throw nodeUnavailable(node, "is not listening on its bus");
  const raw = await blpop(s, keys.rpcReply(id), timeoutMs);
  if (raw === null) throw nodeUnavailable(node, `did not answer within ${timeoutMs} ms`);
  let reply: RoomRpcReply;
  try {
    reply = RoomRpcReply.parse(JSON.parse(raw));
  } catch {
    throw nodeUnavailable(node, "sent a malformed reply");
  }
  if (!reply.ok) {
    const status = STATUS[reply.code];
    if (status === undefined) throw nodeUnavailable(node, `failed (${reply.code})`);
    throw new ApiError(status, reply.code, reply.message);
  }
  const { ok: _, ...result } = reply;
  return result;
}
