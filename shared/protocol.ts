// The signaling protocol between a client (media-node/client) and a media node, versioned and
// zod-validated on both ends. Transport: one WebSocket per participant, JSON text frames.
//
//   client → node  request       {v, id, method, data}
//   node → client  response      {v, id, ok: true, data} | {v, id, ok: false, error: {code, message}}
//   node → client  notification  {v, notification, data}
//
// mediasoup parameter objects (RTP/DTLS/SCTP) are checked here for shape only; mediasoup validates
// their content itself and the node turns its TypeErrors into `bad_request` replies.
import { z } from "zod";
import { ErrorCode } from "./errors.ts";
import { AccessToken, RoomName } from "./limits.ts";

export const PROTOCOL_VERSION = 1;

/** Largest message the node parses; bigger ones get a `bad_request` reply (socket survives). */
export const MAX_MESSAGE_BYTES = 64 * 1024;
/** Largest WebSocket frame accepted at all; beyond it ws closes the socket (1009). */
export const MAX_FRAME_BYTES = 1024 * 1024;

/** WebSocket close codes (4000–4999 are the application's; the last three digits echo HTTP). */
export const CloseCode = {
  Normal: 1000,
  ProtocolError: 4400,
  Unauthorized: 4401,
  Forbidden: 4403,
  AuthTimeout: 4408,
  DuplicateIdentity: 4409,
  RoomClosed: 4410,
  /** `resume` refused: the node no longer has that session (grace period over, unknown or forged
   * token). Join again (a full rejoin). */
  ResumeFailed: 4404,
  /** The session was resumed on another connection: this one is stale (the client already moved). */
  Resumed: 4412,
  /** The session reached the node's max_session_age_ms: rejoin through the control plane. */
  SessionExpired: 4440,
  /** Removed by the server (RoomService RemoveParticipant); a `disconnected` notification precedes it. */
  Removed: 4411,
  WrongNode: 4421,
  /** Too many frames that were rate-limited or not valid requests (a flood): the node stopped
   *  answering them and closed the socket. Not a reason to rejoin. */
  TooManyMessages: 4429,
  /** The node had more than its per-socket bound queued for a client that does not read. */
  SendBufferFull: 4507,
  Draining: 4503,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** Close codes of a bridged signaling session (media-node/src/bridge), in the WebSocket
 * application range so the signal node forwards them to the client's socket unchanged.
 * 4100-4199 is the bridge's block; CloseCode above owns the rest of 4000-4999. Clients switch on
 * the code, never on the reason text. */
export const BridgeCloseCode = {
  /** Orderly close by either side (WebSocket "normal closure"). */
  Normal: 1000,
  /** The peer node stopped answering (died, partitioned) for longer than peerTimeoutMs. */
  PeerTimeout: 4100,
  /** The hosting node never answered the session open within openTimeoutMs. */
  OpenTimeout: 4101,
  /** The send queue exceeded its frame or byte bound: the peer is not draining it. */
  Overflow: 4102,
  /** A frame exceeded maxFrameBytes. */
  MessageTooBig: 4103,
  /** The peer has no such session (it restarted or already dropped it). */
  SessionUnknown: 4104,
  /** Refused by the hosting node: it does not host the room (the mapping moved). */
  WrongNode: 4105,
  /** Refused or closed by the hosting node because it is draining. */
  Draining: 4106,
  /** Refused by the hosting node for another reason (bad token, handler failure, no handler). */
  Refused: 4107,
  /** The local or remote bridge endpoint shut down. */
  EndpointClosed: 4108,
  /** This node could not reach Redis for longer than the outage grace period. */
  RedisUnavailable: 4109,
  /** The peer violated the bridge protocol. */
  ProtocolError: 4110,
} as const;
export type BridgeCloseCode = (typeof BridgeCloseCode)[keyof typeof BridgeCloseCode];

/** The client should rejoin through the control plane: its session is gone but the room may live on. */
export function shouldReconnect(code: number): boolean {
  switch (code) {
    case BridgeCloseCode.PeerTimeout:
    case BridgeCloseCode.OpenTimeout:
    case BridgeCloseCode.SessionUnknown:
    case BridgeCloseCode.WrongNode:
    case BridgeCloseCode.Draining:
    case BridgeCloseCode.EndpointClosed:
    case BridgeCloseCode.RedisUnavailable:
    case BridgeCloseCode.ProtocolError:
      return true;
    default:
      return false;
  }
}

const Id = z.string().min(1).max(128);
const Loose = z.looseObject({});

export const DtlsParameters = z.looseObject({
  role: z.enum(["auto", "client", "server"]).optional(),
  fingerprints: z
    .array(
      z.object({
        algorithm: z.enum(["sha-1", "sha-224", "sha-256", "sha-384", "sha-512"]),
        value: z.string().max(256),
      }),
    )
    .min(1)
    .max(8),
});

export const RtpCodec = z.looseObject({
  mimeType: z.string().min(1).max(64),
  clockRate: z.number().int().positive(),
});

export const RtpParameters = z.looseObject({
  mid: z.string().max(32).optional(),
  codecs: z
    .array(RtpCodec.extend({ payloadType: z.number().int().min(0).max(127) }))
    .min(1)
    .max(32),
  encodings: z.array(Loose).max(8).optional(),
  headerExtensions: z.array(Loose).max(32).optional(),
  rtcp: Loose.optional(),
});

export const RtpCapabilities = z.looseObject({
  codecs: z
    .array(RtpCodec.extend({ kind: z.enum(["audio", "video"]) }))
    .max(128)
    .optional(),
  headerExtensions: z.array(Loose).max(64).optional(),
});

export const NumSctpStreams = z.object({
  OS: z.number().int().min(1).max(65535),
  MIS: z.number().int().min(1).max(65535),
});

export const SctpStreamParameters = z.looseObject({
  streamId: z.number().int().min(0).max(65534),
  ordered: z.boolean().optional(),
  maxPacketLifeTime: z.number().int().nonnegative().optional(),
  maxRetransmits: z.number().int().nonnegative().optional(),
});

/** Simulcast bounds: camera video has up to 3 spatial layers, each with up to 3 temporal layers. */
export const MAX_SPATIAL_LAYERS = 3;
export const MAX_TEMPORAL_LAYERS = 3;
export const VideoLayer = z.object({
  width: z.number().int().min(1).max(16_384),
  height: z.number().int().min(1).max(16_384),
});
export type VideoLayer = z.infer<typeof VideoLayer>;

/** Per-participant connection quality (LiveKit's ConnectionQuality). */
export const ConnectionQuality = z.enum(["excellent", "good", "poor", "lost"]);
export type ConnectionQuality = z.infer<typeof ConnectionQuality>;

export const MediaKind = z.enum(["audio", "video"]);
export const TrackKind = z.enum(["audio", "video", "data"]);
export type TrackKind = z.infer<typeof TrackKind>;
export const TrackSource = z.enum(["camera", "microphone", "screen_share", "screen_share_audio", "unknown"]);
export type TrackSource = z.infer<typeof TrackSource>;
type MediaKind = z.infer<typeof MediaKind>;

/** The source a media track has when the client names none (LiveKit's defaults). */
export function defaultSource(kind: MediaKind): TrackSource {
  return kind === "audio" ? "microphone" : "camera";
}

/** Which kind each named source carries: a track may not claim another kind's source, or a
 * microphone-only grant would let video through by calling it "microphone". */
const SOURCE_KIND: Partial<Record<TrackSource, MediaKind>> = {
  camera: "video",
  screen_share: "video",
  microphone: "audio",
  screen_share_audio: "audio",
};

/** Pure: whether a track of this kind may claim this source ("unknown" fits either kind). */
export function sourceFitsKind(source: TrackSource, kind: MediaKind): boolean {
  const k = SOURCE_KIND[source];
  return k === undefined || k === kind;
}

/** Request bodies by method. */
export const Requests = {
  /** First request of every connection. `token` when the URL had no `access_token`; `room`, when
   * given, must equal the token's room. */
  join: z.object({ token: AccessToken.optional(), room: RoomName.optional() }),
  /** The client's receive capabilities (mediasoup-client `device.recvRtpCapabilities`); needed before consume. */
  setRtpCapabilities: z.object({ rtpCapabilities: RtpCapabilities }),
  /** Instead of `join`, as the first request of a new connection: takes back a session whose
   * connection dropped less than the node's grace period ago (`join` response `resume.token`). */
  resume: z.object({ token: z.string().min(1).max(256) }),
  /** ICE restart of one of the caller's transports (its ICE failed or disconnected while signaling
   * stayed up): new ICE parameters for the client's `transport.restartIce()`. */
  restartIce: z.object({ transportId: Id }),
  /** `enableSctp` for data channels (numSctpStreams defaults to mediasoup's 1024/1024). */
  createTransport: z.object({
    direction: z.enum(["send", "recv"]),
    enableSctp: z.boolean().optional(),
    numSctpStreams: NumSctpStreams.optional(),
  }),
  connectTransport: z.object({ transportId: Id, dtlsParameters: DtlsParameters }),
  produce: z.object({
    transportId: Id,
    kind: MediaKind,
    rtpParameters: RtpParameters,
    source: TrackSource.optional(),
    paused: z.boolean().optional(),
    /** Video: the size of each simulcast encoding, lowest first (LiveKit's VideoLayer); the node
     * picks layers for a subscriber's rendered size from it. */
    layers: z.array(VideoLayer).min(1).max(MAX_SPATIAL_LAYERS).optional(),
  }),
  closeProducer: z.object({ trackId: Id }),
  pauseProducer: z.object({ trackId: Id }),
  resumeProducer: z.object({ trackId: Id }),
  /** Consumers start paused; resume once the client side is ready (no lost keyframe). */
  consume: z.object({ trackId: Id }),
  pauseConsumer: z.object({ consumerId: Id }),
  /** Explicit layer choice for a subscribed video track (the highest layers the subscriber wants;
   * the node forwards the best one available up to them) and its priority when bandwidth is short. */
  setPreferredLayers: z.object({
    trackId: Id,
    spatialLayer: z
      .number()
      .int()
      .min(0)
      .max(MAX_SPATIAL_LAYERS - 1),
    temporalLayer: z
      .number()
      .int()
      .min(0)
      .max(MAX_TEMPORAL_LAYERS - 1)
      .optional(),
    priority: z.number().int().min(1).max(255).optional(),
  }),
  /** Adaptive stream: how a subscribed video track is shown. Hidden → the node pauses it; visible →
   * the node picks the smallest layer that covers width × height (CSS pixels × devicePixelRatio). */
  updateTrackSettings: z.object({
    trackId: Id,
    visible: z.boolean(),
    width: z.number().int().min(0).max(16_384).optional(),
    height: z.number().int().min(0).max(16_384).optional(),
  }),
  resumeConsumer: z.object({ consumerId: Id }),
  produceData: z.object({
    transportId: Id,
    sctpStreamParameters: SctpStreamParameters,
    label: z.string().max(256).optional(),
    protocol: z.string().max(256).optional(),
  }),
  consumeData: z.object({ trackId: Id }),
  leave: z.object({}),
  ping: z.object({}),
} as const;
export type Method = keyof typeof Requests;
export const METHODS = Object.keys(Requests) as Method[];
export type RequestData<M extends Method> = z.infer<(typeof Requests)[M]>;
/** A validated request, discriminated by method. */
export type Request = { [M in Method]: { id: number; method: M; data: RequestData<M> } }[Method];

export const RequestEnvelope = z.object({
  v: z.literal(PROTOCOL_VERSION),
  id: z
    .number()
    .int()
    .nonnegative()
    .max(2 ** 31),
  method: z.string().max(64),
  data: z.unknown().optional(),
});

export const TrackInfo = z.object({
  trackId: Id,
  kind: TrackKind,
  source: TrackSource.optional(),
  muted: z.boolean(),
  label: z.string().optional(),
  /** Video: its simulcast encodings' sizes, lowest first (one entry: no simulcast). */
  layers: z.array(VideoLayer).optional(),
});
export type TrackInfo = z.infer<typeof TrackInfo>;

export const ParticipantInfo = z.object({
  identity: z.string(),
  sid: z.string(),
  name: z.string().optional(),
  metadata: z.string().optional(),
  attributes: z.record(z.string(), z.string()).optional(),
  tracks: z.array(TrackInfo),
});
export type ParticipantInfo = z.infer<typeof ParticipantInfo>;

/** An RTCIceServer as the browser takes it (TURN with time-limited credentials). */
export interface IceServer {
  urls: string[];
  username: string;
  credential: string;
}

/** How to take the session back after the connection drops (absent: the session ends with its
 * connection, e.g. a bridged one). */
export interface ResumeInfo {
  /** Secret for the `resume` request; single use (each resume returns a new one). */
  token: string;
  /** How long the node keeps the session after the connection dropped. */
  graceMs: number;
}

/** Response bodies by method (what `ok: true` carries). */
export interface Responses {
  join: {
    protocol: number;
    /** The node hosting the room (it answers the join, also a bridged one). */
    node: { id: string; region: string };
    /** The node the client's signaling connection is on: `node.id`, or the signal node a bridged
     * join came through. */
    signalNode: string;
    room: string;
    participant: ParticipantInfo;
    participants: ParticipantInfo[];
    permissions: {
      canPublish: boolean;
      canSubscribe: boolean;
      canPublishData: boolean;
      /** Present when the token limits what may be published (LiveKit source names). */
      canPublishSources?: string[];
      /** Others are not told about this participant (recorders, agents). */
      hidden: boolean;
    };
    routerRtpCapabilities: Record<string, unknown>;
    /** TURN servers with credentials for this participant, when the node has TURN configured. */
    iceServers?: IceServer[];
    resume?: ResumeInfo;
    /** The room's metadata (RoomService UpdateRoomMetadata / CreateRoom). */
    roomMetadata: string;
    /** The server's data track (RoomService SendData): consumeData it to receive server messages,
     * JSON text frames {topic?, data: base64}. */
    serverDataTrackId: string;
  };
  setRtpCapabilities: Record<string, never>;
  /** The session as it is now; notifications held while disconnected follow the response. */
  resume: { participant: ParticipantInfo; iceServers?: IceServer[]; resume: ResumeInfo };
  restartIce: { iceParameters: Record<string, unknown> };
  createTransport: {
    transportId: string;
    iceParameters: Record<string, unknown>;
    iceCandidates: Record<string, unknown>[];
    dtlsParameters: Record<string, unknown>;
    sctpParameters?: Record<string, unknown>;
  };
  connectTransport: Record<string, never>;
  produce: { trackId: string };
  closeProducer: Record<string, never>;
  pauseProducer: Record<string, never>;
  resumeProducer: Record<string, never>;
  consume: {
    consumerId: string;
    trackId: string;
    identity: string;
    kind: "audio" | "video";
    rtpParameters: Record<string, unknown>;
    producerPaused: boolean;
  };
  pauseConsumer: Record<string, never>;
  setPreferredLayers: Record<string, never>;
  updateTrackSettings: Record<string, never>;
  resumeConsumer: Record<string, never>;
  produceData: { trackId: string };
  consumeData: {
    dataConsumerId: string;
    trackId: string;
    identity: string;
    sctpStreamParameters: Record<string, unknown>;
    label: string;
    protocol: string;
  };
  leave: Record<string, never>;
  ping: { now: number };
}

export const ErrorInfo = z.object({
  code: z.enum(Object.values(ErrorCode) as [ErrorCode, ...ErrorCode[]]),
  message: z.string(),
});
export type ErrorInfo = z.infer<typeof ErrorInfo>;

/** Server → client notifications. */
export const Notifications = {
  participantJoined: z.object({ participant: ParticipantInfo }),
  participantLeft: z.object({ identity: z.string(), sid: z.string() }),
  trackPublished: z.object({ identity: z.string(), track: TrackInfo }),
  trackUnpublished: z.object({ identity: z.string(), trackId: Id }),
  trackMuted: z.object({ identity: z.string(), trackId: Id, muted: z.boolean() }),
  /** A consumer (media or data) went away because its track or transport did. */
  consumerClosed: z.object({ consumerId: Id, trackId: Id }),
  /** The layers the node now forwards to this subscriber (null: none, the consumer is paused or
   * its producer sends nothing). */
  layersChanged: z.object({
    trackId: Id,
    spatialLayer: z.number().int().nullable(),
    temporalLayer: z.number().int().nullable(),
  }),
  /** Dynacast, to a publisher: the highest spatial layer of its track anyone consumes (-1: nobody).
   * The client turns the encodings above it off and back on when this rises. */
  subscribedLayers: z.object({
    trackId: Id,
    maxSpatialLayer: z
      .number()
      .int()
      .min(-1)
      .max(MAX_SPATIAL_LAYERS - 1),
  }),
  /** The room's dominant speaker changed (mediasoup ActiveSpeakerObserver). */
  activeSpeaker: z.object({ identity: z.string() }),
  /** Who is audible now and how loud (0..1, linear), loudest first; empty: silence. Throttled. */
  speakers: z.object({ speakers: z.array(z.object({ identity: z.string(), level: z.number() })) }),
  /** Participants whose connection quality changed. */
  connectionQuality: z.object({
    updates: z.array(z.object({ identity: z.string(), quality: ConnectionQuality, score: z.number() })),
  }),
  error: ErrorInfo,
  /** Reconnect through the control plane: the node is draining, the room moved, or the session
   * reached the node's maximum session age (a fresh app token is needed). */
  reconnect: z.object({ reason: z.enum(["draining", "room_moved", "session_expired"]), url: z.string().optional() }),
  /** `moved`: the room is hosted on another node now; a `reconnect` (room_moved) came first. */
  roomClosed: z.object({ reason: z.enum(["deleted", "empty", "node_shutdown", "worker_died", "moved"]) }),
  /** A participant's name, metadata, attributes or (to itself only) permissions changed. */
  participantUpdated: z.object({ participant: ParticipantInfo, permissions: z.looseObject({}).optional() }),
  roomUpdated: z.object({ metadata: z.string() }),
  /** Sent just before the server ends this participant's connection (LiveKit DisconnectReason). */
  disconnected: z.object({ reason: z.enum(["participant_removed"]) }),
} as const;
export type NotificationName = keyof typeof Notifications;
export type NotificationData<N extends NotificationName> = z.infer<(typeof Notifications)[N]>;
export type Notification = {
  [N in NotificationName]: { notification: N; data: NotificationData<N> };
}[NotificationName];

export type ServerMessage =
  | { v: number; id: number; ok: true; data: unknown }
  | { v: number; id: number; ok: false; error: ErrorInfo }
  | { v: number; notification: NotificationName; data: unknown };

// Clients parse server messages leniently (unknown error codes from a newer node still reach the
// caller) so a node upgrade never strands an older client's pending request.
export const ServerMessageEnvelope = z.union([
  z.object({ v: z.number(), id: z.number(), ok: z.literal(true), data: z.unknown() }),
  z.object({
    v: z.number(),
    id: z.number(),
    ok: z.literal(false),
    error: z.object({ code: z.string(), message: z.string() }),
  }),
  z.object({
    v: z.number(),
    notification: z.enum(Object.keys(Notifications) as [NotificationName, ...NotificationName[]]),
    data: z.unknown(),
  }),
]);

export class ProtocolError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

export type ParseResult = { ok: true; request: Request } | { ok: false; id: number | null; error: ErrorInfo };

function fail(id: number | null, code: ErrorCode, message: string): ParseResult {
  return { ok: false, id, error: { code, message } };
}

function issues(e: z.ZodError): string {
  return e.issues
    .slice(0, 3)
    .map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`)
    .join("; ");
}

/** Parses one client frame. Never throws: every failure becomes an error to send back, with the
 * request id when it could be read. */
export function parseRequest(raw: string): ParseResult {
  if (raw.length > MAX_MESSAGE_BYTES)
    return fail(null, ErrorCode.BadRequest, `message larger than ${MAX_MESSAGE_BYTES} bytes`);
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return fail(null, ErrorCode.BadRequest, "message is not JSON");
  }
  const env = RequestEnvelope.safeParse(json);
  if (!env.success) {
    const id = (json as { id?: unknown } | null)?.id;
    return fail(
      Number.isInteger(id) ? (id as number) : null,
      ErrorCode.BadRequest,
      `bad envelope: ${issues(env.error)}`,
    );
  }
  const { id, method } = env.data;
  if (!Object.hasOwn(Requests, method)) return fail(id, ErrorCode.BadRequest, `unknown method "${method}"`);
  const data = Requests[method as Method].safeParse(env.data.data ?? {});
  if (!data.success) return fail(id, ErrorCode.BadRequest, `bad ${method}: ${issues(data.error)}`);
  return { ok: true, request: { id, method, data: data.data } as Request };
}

export function encodeRequest<M extends Method>(id: number, method: M, data: RequestData<M>): string {
  return JSON.stringify({ v: PROTOCOL_VERSION, id, method, data });
}

export function encodeResponse(id: number, data: unknown): string {
  return JSON.stringify({ v: PROTOCOL_VERSION, id, ok: true, data });
}

export function encodeError(id: number | null, error: ErrorInfo): string {
  // Errors that belong to no request (unparsable frames) travel as an `error` notification.
  if (id === null) return encodeNotification("error", error);
  return JSON.stringify({ v: PROTOCOL_VERSION, id, ok: false, error });
}

export function encodeNotification<N extends NotificationName>(notification: N, data: NotificationData<N>): string {
  return JSON.stringify({ v: PROTOCOL_VERSION, notification, data });
}
