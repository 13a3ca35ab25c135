// Operations on a live room (LiveKit's RoomService moderation calls), as the control plane sends
// them to the room's hosting node over its bus (keys.nodeBus) and as the node answers them (a
// reply pushed to keys.rpcReply(id), read with BLPOP by the Worker). Also the participant record
// the node writes to Redis and returns in replies: one shape for listings, replies and webhooks.
// Participant limits are LiveKit's defaults (config `limit:` max_metadata_size 64000,
// max_attributes_size 64000, max_participant_name_length 256); room metadata is limits.ts'
// ROOM_METADATA_MAX as for CreateRoom; the data limit is Meridian's (one SCTP message).
import { z } from "zod";
import { ErrorCode } from "./errors.ts";
import { Identity, ROOM_METADATA_MAX, RoomName } from "./limits.ts";
import { ParticipantRecord, TrackRecord } from "./records.ts";

export { ParticipantRecord, TrackRecord };

export const ROOM_LIMITS = {
  metadataBytes: 64_000,
  attributesBytes: 64_000,
  nameChars: 256,
  /** SendData payload, bytes (decoded). */
  dataBytes: 60 * 1024,
  topicChars: 256,
  destinations: 256,
  trackSids: 64,
} as const;

const utf8Bytes = (s: string) => new TextEncoder().encode(s).length;
const Metadata = z
  .string()
  .refine((s) => utf8Bytes(s) <= ROOM_LIMITS.metadataBytes, `metadata larger than ${ROOM_LIMITS.metadataBytes} bytes`);
const Attributes = z
  .record(z.string().max(256), z.string())
  .refine(
    (a) => utf8Bytes(JSON.stringify(a)) <= ROOM_LIMITS.attributesBytes,
    `attributes larger than ${ROOM_LIMITS.attributesBytes} bytes`,
  );

export const TrackSourceName = z.enum(["camera", "microphone", "screen_share", "screen_share_audio", "unknown"]);

/** Permission fields an update may set (absent = unchanged). */
export const PermissionUpdate = z.object({
  canPublish: z.boolean().optional(),
  canSubscribe: z.boolean().optional(),
  canPublishData: z.boolean().optional(),
  canPublishSources: z.array(TrackSourceName).max(8).optional(),
});
export type PermissionUpdate = z.infer<typeof PermissionUpdate>;

export const RoomOp = z.discriminatedUnion("op", [
  z.object({ op: z.literal("removeParticipant"), identity: Identity }),
  z.object({
    op: z.literal("mutePublishedTrack"),
    identity: Identity,
    trackSid: z.string().min(1).max(128),
    muted: z.boolean(),
  }),
  z.object({
    op: z.literal("updateParticipant"),
    identity: Identity,
    name: z.string().max(ROOM_LIMITS.nameChars).optional(),
    metadata: Metadata.optional(),
    /** Merged into the current attributes; an empty value deletes the key (LiveKit). */
    attributes: Attributes.optional(),
    permission: PermissionUpdate.optional(),
  }),
  z.object({
    op: z.literal("updateSubscriptions"),
    identity: Identity,
    trackSids: z.array(z.string().min(1).max(128)).max(ROOM_LIMITS.trackSids),
    subscribe: z.boolean(),
  }),
  z.object({
    op: z.literal("sendData"),
    /** Standard base64. */
    data: z
      .base64()
      .refine(
        (s) => (s.length / 4) * 3 <= ROOM_LIMITS.dataBytes + 2,
        `data larger than ${ROOM_LIMITS.dataBytes} bytes`,
      ),
    topic: z.string().max(ROOM_LIMITS.topicChars).optional(),
    /** Empty or absent: everyone in the room. */
    destinationIdentities: z.array(Identity).max(ROOM_LIMITS.destinations).optional(),
  }),
  z.object({ op: z.literal("updateRoomMetadata"), metadata: z.string().max(ROOM_METADATA_MAX) }),
]);
export type RoomOp = z.infer<typeof RoomOp>;
export type RoomOpName = RoomOp["op"];

/** Bus message control plane → hosting node (sealed by shared/bus.ts like every bus message; the
 * node accepts it only from CONTROL_PLANE). `deadline` (ms since epoch): the caller has given up
 * after it, so a node that finds the request late drops it instead of applying it. */
export const RoomRpcMessage = z.object({
  type: z.literal("room.rpc"),
  id: z.uuid(),
  room: RoomName,
  deadline: z.number().int().positive(),
  op: RoomOp,
});
export type RoomRpcMessage = z.infer<typeof RoomRpcMessage>;

export const RoomRpcReply = z.union([
  z.object({ ok: z.literal(true), participant: ParticipantRecord.optional(), track: TrackRecord.optional() }),
  z.object({
    ok: z.literal(false),
    code: z.enum(Object.values(ErrorCode) as [ErrorCode, ...ErrorCode[]]),
    message: z.string().max(1024),
  }),
]);
export type RoomRpcReply = z.infer<typeof RoomRpcReply>;

/** How long a reply waits in Redis for its reader (the Worker gave up long before). */
export const RPC_REPLY_TTL_MS = 30_000;
