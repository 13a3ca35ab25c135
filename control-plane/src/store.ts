// Redis reads and the room deletion of the API, each one script (one round trip). Placement
// itself lives in shared/placement.ts.
import type { NodeBusMessage } from "#shared/bus.ts";
import { keys } from "#shared/keys.ts";
import type { NodeRecord } from "#shared/node.ts";
import {
  readNodeRecord,
  readParticipantRecord,
  readRoomNodes,
  readRoomRecord,
  type ParticipantRecord,
  type RoomNodeEntry,
} from "#shared/records.ts";
import type { ScriptRunner } from "#shared/redis/runner.ts";
import { SCRIPTS } from "#shared/redis/scripts.ts";
import { conflict } from "./errors.ts";

export interface RoomView {
  /** placement.ts newRoomSid (absent on records from before sids). */
  sid?: string;
  name: string;
  node: string;
  region: string;
  createdAt: number;
  emptyTimeout: number;
  maxParticipants: number;
  metadata: string;
  numParticipants: number;
  /** Participants by the node their signaling connection is on (the hosting node itself, or the
   * signal node a bridged join came through), ordered by node id. */
  signalNodes: { node: string; participants: number }[];
  /** The nodes serving the room's media (cascade: room:<name>:nodes), the origin first; one entry
   * (the origin) or none for a room on one node. */
  mediaNodes: MediaNodeView[];
}

export interface MediaNodeView extends Omit<RoomNodeEntry, "reserved"> {
  /** origin: the room's `node`; edge: another node serving the room's participants. */
  role: "origin" | "edge";
  /** The control plane named the node for a join it has not served yet. */
  reserved?: true;
}

export interface NodeView extends NodeRecord {
  /** Placements onto the node since its last report. */
  reserved: number;
}

/** get_room/list_rooms' flat {node, count, …} list (signal_nodes.lua) → entries by node id. */
function signalNodes(flat: unknown): RoomView["signalNodes"] {
  const out: RoomView["signalNodes"] = [];
  if (!Array.isArray(flat)) return out;
  for (let i = 0; i + 1 < flat.length; i += 2)
    out.push({ node: String(flat[i]), participants: Number(flat[i + 1]) || 0 });
  return out.sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
}

/** The serving nodes' entries, each with its role; the origin first, then the edges by id. */
function mediaNodes(origin: string, flat: unknown): MediaNodeView[] {
  const entries = readRoomNodes(flat).map(
    ({ reserved, ...e }): MediaNodeView => ({
      ...e,
      role: e.node === origin ? "origin" : "edge",
      ...(reserved === undefined ? {} : { reserved: true }),
    }),
  );
  return [...entries.filter((e) => e.role === "origin"), ...entries.filter((e) => e.role === "edge")];
}

function roomView(
  flat: unknown,
  numParticipants: unknown,
  bySignalNode: unknown,
  serving: unknown,
): RoomView | undefined {
  const r = readRoomRecord(flat);
  if (!r?.name) return undefined;
  return {
    ...(r.sid ? { sid: r.sid } : {}),
    name: r.name,
    node: r.node,
    region: r.region,
    createdAt: r.createdAt ?? 0,
    emptyTimeout: r.emptyTimeout ?? 0,
    maxParticipants: r.maxParticipants ?? 0,
    metadata: r.metadata ?? "",
    numParticipants: Number(numParticipants ?? 0),
    signalNodes: signalNodes(bySignalNode),
    mediaNodes: mediaNodes(r.node, serving),
  };
}

export async function getRoom(redis: ScriptRunner, name: string): Promise<RoomView | undefined> {
  const [flat, n, by, serving] = (await redis.run(SCRIPTS.get_room, [
    keys.room(name),
    keys.roomParticipants(name),
    keys.roomNodes(name),
  ])) as unknown[];
  return roomView(flat, n, by, serving);
}

/** Most bytes of room records one page of GET /v1/rooms holds (a page has at least one room). */
export const LIST_PAGE_MAX_BYTES = 1024 * 1024;

/** Where a page of rooms ends: the last room's createdAt and name (keys.ts `rooms` order). */
export interface RoomCursor {
  createdAt: number;
  name: string;
}

/** One page of rooms, oldest first, after `after` (exclusive); `next` is the cursor of the
 * following page, undefined on the last one. */
export async function listRooms(
  redis: ScriptRunner,
  limit: number,
  after?: RoomCursor,
  maxBytes = LIST_PAGE_MAX_BYTES,
): Promise<{ rooms: RoomView[]; next: RoomCursor | undefined }> {
  const [rows, more] = (await redis.run(SCRIPTS.list_rooms, [keys.rooms()], {
    limit,
    max_bytes: maxBytes,
    ...(after ? { after_score: after.createdAt, after_name: after.name } : {}),
  })) as [unknown[][], number];
  const rooms = rows
    .map(([flat, n, by, , , serving]) => roomView(flat, n, by, serving))
    .filter((r): r is RoomView => r !== undefined);
  const last = rows[rows.length - 1];
  // the zset's score and member (not the record's fields: a room may be listed without a record)
  return { rooms, next: more === 1 && last ? { createdAt: Number(last[3]), name: String(last[4]) } : undefined };
}

/** Participant records and nodes per page (a SCAN COUNT hint: a page holds about this many). */
export const SCAN_PAGE = 200;

/** A page of a SCAN-paged listing: `next` is the cursor of the following page, undefined on the last. */
export interface ScanPage<T> {
  items: T[];
  next: string | undefined;
}

/** undefined = no such room. Participant records are written by the hosting node. */
export async function listParticipants(
  redis: ScriptRunner,
  room: string,
  cursor = "0",
): Promise<ScanPage<ParticipantRecord> | undefined> {
  const r = await redis.run(SCRIPTS.list_participants, [keys.room(room), keys.roomParticipants(room)], {
    cursor,
    count: SCAN_PAGE,
  });
  if (!Array.isArray(r)) return undefined;
  const [next, values] = r as [unknown, unknown[]];
  const items = values.flatMap((v) => readParticipantRecord(v) ?? []); // a record we cannot read is not listed
  return { items, next: String(next) === "0" ? undefined : String(next) };
}

/** undefined = no such room; { participant: undefined } = no such participant. */
export async function getParticipant(
  redis: ScriptRunner,
  room: string,
  identity: string,
): Promise<{ participant: ParticipantRecord | undefined } | undefined> {
  const r = await redis.run(SCRIPTS.get_participant, [keys.room(room), keys.roomParticipants(room)], { identity });
  if (!Array.isArray(r)) return undefined;
  return { participant: r[0] ? readParticipantRecord(r[0]) : undefined };
}

/** Stores the room's metadata (a node opening the room later reads it); undefined = no such room. */
export async function setRoomMetadata(
  redis: ScriptRunner,
  room: string,
  metadata: string,
): Promise<RoomView | undefined> {
  const r = await redis.run(
    SCRIPTS.set_room_metadata,
    [keys.room(room), keys.roomParticipants(room), keys.roomNodes(room)],
    { metadata },
  );
  return Array.isArray(r) ? roomView(r[0], r[1], r[2], r[3]) : undefined;
}

export async function listNodes(redis: ScriptRunner, cursor = "0", now = Date.now()): Promise<ScanPage<NodeView>> {
  const [next, rows] = (await redis.run(SCRIPTS.list_nodes, [], { now, cursor, count: SCAN_PAGE })) as [
    unknown,
    unknown[][],
  ];
  const items = rows.flatMap(([json, reserved]) => {
    const node = readNodeRecord(json);
    return node ? [{ ...node, reserved: Number(reserved) || 0 }] : []; // unreadable: not listed (and never selected)
  });
  return { items, next: String(next) === "0" ? undefined : String(next) };
}

/** Seals a bus message for a channel (shared/bus.ts busSigner). */
export type BusSeal = (channel: string, payload: string) => Promise<string>;

/** Removes the room's record and mapping and tells every node serving it (bus message room.delete,
 * sealed for each node's channel) to close it. Returns the hosting node, or undefined if there was
 * no such room. The first call learns the serving nodes; a room whose nodes keep changing
 * meanwhile gives up (409). */
export async function deleteRoom(redis: ScriptRunner, room: string, seal: BusSeal): Promise<string | undefined> {
  const payload = JSON.stringify({ type: "room.delete", room } satisfies NodeBusMessage);
  const messages: Record<string, string> = {};
  for (let attempt = 0; attempt < 3; attempt++) {
    const r = await redis.run(
      SCRIPTS.delete_room,
      [keys.room(room), keys.rooms(), keys.roomParticipants(room), keys.unclaimedRooms()],
      { room, messages },
    );
    if (typeof r === "string") return r;
    if (!Array.isArray(r)) return undefined;
    for (const node of r)
      if (typeof node === "string" && !(node in messages)) messages[node] = await seal(keys.nodeBus(node), payload);
  }
  throw conflict(`room ${room} changed nodes while being deleted; try again`);
}
