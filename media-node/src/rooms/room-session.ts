// The seam between a signaling connection and the room it talks to. A connection authenticates,
// then opens a RoomSession and sends it every request; it never touches rooms directly. Rooms are
// always local to the node that opens the session: a participant whose room is elsewhere is
// relayed frame by frame to the hosting node (signaling/signaling-server.ts), which opens the session there.
import type { Request, Responses } from "#shared/protocol.ts";
import type { Permissions } from "#shared/grants.ts";
import type { RoomRecord } from "#shared/records.ts";
import type { ParticipantSink } from "./participant.ts";

export interface JoinParams {
  room: string;
  identity: string;
  name: string | undefined;
  metadata?: string | undefined;
  attributes?: Record<string, string> | undefined;
  permissions: Permissions;
  /** Node the token names as the room's host (absent in standalone mode). */
  hostNode: string | undefined;
  /** Room sid the token names (meridian.roomSid): the room must still be that incarnation. */
  roomSid: string | undefined;
  /** Node holding the client's signaling connection (this node, or the one bridging it). */
  signalNode: string;
}

export interface RoomSession {
  readonly joined: Responses["join"];
  /** Every request after join, validated; resolves with the response body. */
  request(req: Exclude<Request, { method: "join" | "leave" | "resume" }>): Promise<unknown>;
  /** The participant as it is now, and fresh TURN credentials (a resumed session's response). */
  current(): Pick<Responses["join"], "participant" | "iceServers">;
  /** Leaves the room (idempotent): the socket closed or the client sent `leave`. */
  leave(): void;
}

/** What check() learnt of a room: its record, read once per join (owner and settings). */
export interface Admission {
  readonly params: Pick<JoinParams, "room" | "hostNode" | "roomSid">;
  readonly record: RoomRecord | undefined;
}

export interface RoomSessionFactory {
  /** Throws ProtocolError WrongNode (another node owns the room) or Draining (no new rooms here). */
  check(params: JoinParams): Promise<Admission>;
  /** Checks first, unless given check()'s admission for the same room and host claim (a bridged
   * session is checked when it opens; its join then needs no second check). */
  open(params: JoinParams, sink: ParticipantSink, admission?: Admission): Promise<RoomSession>;
  /** The node that should serve this participant's media (its host, or with cascade possibly
   * this node or another of its region); absent: the host named by the token. */
  mediaNode?(params: JoinParams): Promise<string>;
}
