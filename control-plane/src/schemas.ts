// Request/response schemas of the HTTP API (zod, rendered into /openapi.json).
import { z } from "@hono/zod-openapi";
import { ErrorCode } from "#shared/errors.ts";
import { MAX_NODES_PER_ROOM } from "#shared/cascade.ts";
import { Region } from "#shared/config.ts";
import { AccessToken, Identity, ROOM_METADATA_MAX, RoomName as SharedRoomName } from "#shared/limits.ts";
import { GrantRequest } from "#shared/grants.ts";
import { NodeRecord } from "#shared/node.ts";
import { ParticipantRecord } from "#shared/records.ts";

/** The one room-name rule (shared/limits.ts), on every entry path. */
export const RoomName = SharedRoomName.openapi({ example: "standup" });

export const ErrorBody = z
  .object({
    error: z.object({
      code: z.enum(Object.values(ErrorCode) as [ErrorCode, ...ErrorCode[]]),
      message: z.string(),
      details: z.unknown().optional(),
    }),
  })
  .openapi("Error");

export const RoomSettingsFields = {
  emptyTimeout: z
    .number()
    .int()
    .min(0)
    .max(7 * 86_400)
    .optional()
    .openapi({ description: "seconds; default 300" }),
  maxParticipants: z.number().int().min(0).max(100_000).optional().openapi({ description: "0 = unlimited" }),
  metadata: z.string().max(ROOM_METADATA_MAX).optional(),
};

export const CreateRoomBody = z
  .object({
    name: RoomName,
    ...RoomSettingsFields,
    region: z
      .string()
      .min(1)
      .max(64)
      .optional()
      .openapi({ description: "place near this configured region instead of the caller" }),
  })
  .strict()
  .openapi("CreateRoom");

export const RoomMediaNode = z
  .object({
    node: z.string(),
    role: z.enum(["origin", "edge"]),
    region: z.string(),
    participants: z.number().openapi({ description: "participants whose media this node serves" }),
    pipes: z.number().optional().openapi({
      description: "pipe transports of this node for the room, one per linked node (absent: not reported yet)",
    }),
    pipedIn: z.number().optional().openapi({
      description: "tracks produced on this node from another node over those pipes (absent: not reported yet)",
    }),
    reserved: z.literal(true).optional().openapi({
      description: "named by POST /v1/join as a client's media node, not serving the room yet",
    }),
  })
  .openapi("RoomMediaNode");

export const Room = z
  .object({
    sid: z.string().optional().openapi({ description: "RM_…: this incarnation of the room" }),
    name: z.string(),
    node: z.string(),
    region: z.string(),
    createdAt: z.number(),
    emptyTimeout: z.number(),
    maxParticipants: z.number(),
    metadata: z.string(),
    numParticipants: z.number(),
    signalNodes: z.array(z.object({ node: z.string(), participants: z.number() })).openapi({
      description:
        "participants by the node their signaling connection is on (the hosting node, or a bridged join's signal node)",
    }),
    mediaNodes: z.array(RoomMediaNode).max(MAX_NODES_PER_ROOM).openapi({
      description:
        "the nodes serving the room's media (cascade), the origin (`node`) first: more than one when the room spans nodes, one or none otherwise",
    }),
  })
  .openapi("Room");

export const RoomList = z
  .object({
    rooms: z.array(Room),
    nextCursor: z
      .string()
      .nullable()
      .openapi({ description: "pass as ?cursor= for the next page; null on the last page" }),
  })
  .openapi("RoomList");
export const RoomParam = z.object({ name: RoomName.openapi({ param: { name: "name", in: "path" } }) });
export const ListQuery = z.object({
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(1000)
    .optional()
    .openapi({ description: "rooms per page (default 100); a page also stops at 1 MiB of room records" }),
  cursor: z.string().max(1024).optional().openapi({ description: "nextCursor of the previous page" }),
});

/** A SCAN cursor (GET /v1/nodes, participants): the `nextCursor` of the previous page. */
export const ScanQuery = z.object({
  cursor: z
    .string()
    .regex(/^\d{1,20}$/, "a nextCursor this API returned")
    .optional()
    .openapi({ description: "nextCursor of the previous page" }),
});
const nextCursor = z
  .string()
  .nullable()
  .openapi({ description: "pass as ?cursor= for the next page; null on the last page" });

export const Participants = z
  .object({ room: z.string(), participants: z.array(ParticipantRecord), nextCursor })
  .openapi("Participants");
export const Deleted = z.object({ room: z.string(), node: z.string() }).openapi("DeletedRoom");

export const NodeView = NodeRecord.extend({ reserved: z.number() });
export const NodeList = z.object({ nodes: z.array(NodeView), nextCursor }).openapi("NodeList");

export const RegionList = z
  .object({ regions: z.array(Region), defaultRegion: z.string().nullable() })
  .openapi("RegionList");

export const JoinGrants = GrantRequest.strict();

export const JoinBody = z
  .object({
    token: AccessToken.optional().openapi({ description: "app token, if not in Authorization" }),
    room: RoomName.optional().openapi({ description: "must equal the token's video.room" }),
    identity: Identity.optional().openapi({ description: "must equal the token's sub" }),
    grants: JoinGrants.optional().openapi({ description: "narrow the token's grants (never widen)" }),
    failedNode: NodeRecord.shape.id.optional().openapi({
      description:
        "a rejoining client's hint: the node it just lost its connection to (the client library's " +
        "onReconnect hint). Never chosen as this client's signal node; when it hosts the room and missed " +
        "its report, 503 node_unavailable (retry) instead of its address. Moves no room, affects no other client.",
    }),
  })
  .strict()
  .openapi("Join");

export const JoinResponse = z
  .object({
    room: z.string(),
    identity: z.string(),
    token: z
      .string()
      .openapi({ description: "media token for the signal node (HS256, LiveKit claims + meridian{node,region})" }),
    url: z.string().openapi({
      description:
        "wss URL to connect to: the media node's own when it is in the client's region (cascade), else the signal " +
        "node nearest the client",
    }),
    node: z.string().openapi({ description: "node hosting the room (its origin; the media token names it)" }),
    region: z.string().openapi({ description: "region of the hosting node" }),
    placement: z.enum(["existing", "created", "replaced"]),
    media: z
      .object({
        node: z.string().openapi({ description: "node id" }),
        region: z.string().openapi({ description: "its region" }),
        role: z.enum(["origin", "edge"]).openapi({
          description: "origin: the hosting node itself; edge: another node serving the room, linked to the origin",
        }),
      })
      .openapi("JoinMedia", {
        description:
          "The node this participant's media should use. Cascade off (CASCADE.enabled false): the origin. On: the " +
          "origin when it is in the client's region and under participants_per_node; else the least-loaded node of " +
          "the client's region already serving the room under that budget; else a new edge there (reserved for the " +
          "room); the origin when the room already has max_nodes_per_room nodes (docs/architecture.md, Rooms across " +
          "nodes).",
      }),
  })
  .openapi("JoinResult");
