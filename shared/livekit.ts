// Meridian's room and participant records as LiveKit's protobuf messages (@livekit/protocol), so
// the Twirp RoomService and the webhooks speak exactly LiveKit's JSON (and binary) encoding. One
// mapping, used by the control plane (RoomService replies) and by media nodes (webhook bodies).
import {
  ParticipantInfo,
  ParticipantInfo_Kind,
  ParticipantInfo_State,
  ParticipantPermission,
  Room,
  TrackInfo,
  TrackSource,
  TrackType,
} from "@livekit/protocol";
import type { ParticipantRecord, PermissionUpdate, TrackRecord } from "./room-admin.ts";

/** The room fields both sides know (store.ts RoomView is a superset). */
export interface RoomFields {
  /** The record's sid (placement.ts newRoomSid); derived from name and creation time when absent. */
  sid?: string | undefined;
  name: string;
  createdAt: number;
  emptyTimeout: number;
  maxParticipants: number;
  metadata: string;
  numParticipants: number;
  numPublishers?: number;
}

/** Pure: the sid of a room whose record has none (placed before records carried one, or opened
 * standalone): derived from its name and creation time, so the Worker and the hosting node name it
 * alike: "RM_" + 12 hex digits (FNV-1a). */
export function roomSid(name: string, createdAt: number): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (const ch of `${name}\u0000${createdAt}`) {
    const c = ch.codePointAt(0)!;
    a = Math.imul(a ^ c, 0x01000193) >>> 0;
    b = Math.imul(b ^ c, 0x5bd1e995) >>> 0;
  }
  return `RM_${a.toString(16).padStart(8, "0")}${b.toString(16).padStart(8, "0").slice(0, 4)}`;
}

export function lkRoom(r: RoomFields): Room {
  return new Room({
    sid: r.sid || roomSid(r.name, r.createdAt),
    name: r.name,
    emptyTimeout: r.emptyTimeout,
    maxParticipants: r.maxParticipants,
    creationTime: BigInt(Math.floor(r.createdAt / 1000)),
    creationTimeMs: BigInt(r.createdAt),
    metadata: r.metadata,
    numParticipants: r.numParticipants,
    numPublishers: r.numPublishers ?? 0,
  });
}

const SOURCES: Record<string, TrackSource> = {
  camera: TrackSource.CAMERA,
  microphone: TrackSource.MICROPHONE,
  screen_share: TrackSource.SCREEN_SHARE,
  screen_share_audio: TrackSource.SCREEN_SHARE_AUDIO,
};
const SOURCE_NAMES = new Map(Object.entries(SOURCES).map(([k, v]) => [v, k]));

/** LiveKit source enum → Meridian/token source name ("camera"...); UNKNOWN → "unknown". */
export function sourceName(s: TrackSource): string {
  return SOURCE_NAMES.get(s) ?? "unknown";
}

const TYPES = { audio: TrackType.AUDIO, video: TrackType.VIDEO, data: TrackType.DATA } as const;

export function lkTrack(t: TrackRecord): TrackInfo {
  return new TrackInfo({
    sid: t.sid,
    type: TYPES[t.kind],
    source: SOURCES[t.source ?? ""] ?? TrackSource.UNKNOWN,
    muted: t.muted,
    mimeType: t.mimeType ?? "",
    name: t.name ?? "",
  });
}

export function lkParticipant(p: ParticipantRecord): ParticipantInfo {
  const perms = p.permissions;
  return new ParticipantInfo({
    sid: p.sid,
    identity: p.identity,
    name: p.name ?? "",
    state: ParticipantInfo_State.ACTIVE,
    kind: ParticipantInfo_Kind.STANDARD,
    metadata: p.metadata ?? "",
    attributes: p.attributes ?? {},
    joinedAt: BigInt(Math.floor(p.joinedAt / 1000)),
    joinedAtMs: BigInt(p.joinedAt),
    tracks: p.tracks.map(lkTrack),
    isPublisher: p.tracks.some((t) => t.kind !== "data"),
    ...(perms
      ? {
          permission: new ParticipantPermission({
            canPublish: perms.canPublish,
            canSubscribe: perms.canSubscribe,
            canPublishData: perms.canPublishData,
            canPublishSources: (perms.canPublishSources ?? []).map((s) => SOURCES[s] ?? TrackSource.UNKNOWN),
            hidden: perms.hidden,
          }),
        }
      : {}),
  });
}

/** LiveKit's UpdateParticipant replaces the whole permission (unset fields are false, an empty
 * source list allows every source): the same here. */
export function permissionUpdate(p: ParticipantPermission): PermissionUpdate {
  return {
    canPublish: p.canPublish,
    canSubscribe: p.canSubscribe,
    canPublishData: p.canPublishData,
    canPublishSources: p.canPublishSources
      .map(sourceName)
      .filter((s) => s !== "unknown") as PermissionUpdate["canPublishSources"],
  };
}
