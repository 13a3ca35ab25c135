// Atomic room placement in ONE Redis round trip (a Lua script, EVALSHA with EVAL fallback).
// Concurrent joins to the same new room serialize inside Redis, so a room lands on exactly one
// node; each placement reserves the node's learnt per-room cost on it (keys.nodeReserved + the
// selection index scores), and the node's reports carry that reservation forward until its
// metrics can show the room (shared/selector/reservation.ts), so a burst spreads instead of
// herding back onto nodes whose stats have not caught up. With cascade, a participant sent to an
// edge reserves its share of a room on that node the same way (includes/reserve_load.lua).
//
// The Lua (shared/redis/scripts/place_room.lua) re-implements the pick step of shared/selector
// (eligibility, soft limits, region order, sort_by, algorithm; lowest: tie → smallest id, twochoice:
// tie → first drawn); test/selector/differential.test.ts and twochoice.test.ts keep them in step.
// The region preference order is computed in TS (regionPreference) and passed in.
import { type CascadeConfig, cascadeLimits } from "./cascade.ts";
import type { NodeSelectorConfig } from "./config.ts";
import { keys } from "./keys.ts";
import { NODE_TTL_MS, REPORT_LATE_MS, STATS_FRESHNESS_MS, type NodeRecord } from "./node.ts";
import { readNodeRecord } from "./records.ts";
import type { ScriptArgs, ScriptRunner } from "./redis/runner.ts";
import { SCRIPTS } from "./redis/scripts.ts";
import { DEFAULT_ROOM_COST } from "./selector/reservation.ts";

export interface RoomSettings {
  /** Seconds an empty room lives before the hosting node closes it. */
  emptyTimeout: number;
  /** 0 = unlimited. */
  maxParticipants: number;
  metadata: string;
}

export const DEFAULT_ROOM_SETTINGS: RoomSettings = { emptyTimeout: 300, maxParticipants: 0, metadata: "" };

/** A placed room is swept if its node has not opened it by its emptyTimeout, but never sooner than
 * this: the joining client needs time to connect (and a node out of Redis, to re-claim it). */
export const MIN_OPEN_WAIT_MS = 60_000;

export interface PlaceRequest {
  room: string;
  /** join: use the existing mapping or (autoCreate) place; create: place or report "exists". */
  mode: "join" | "create";
  autoCreate: boolean;
  config: NodeSelectorConfig;
  /** regionPreference(config.regions, reference point). */
  regionOrder: readonly string[];
  settings?: RoomSettings;
  /** Also return the signal node for a client in regionOrder[0] (join). */
  wantSignal?: boolean;
  now?: number;
  /** API key creating the room (counted against roomQuota); absent: no quota. */
  apiKey?: string;
  /** Most rooms one API key may have (0 or absent = no limit). */
  roomQuota?: number;
  /** The new room's sid (default: a fresh one, newRoomSid()). */
  sid?: string;
  /** Seed for random sort/twochoice (defaults to a fresh random seed). */
  seed?: number;
  /** Rooms span nodes (enabled): also name the node the client's media should use, in its region
   * regionOrder[0..] (join). */
  cascade?: CascadeConfig;
  /** The node a rejoining client just lost (POST /v1/join failedNode): never its signal node. */
  failedNode?: string;
  /** The joining client (cascade): a client joining again is sent to the node it was counted on,
   * and counted (and reserves load) nowhere again. Absent: every join counts. */
  identity?: string;
}

export type Placement = "existing" | "created" | "replaced";

/** The node a joining client's media should use (cascade): the origin or an edge of the room. */
export interface MediaPlacement {
  node: NodeRecord;
  role: "origin" | "edge";
  /** In the client's region: the client connects straight to it (its signalUrl). */
  direct: boolean;
}

export type PlaceResult =
  | {
      status: "ok";
      placement: Placement;
      node: NodeRecord;
      signalNode: NodeRecord | undefined;
      roomSid: string;
      /** Undefined unless the request asked (cascade enabled). */
      media: MediaPlacement | undefined;
    }
  /** The API key already has `limit` rooms. */
  | { status: "quota"; limit: number }
  | { status: "exists"; nodeId: string }
  | { status: "not_found" }
  | { status: "no_nodes" }
  /** The registry restarted empty moments ago and the room is unmapped: retry after retryAfterMs. */
  | { status: "warming"; retryAfterMs: number }
  /** The request's failed node hosts the room and missed a report: retry after retryAfterMs (at
   * most until its record expires and the room moves). */
  | { status: "host_late"; retryAfterMs: number };

const PLACEMENTS: readonly Placement[] = ["existing", "created", "replaced"];

/** A room's sid (LiveKit's "RM_" prefix): identifies one incarnation of a room name, so a token
 * minted for a room that was deleted is refused by the room re-created under the same name. */
export function newRoomSid(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(9));
  return `RM_${btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")}`;
}

export function placeArgs(req: PlaceRequest): { keys: string[]; args: ScriptArgs } {
  const s = req.settings ?? DEFAULT_ROOM_SETTINGS;
  const c = req.config;
  return {
    keys: [
      keys.room(req.room),
      keys.rooms(),
      keys.roomParticipants(req.room),
      keys.unclaimedRooms(),
      keys.registryWarming(),
      keys.apiKeyRooms(req.apiKey ?? ""),
      keys.roomNodes(req.room),
    ],
    args: {
      now: req.now ?? Date.now(),
      freshness_ms: STATS_FRESHNESS_MS,
      room: req.room,
      mode: req.mode,
      auto_create: req.autoCreate,
      kind: c.kind,
      sort_by: c.sort_by,
      algorithm: c.algorithm,
      sysload_limit: c.sysload_limit,
      cpu_load_limit: c.cpu_load_limit,
      seed: req.seed ?? Math.floor(Math.random() * 2 ** 31),
      reservation_ttl_ms: NODE_TTL_MS,
      empty_timeout: s.emptyTimeout,
      max_participants: s.maxParticipants,
      metadata: s.metadata,
      default_empty_timeout: DEFAULT_ROOM_SETTINGS.emptyTimeout,
      min_open_wait_ms: MIN_OPEN_WAIT_MS,
      default_cost: DEFAULT_ROOM_COST,
      want_signal: req.wantSignal ?? false,
      regions: req.regionOrder,
      sid: req.sid ?? newRoomSid(),
      api_key: req.apiKey ?? "",
      room_quota: req.roomQuota ?? 0,
      cascade: req.cascade?.enabled ? cascadeLimits(req.cascade) : false,
      failed_node: req.failedNode ?? "",
      identity: req.identity ?? "",
      late_ms: REPORT_LATE_MS,
      node_ttl_ms: NODE_TTL_MS,
    },
  };
}

/** Places (or finds) a room: one script call, atomic. */
export async function placeRoom(redis: ScriptRunner, req: PlaceRequest): Promise<PlaceResult> {
  const { keys: k, args } = placeArgs(req);
  const r = (await redis.run(SCRIPTS.place_room, k, args)) as unknown[];
  switch (r[0]) {
    case "ok": {
      const node = readNodeRecord(r[2]);
      if (!node) return { status: "no_nodes" };
      const media = r[5] ? readNodeRecord(r[5]) : undefined;
      return {
        status: "ok",
        placement: PLACEMENTS[Number(r[1])] ?? "existing",
        node,
        signalNode: r[3] ? readNodeRecord(r[3]) : undefined,
        roomSid: String(r[4]),
        media: media && { node: media, role: media.id === node.id ? "origin" : "edge", direct: Boolean(r[6]) },
      };
    }
    case "quota":
      return { status: "quota", limit: Number(r[1]) };
    case "exists":
      return { status: "exists", nodeId: String(r[1]) };
    case "not_found":
      return { status: "not_found" };
    case "no_nodes":
      return { status: "no_nodes" };
    case "warming":
      return { status: "warming", retryAfterMs: Number(r[1]) };
    case "host_late":
      return { status: "host_late", retryAfterMs: Math.max(0, Number(r[1])) };
    default:
      throw new Error(`place_room returned ${JSON.stringify(r)}`);
  }
}
