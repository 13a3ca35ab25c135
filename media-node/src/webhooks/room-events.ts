// The room events LiveKit sends as webhooks, observed where they happen (the hosting node's rooms):
// room_started, room_finished, participant_joined, participant_left, track_published,
// track_unpublished. Each is a WebhookEvent with a unique id (EV_…) a receiver can dedupe on.
import { randomBytes } from "node:crypto";
import { WebhookEvent } from "@livekit/protocol";
import { lkParticipant, lkRoom, lkTrack } from "#shared/livekit.ts";
import type { ParticipantRecord, TrackRecord } from "#shared/room-admin.ts";
import type { Room, RoomObserver } from "../rooms/room.ts";
import type { WebhookNotifier } from "./notifier.ts";

export const eventId = (): string => `EV_${randomBytes(9).toString("base64url")}`;

function event(
  name: string,
  room: Room,
  extra: { participant?: ParticipantRecord; track?: TrackRecord } = {},
): WebhookEvent {
  return new WebhookEvent({
    event: name,
    id: eventId(),
    createdAt: BigInt(Math.floor(Date.now() / 1000)),
    room: lkRoom(room.fields()),
    ...(extra.participant ? { participant: lkParticipant(extra.participant) } : {}),
    ...(extra.track ? { track: lkTrack(extra.track) } : {}),
  });
}

/** `base` (the registry, or nothing standalone) plus the webhook events, sent through `notifier`. */
export function withWebhooks(base: RoomObserver, notifier: WebhookNotifier): RoomObserver {
  const send = (room: Room, e: WebhookEvent) => notifier.send(room.name, e);
  return {
    roomOpened: (room) => base.roomOpened(room),
    roomClosed: (room) => base.roomClosed(room),
    participantUpdated: (room, p) => base.participantUpdated(room, p),
    participantLeft: (room, identity, sid) => base.participantLeft(room, identity, sid),
    roomStarted: (room) => send(room, event("room_started", room)),
    roomFinished: (room) => send(room, event("room_finished", room)),
    participantJoined: (room, participant) => send(room, event("participant_joined", room, { participant })),
    participantDeparted: (room, participant) => send(room, event("participant_left", room, { participant })),
    trackPublished: (room, participant, track) => send(room, event("track_published", room, { participant, track })),
    trackUnpublished: (room, participant, track) =>
      send(room, event("track_unpublished", room, { participant, track })),
  };
}
