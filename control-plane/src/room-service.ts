// The room operations of the API, once: the /v1 REST routes and the Twirp RoomService
// (twirp/room-service.ts) are both thin layers over these. Reads come from Redis (records the
// hosting node keeps current); changes to a live room go to its hosting node (node-rpc.ts).
// Errors are ApiErrors; each layer renders them its way.
import { DEFAULT_ROOM_SETTINGS, placeRoom } from "#shared/placement.ts";
import type { ParticipantRecord, RoomOp } from "#shared/room-admin.ts";
import { referencePoint, regionPreference } from "#shared/selector/index.ts";
import type { CfLocation } from "#shared/selector/reference.ts";
import type { Settings } from "./env.ts";
import { ApiError, badRequest, noNodes, notFound, quotaExceeded, registryWarming } from "./errors.ts";
import { ErrorCode } from "#shared/errors.ts";
import { busSealFor, callRoomNode, type RoomOpResult } from "./node-rpc.ts";
import { redisFor } from "./redis.ts";
import * as store from "./store.ts";
import type { RoomCursor, RoomView } from "./store.ts";

export interface CreateRoomInput {
  name: string;
  emptyTimeout?: number | undefined;
  maxParticipants?: number | undefined;
  metadata?: string | undefined;
  /** Place near this configured region instead of the caller. */
  region?: string | undefined;
}

/** Places a new room; an existing one is returned as it is with created: false. */
export async function createRoom(
  s: Settings,
  apiKey: string,
  input: CreateRoomInput,
  cf: CfLocation | undefined,
): Promise<{ room: RoomView; created: boolean }> {
  let point = referencePoint(cf, s.selector.regions, s.defaultRegion);
  if (input.region !== undefined) {
    const r = s.selector.regions.find((x) => x.name === input.region);
    if (!r) throw badRequest(`unknown region ${input.region}`);
    point = { lat: r.lat, lon: r.lon };
  }
  const settings = {
    emptyTimeout: input.emptyTimeout ?? DEFAULT_ROOM_SETTINGS.emptyTimeout,
    maxParticipants: input.maxParticipants ?? DEFAULT_ROOM_SETTINGS.maxParticipants,
    metadata: input.metadata ?? DEFAULT_ROOM_SETTINGS.metadata,
  };
  const now = Date.now();
  const redis = redisFor(s);
  const r = await placeRoom(redis, {
    room: input.name,
    mode: "create",
    autoCreate: true,
    config: s.selector,
    regionOrder: regionPreference(s.selector.regions, point),
    settings,
    now,
    apiKey,
    roomQuota: s.roomsPerApiKey,
  });
  if (r.status === "exists") {
    const room = await store.getRoom(redis, input.name);
    if (room) return { room, created: false };
    throw new ApiError(409, ErrorCode.Conflict, `room ${input.name} changed while being created; retry`);
  }
  if (r.status === "warming") throw registryWarming(r.retryAfterMs);
  if (r.status === "quota") throw quotaExceeded(r.limit);
  if (r.status !== "ok") throw noNodes();
  return {
    room: {
      sid: r.roomSid,
      name: input.name,
      node: r.node.id,
      region: r.node.region,
      createdAt: now,
      ...settings,
      numParticipants: 0,
      signalNodes: [],
      mediaNodes: [],
    },
    created: true,
  };
}

/** One page of rooms, oldest first, after `after`; `next` names the following page. */
export function listRooms(
  s: Settings,
  limit: number,
  after?: RoomCursor,
): Promise<{ rooms: RoomView[]; next: RoomCursor | undefined }> {
  return store.listRooms(redisFor(s), limit, after);
}

/** The named rooms that exist, in that order. */
export async function roomsNamed(s: Settings, names: readonly string[]): Promise<RoomView[]> {
  const redis = redisFor(s);
  return (await Promise.all(names.map((n) => store.getRoom(redis, n)))).filter((r) => r !== undefined);
}

export async function getRoom(s: Settings, name: string): Promise<RoomView> {
  return (await store.getRoom(redisFor(s), name)) ?? noRoom(name);
}

/** Deletes the room; its node closes it (bus room.delete). Returns the node that hosted it. */
export async function deleteRoom(s: Settings, name: string): Promise<string> {
  return (await store.deleteRoom(redisFor(s), name, await busSealFor(s))) ?? noRoom(name);
}

/** One page of the room's participants (`cursor`: the previous page's `next`). */
export async function listParticipants(
  s: Settings,
  room: string,
  cursor?: string,
): Promise<store.ScanPage<ParticipantRecord>> {
  return (await store.listParticipants(redisFor(s), room, cursor)) ?? noRoom(room);
}

export async function getParticipant(s: Settings, room: string, identity: string): Promise<ParticipantRecord> {
  const r = (await store.getParticipant(redisFor(s), room, identity)) ?? noRoom(room);
  return r.participant ?? noParticipant(room, identity);
}

/** An operation on a live room, applied by its hosting node. */
export function roomOp(s: Settings, room: string, op: RoomOp): Promise<RoomOpResult> {
  return callRoomNode(s, room, op);
}

/** Stores the metadata with the room, then has the hosting node broadcast it. A room placed but
 * not opened yet has nobody to tell: its node reads the stored value when it opens it. */
export async function updateRoomMetadata(s: Settings, room: string, metadata: string): Promise<RoomView> {
  const view = (await store.setRoomMetadata(redisFor(s), room, metadata)) ?? noRoom(room);
  try {
    await callRoomNode(s, room, { op: "updateRoomMetadata", metadata });
  } catch (e) {
    if (!(e instanceof ApiError && e.code === ErrorCode.NotFound)) throw e;
  }
  return view;
}

function noRoom(name: string): never {
  throw notFound(`no room ${name}`);
}

function noParticipant(room: string, identity: string): never {
  throw notFound(`participant ${identity} is not in room ${room}`);
}
