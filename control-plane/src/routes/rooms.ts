// Room API: create, list, get, delete, participants — REST over room-service.ts, the operations
// the Twirp RoomService (twirp/room-service.ts) runs too.
import { OpenAPIHono, createRoute, z } from "@hono/zod-openapi";
import { admin, type AdminGrant } from "../auth.ts";
import { settings, type Env, type Settings } from "../env.ts";
import { badRequest, conflict } from "../errors.ts";
import { bearerSecurity, errorResponses, json } from "../openapi.ts";
import * as ops from "../room-service.ts";
import {
  CreateRoomBody,
  Deleted,
  ListQuery,
  Participants,
  Room,
  RoomList,
  RoomName,
  RoomParam,
  ScanQuery,
} from "../schemas.ts";
import type { RoomCursor } from "../store.ts";
import { cfOf } from "./cf.ts";

export const rooms = new OpenAPIHono<{ Bindings: Env }>();

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
  const r = await ops.createRoom(s, claims.iss, body, cfOf(c, s));
  if (!r.created) throw conflict(`room ${body.name} already exists (on node ${r.room.node})`);
  return c.json(r.room, 201);
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
  const page = await ops.listRooms(
    s,
    q.limit ?? DEFAULT_PAGE,
    q.cursor === undefined ? undefined : decodeCursor(q.cursor),
  );
  return c.json({ rooms: page.rooms, nextCursor: page.next ? encodeCursor(page.next) : null }, 200);
});

/** GET/DELETE on one named room: admin grant, then `run` (room-service.ts: 404 when there is none).
 * `paged`: the route takes ?cursor= (ScanQuery) and hands it to `run`. */
function roomRoute<S extends z.ZodType>(o: {
  method: "get" | "delete";
  path: string;
  summary: string;
  grant: AdminGrant;
  schema: S;
  paged?: boolean;
  run: (s: Settings, name: string, cursor: string | undefined) => Promise<z.infer<S>>;
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
    return c.json((await o.run(s, name, q.cursor)) as object, 200);
  });
}

roomRoute({
  method: "get",
  path: "/v1/rooms/{name}",
  summary: "Get a room (grant roomList)",
  grant: "roomList",
  schema: Room,
  run: ops.getRoom,
});

roomRoute({
  method: "delete",
  path: "/v1/rooms/{name}",
  summary: "Delete a room; its hosting node gets {type:'room.delete'} on its bus and closes it (grant roomCreate)",
  grant: "roomCreate",
  schema: Deleted,
  run: async (s, name) => ({ room: name, node: await ops.deleteRoom(s, name) }),
});

roomRoute({
  method: "get",
  path: "/v1/rooms/{name}/participants",
  summary:
    "List a room's participants, as reported by its hosting node, one page at a time: follow nextCursor (grant roomAdmin)",
  grant: "roomAdmin",
  schema: Participants,
  paged: true,
  run: async (s, name, cursor) => {
    const page = await ops.listParticipants(s, name, cursor);
    return { room: name, participants: page.items, nextCursor: page.next ?? null };
  },
});
