// Room API: create, list, get, delete, participants (LiveKit RoomService equivalents).
import { OpenAPIHono, createRoute, z } from "@hono/zod-openapi";
import { CONTROL_PLANE, busSigner } from "#shared/bus.ts";
import type { ScriptRunner } from "#shared/redis/runner.ts";
import { DEFAULT_ROOM_SETTINGS, placeRoom } from "#shared/placement.ts";
import { referencePoint, regionPreference } from "#shared/selector/index.ts";
import { admin, type AdminGrant } from "../auth.ts";
import { settings, type Env, type Settings } from "../env.ts";
import { badRequest, conflict, noNodes, notFound, quotaExceeded, registryWarming } from "../errors.ts";
import { bearerSecurity, errorResponses, json } from "../openapi.ts";
import { redisFor } from "../redis.ts";
import { CreateRoomBody, Deleted, ListQuery, Participants, Room, RoomList, RoomName, RoomParam, ScanQuery } from "../schemas.ts";
import { deleteRoom, getRoom, listParticipants, listRooms, type BusSeal, type RoomCursor } from "../store.ts";
import { cfOf } from "./cf.ts";

export const rooms = new OpenAPIHono<{ Bindings: Env }>();

/** The control plane's bus signer, once per Settings (key derivation and import are async). */
const sealers = new WeakMap<Settings, Promise<BusSeal>>();
function busSealFor(s: Settings): Promise<BusSeal> {
  let p = sealers.get(s);
  if (!p) sealers.set(s, (p = busSigner(s.apiKeys, CONTROL_PLANE)));
  return p;
}

const create = createRoute({
  method: "post",
  path: "/v1/rooms",
  summary: "Create a room and place it on a media node (grant roomCreate)",
  security: bearerSecurity,
  request: { body: { required: true, content: { "application/json": { schema: CreateRoomBody } } } },
  responses: { 201: json(Room, "room created and placed"), ...errorResponses(400, 401, 403, 409, 429, 503) },
});

rooms.openapi(create, async (c) => {
  const s = settings(c.env);
  const claims = await admin(c, s.apiKeys, "roomCreate");
  const body = c.req.valid("json");
  let point = referencePoint(cfOf(c, s), s.selector.regions, s.defaultRegion);
  if (body.region !== undefined) {
    const r = s.selector.regions.find((x) => x.name === body.region);
    if (!r) throw badRequest(`unknown region ${body.region}`);
    point = { lat: r.lat, lon: r.lon };
  }
  const roomSettings = {
    emptyTimeout: body.emptyTimeout ?? DEFAULT_ROOM_SETTINGS.emptyTimeout,
    maxParticipants: body.maxParticipants ?? DEFAULT_ROOM_SETTINGS.maxParticipants,
    metadata: body.metadata ?? DEFAULT_ROOM_SETTINGS.metadata,
  };
  const now = Date.now();
  const r = await placeRoom(redisFor(s), {
    room: body.name,
    mode: "create",
    autoCreate: true,
    config: s.selector,
    regionOrder: regionPreference(s.selector.regions, point),
    settings: roomSettings,
    now,
    apiKey: claims.iss,
    roomQuota: s.roomsPerApiKey,
  });
  if (r.status === "exists") throw conflict(`room ${body.name} already exists (on node ${r.nodeId})`);
  if (r.status === "warming") throw registryWarming(r.retryAfterMs);
  if (r.status === "quota") throw quotaExceeded(r.limit);
  if (r.status !== "ok") throw noNodes();
  return c.json({ name: body.name, node: r.node.id, region: r.node.region, createdAt: now, ...roomSettings, numParticipants: 0, signalNodes: [] }, 201);
});

const NoQuery = z.object({});

/** Rooms per page of GET /v1/rooms when the query names no limit. */
const DEFAULT_PAGE = 100;

const Cursor = z.tuple([z.number().int().nonnegative(), RoomName]);

/** Opaque to clients: base64url of [createdAt, name]. */
function encodeCursor(c: RoomCursor): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(JSON.stringify([c.createdAt, c.name]))))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

function decodeCursor(s: string): RoomCursor {
  try {
    const bytes = Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (ch) => ch.charCodeAt(0));
    const [createdAt, name] = Cursor.parse(JSON.parse(new TextDecoder().decode(bytes)));
    return { createdAt, name };
  } catch {
    throw badRequest("cursor is not one this API returned");
  }
}

const list = createRoute({
  method: "get",
  path: "/v1/rooms",
  summary: "List rooms, oldest first, one page at a time (grant roomList): follow nextCursor",
  security: bearerSecurity,
  request: { query: ListQuery },
  responses: { 200: json(RoomList, "rooms"), ...errorResponses(400, 401, 403, 503) },
});

rooms.openapi(list, async (c) => {
  const s = settings(c.env);
  await admin(c, s.apiKeys, "roomList");
  const q = c.req.valid("query");
  const page = await listRooms(redisFor(s), q.limit ?? DEFAULT_PAGE, q.cursor === undefined ? undefined : decodeCursor(q.cursor));
  return c.json({ rooms: page.rooms, nextCursor: page.next ? encodeCursor(page.next) : null }, 200);
});

/** GET/DELETE on one named room: admin grant, then `run`; undefined from `run` = 404. `paged`:
 * the route takes ?cursor= (ScanQuery) and hands it to `run`. */
function roomRoute<S extends z.ZodType>(o: {
  method: "get" | "delete";
  path: string;
  summary: string;
  grant: AdminGrant;
  schema: S;
  paged?: boolean;
  run: (redis: ScriptRunner, name: string, cursor: string | undefined, s: Settings) => Promise<z.infer<S> | undefined>;
}): void {
  const route = createRoute({
    method: o.method,
    path: o.path,
    summary: o.summary,
    security: bearerSecurity,
    request: { params: RoomParam, query: o.paged ? ScanQuery : NoQuery },
    responses: { 200: json(o.schema, "ok"), ...errorResponses(400, 401, 403, 404, 503) },
  });
  rooms.openapi(route, async (c) => {
    const s = settings(c.env);
    const { name } = c.req.valid("param");
    await admin(c, s.apiKeys, o.grant, name);
    const q: { cursor?: string | undefined } = c.req.valid("query");
    const out = await o.run(redisFor(s), name, q.cursor, s);
    if (out === undefined) throw notFound(`no room ${name}`);
    return c.json(out as object, 200);
  });
}

roomRoute({
  method: "get",
  path: "/v1/rooms/{name}",
  summary: "Get a room (grant roomList)",
  grant: "roomList",
  schema: Room,
  run: getRoom,
});

roomRoute({
  method: "delete",
  path: "/v1/rooms/{name}",
  summary: "Delete a room; its hosting node gets {type:'room.delete'} on its bus and closes it (grant roomCreate)",
  grant: "roomCreate",
  schema: Deleted,
  run: async (redis, name, _cursor, s) => {
    const node = await deleteRoom(redis, name, await busSealFor(s));
    return node === undefined ? undefined : { room: name, node };
  },
});

roomRoute({
  method: "get",
  path: "/v1/rooms/{name}/participants",
  summary: "List a room's participants, as reported by its hosting node, one page at a time: follow nextCursor (grant roomAdmin)",
  grant: "roomAdmin",
  schema: Participants,
  paged: true,
  run: async (redis, name, cursor) => {
    const page = await listParticipants(redis, name, cursor);
    return page === undefined ? undefined : { room: name, participants: page.items, nextCursor: page.next ?? null };
  },
});
