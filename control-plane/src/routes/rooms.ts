// Room API: create, list, get, delete, participants (LiveKit RoomService equivalents).
import { OpenAPIHono, createRoute, type z } from "@hono/zod-openapi";
import type { ScriptRunner } from "#shared/redis/runner.ts";
import { DEFAULT_ROOM_SETTINGS, placeRoom } from "#shared/placement.ts";
import { referencePoint, regionPreference } from "#shared/selector/index.ts";
import { admin, type AdminGrant } from "../auth.ts";
import { settings, type Env } from "../env.ts";
import { badRequest, conflict, noNodes, notFound, registryWarming } from "../errors.ts";
import { bearerSecurity, errorResponses, json } from "../openapi.ts";
import { redisFor } from "../redis.ts";
import { CreateRoomBody, Deleted, ListQuery, Participants, Room, RoomList, RoomParam } from "../schemas.ts";
import { deleteRoom, getRoom, listParticipants, listRooms } from "../store.ts";
import { cfOf } from "./cf.ts";

export const rooms = new OpenAPIHono<{ Bindings: Env }>();

const create = createRoute({
  method: "post",
  path: "/v1/rooms",
  summary: "Create a room and place it on a media node (grant roomCreate)",
  security: bearerSecurity,
  request: { body: { required: true, content: { "application/json": { schema: CreateRoomBody } } } },
  responses: { 201: json(Room, "room created and placed"), ...errorResponses(400, 401, 403, 409, 503) },
});

rooms.openapi(create, async (c) => {
  const s = settings(c.env);
  await admin(c, s.apiKeys, "roomCreate");
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
  });
  if (r.status === "exists") throw conflict(`room ${body.name} already exists (on node ${r.nodeId})`);
  if (r.status === "warming") throw registryWarming(r.retryAfterMs);
  if (r.status !== "ok") throw noNodes();
  return c.json({ name: body.name, node: r.node.id, region: r.node.region, createdAt: now, ...roomSettings, numParticipants: 0, signalNodes: [] }, 201);
});

const list = createRoute({
  method: "get",
  path: "/v1/rooms",
  summary: "List rooms, oldest first (grant roomList)",
  security: bearerSecurity,
  request: { query: ListQuery },
  responses: { 200: json(RoomList, "rooms"), ...errorResponses(400, 401, 403, 503) },
});

rooms.openapi(list, async (c) => {
  const s = settings(c.env);
  await admin(c, s.apiKeys, "roomList");
  return c.json({ rooms: await listRooms(redisFor(s), c.req.valid("query").limit ?? 1000) }, 200);
});

/** GET/DELETE on one named room: admin grant, then `run`; undefined from `run` = 404. */
function roomRoute<S extends z.ZodType>(o: {
  method: "get" | "delete";
  path: string;
  summary: string;
  grant: AdminGrant;
  schema: S;
  run: (redis: ScriptRunner, name: string) => Promise<z.infer<S> | undefined>;
}): void {
  const route = createRoute({
    method: o.method,
    path: o.path,
    summary: o.summary,
    security: bearerSecurity,
    request: { params: RoomParam },
    responses: { 200: json(o.schema, "ok"), ...errorResponses(400, 401, 403, 404, 503) },
  });
  rooms.openapi(route, async (c) => {
    const s = settings(c.env);
    const { name } = c.req.valid("param");
    await admin(c, s.apiKeys, o.grant, name);
    const out = await o.run(redisFor(s), name);
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
  run: async (redis, name) => {
    const node = await deleteRoom(redis, name);
    return node === undefined ? undefined : { room: name, node };
  },
});

roomRoute({
  method: "get",
  path: "/v1/rooms/{name}/participants",
  summary: "List a room's participants, as reported by its hosting node (grant roomAdmin)",
  grant: "roomAdmin",
  schema: Participants,
  run: async (redis, name) => {
    const participants = await listParticipants(redis, name);
    return participants === undefined ? undefined : { room: name, participants };
  },
});
