// The records kept in Redis (layout: keys.ts), one schema and one reader each. Writers are the
// Lua scripts (shared/redis/scripts) and the hosting node; every TypeScript read goes through the
// reader here, which answers undefined for a record it cannot read (never a throw, never a 500).
//   room:<name>               HASH    RoomRecord (place_room writes it all, claim_room what it knows)
//   room:<name>:participants  HASH    identity -> JSON ParticipantRecord (the hosting node)
//   node:<id>                 STRING  JSON NodeRecord (node.ts; report_node)
//   room:<name>:nodes         HASH    node id -> JSON RoomNodeEntry (cascade_room.lua; a reservation:
//                                     place_room.lua)
import { z } from "zod";
import { MAX_NODES_PER_ROOM } from "./cascade.ts";
import { NodeRecord } from "./node.ts";

/** A non-negative safe integer written as decimal text (hash fields are strings). */
const Count = z
  .string()
  .regex(/^\d{1,16}$/)
  .transform(Number)
  .refine(Number.isSafeInteger);
/** A field whose absence or junk means "unknown" (the reader's caller applies its default). */
const OptionalCount = Count.optional().catch(undefined);

export const RoomRecord = z.object({
  /** Both writers write it; a hash without it (written by hand) still names its owner. */
  name: z.string().min(1).optional(),
  /** The hosting node. */
  node: z.string().min(1),
  region: z.string().default(""),
  /** Which incarnation of the name this is (LiveKit's room sid): placement gives each its own. */
  sid: z.string().min(1).optional().catch(undefined),
  /** ms since epoch. */
  createdAt: OptionalCount,
  /** Seconds (LiveKit's "close if nobody joins"; the sweeper enforces it, rooms:unclaimed). */
  emptyTimeout: OptionalCount,
  /** 0 = unlimited. */
  maxParticipants: OptionalCount,
  metadata: z.string().optional().catch(undefined),
});
export type RoomRecord = z.infer<typeof RoomRecord>;

/** The settings part of a room's record. */
export type StoredRoomSettings = Partial<
  Pick<RoomRecord, "maxParticipants" | "emptyTimeout" | "metadata" | "createdAt">
>;

/** HGETALL of the room hash (ioredis: an object; a script's reply: a flat [field, value, ...]
 * list) → the record; undefined when there is none or it cannot be read. */
export function readRoomRecord(hash: unknown): RoomRecord | undefined {
  let h: unknown = hash;
  if (Array.isArray(hash)) {
    const o: Record<string, string> = {};
    for (let i = 0; i + 1 < hash.length; i += 2) o[String(hash[i])] = String(hash[i + 1]);
    h = o;
  }
  const r = RoomRecord.safeParse(h);
  return r.success ? r.data : undefined;
}

/** The settings fields of a record, without the absent ones. */
export function roomSettingsOf(r: RoomRecord | undefined): StoredRoomSettings {
  if (!r) return {};
  const s: StoredRoomSettings = {};
  if (r.maxParticipants !== undefined) s.maxParticipants = r.maxParticipants;
  if (r.emptyTimeout !== undefined) s.emptyTimeout = r.emptyTimeout;
  if (r.metadata !== undefined) s.metadata = r.metadata;
  if (r.createdAt !== undefined) s.createdAt = r.createdAt;
  return s;
}

/** A participant's permissions as the node enforces them (LiveKit's ParticipantPermission subset). */
export const PermissionsRecord = z.object({
  canPublish: z.boolean(),
  canSubscribe: z.boolean(),
  canPublishData: z.boolean(),
  /** Absent = every source (LiveKit source names). */
  canPublishSources: z.array(z.string()).max(8).optional(),
  hidden: z.boolean(),
});

export const TrackRecord = z.object({
  sid: z.string(),
  kind: z.enum(["audio", "video", "data"]),
  source: z.string().optional(),
  muted: z.boolean(),
  mimeType: z.string().optional(),
  /** A data track's label. */
  name: z.string().optional(),
});
export type TrackRecord = z.infer<typeof TrackRecord>;

/** The participant as its hosting node describes it: in Redis, in RoomService replies (room-admin.ts)
 * and in webhooks (livekit.ts). */
export const ParticipantRecord = z.object({
  identity: z.string(),
  name: z.string().optional(),
  sid: z.string(),
  joinedAt: z.number(),
  /** Node the participant's signaling connection is on (may differ from the hosting node). */
  signalNode: z.string(),
  metadata: z.string().optional(),
  attributes: z.record(z.string(), z.string()).optional(),
  permissions: PermissionsRecord.optional(),
  tracks: z.array(TrackRecord),
});
export type ParticipantRecord = z.infer<typeof ParticipantRecord>;

function parseJson<T>(schema: z.ZodType<T>, text: unknown): T | undefined {
  try {
    const r = schema.safeParse(JSON.parse(String(text)));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

/** One participant's stored JSON → the record; undefined when it cannot be read. */
export function readParticipantRecord(json: unknown): ParticipantRecord | undefined {
  return parseJson(ParticipantRecord, json);
}

/** A node's stored JSON → the record; undefined when it cannot be read (such a node is neither
 * listed nor selected). */
export function readNodeRecord(json: unknown): NodeRecord | undefined {
  return parseJson(NodeRecord, json);
}

/** A node serving a room that spans nodes (cascade), as it wrote itself into room:<name>:nodes, or
 * the control plane's reservation of it (includes/cascade_serving.lua). Fields added later are
 * ignored here; the pipe figures are absent until the node first reports them. */
export const RoomNodeEntry = z.object({
  region: z.string().max(64),
  participants: z.number().int().min(0).max(1_000_000),
  /** Pipe transports of this node for the room (one per linked node: the origin has one per edge). */
  pipes: z.number().int().min(0).max(MAX_NODES_PER_ROOM).optional().catch(undefined),
  /** Tracks produced on this node from another node over those pipes. */
  pipedIn: z.number().int().min(0).max(1_000_000).optional().catch(undefined),
  /** ms: place_room named the node for a join it has not served yet (it has no pipes then). */
  reserved: z.number().optional().catch(undefined),
});
export type RoomNodeEntry = z.infer<typeof RoomNodeEntry> & { node: string };

/** A script's flat { node id, entry JSON, ... } list (includes/room_nodes.lua) → the entries it can
 * read, at most MAX_NODES_PER_ROOM, by node id; one that does not decode is left out. */
export function readRoomNodes(flat: unknown): RoomNodeEntry[] {
  const out: RoomNodeEntry[] = [];
  if (!Array.isArray(flat)) return out;
  for (let i = 0; i + 1 < flat.length && out.length < MAX_NODES_PER_ROOM; i += 2) {
    const node = String(flat[i]);
    const e = node.length > 0 && node.length <= 128 ? parseJson(RoomNodeEntry, flat[i + 1]) : undefined;
    if (e) out.push({ node, ...e });
  }
  return out.sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
}
