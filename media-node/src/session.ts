// The seam between a signaling connection and the room it talks to. A connection authenticates,
// then opens a RoomSession and sends it every request; it never touches rooms directly. Today the
// only implementation is local (the room is on this node); the Redis signaling bridge adds a
// remote one that relays the same requests to the hosting node.
import type { Request, Responses } from "../../shared/protocol.ts";
import type { ParticipantSink, Permissions } from "./participant.ts";

export interface JoinParams {
  room: string;
  identity: string;
  name: string | undefined;
  permissions: Permissions;
  /** Node the token names as the room's host (absent in standalone mode). */
  hostNode: string | undefined;
}

export interface RoomSession {
  readonly joined: Responses["join"];
  /** Every request after join, validated; resolves with the response body. */
  request(req: Exclude<Request, { method: "join" | "leave" }>): Promise<unknown>;
  /** Leaves the room (idempotent): the socket closed or the client sent `leave`. */
  leave(): void;
}

export interface RoomSessionFactory {
  open(params: JoinParams, sink: ParticipantSink): Promise<RoomSession>;
}
