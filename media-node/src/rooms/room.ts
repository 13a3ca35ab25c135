// A room on this node: its mediasoup routers (one per worker it spans, router-group.ts), its
// participants and every transport, producer and consumer in it. The room owns the whole
// lifecycle: join, the requests of its participants, the empty-room timeout, and close(), which
// tears down every mediasoup object (closing the routers closes all transports, producers,
// consumers and pipes on them).
import type { types } from "mediasoup";
import { ErrorCode } from "#shared/errors.ts";
import {
  CloseCode,
  ProtocolError,
  defaultSource,
  encodeNotification,
  sourceFitsKind,
  type NotificationData,
  type NotificationName,
  type ParticipantInfo,
  type Request,
  type Responses,
  type TrackInfo,
} from "#shared/protocol.ts";
import type { ParticipantRecord, StoredRoomSettings } from "#shared/records.ts";
import { roomSid, type RoomFields } from "#shared/livekit.ts";
import type { Logger } from "../log.ts";
import { canPublishSource, type Permissions } from "#shared/grants.ts";
import {
  Participant,
  type ParticipantSink,
  type Profile,
  type PublishedTrack,
  type TransportDirection,
} from "./participant.ts";
import type { PipeKind, RouterGroup, RoomRouter } from "./router-group.ts";
import { Dynacast } from "./dynacast.ts";
import { DEFAULT_CAMERA_LAYERS, layerForSize } from "./layers.ts";
import { QualityMonitor } from "./quality-monitor.ts";
import { RoomSpeakers } from "./speakers.ts";
import type { PermissionUpdate, RoomOp, TrackRecord } from "#shared/room-admin.ts";
import { SERVER_DATA_TRACK_ID, ServerData } from "./server-data.ts";

/** Changes of a room other nodes serving it hear about (cascade): the notifications a local
 * participant's change sends to the others in the room. */
export type PeerEvent =
  | "participantJoined"
  | "participantLeft"
  | "participantUpdated"
  | "trackPublished"
  | "trackUnpublished"
  | "trackMuted";
const PEER_EVENTS = new Set<NotificationName>([
  "participantJoined",
  "participantLeft",
  "participantUpdated",
  "trackPublished",
  "trackUnpublished",
  "trackMuted",
]);

/** The cascade side of a room that spans nodes (cascade/room-cascade.ts). */
export interface RoomPeers {
  /** A local participant's change, for the other nodes. */
  local<N extends PeerEvent>(name: N, data: NotificationData<N>): void;
  /** A track (media or data) held on another node, made available on one router of this room
   * (piped across the node pair on first use). Throws ProtocolError NotFound when it is gone. */
  fetch(trackId: string): Promise<TrackSource>;
  /** Whether the room must stay open without local participants (an origin with edges). */
  holdsOpen(): boolean;
  /** A RoomService operation on a participant another node serves: applied there, its outcome
   * (or its ProtocolError) returned. `deadline` (ms since epoch): when the caller gives up. */
  admin(node: string, op: RoomOp, deadline?: number): Promise<AdminResult>;
  /** The same on whichever other node serves the participant; undefined when none does. */
  adminAny(op: RoomOp, deadline?: number): Promise<AdminResult | undefined>;
  /** An operation each node applies to its own participants (SendData, room metadata): sent to
   * the other nodes (`nodes`: only those), not awaited. Throws ProtocolError RateLimited, having
   * sent nothing, when one of them is too backed up to take it. */
  adminAll(op: RoomOp, nodes?: ReadonlySet<string>): void;
  /** A local participant replaced one of the same identity that `node` serves (it connected here
   * since): the origin tells that node to close it, as one node closes the older connection. */
  replaced(node: string, identity: string, sid: string): void;
  /** The room closed: links and pipes go. */
  close(): void;
}

/** Where a track's producer (media) or data producer is on this node. */
export interface TrackSource {
  router: RoomRouter;
  kind: PipeKind;
  producerId: string;
}

/** What a RoomService operation returns (shared/room-admin.ts RoomRpcReply). */
export interface AdminResult {
  participant?: ParticipantRecord;
  track?: TrackRecord;
}

/** A participant whose media is on another node of the room. */
interface RemoteParticipant {
  info: ParticipantInfo;
  node: string;
}

/** Room-level events the node mirrors elsewhere (Redis registry, metrics). */
export interface RoomObserver {
  /** `sid`: the room sid of the media token that opened it (cluster mode). */
  roomOpened(room: string, sid?: string): void;
  roomClosed(room: string): void;
  participantUpdated(room: string, p: ParticipantRecord): void;
  /** `sid`: the participant's: a record another connection of the identity wrote is not its to remove. */
  participantLeft(room: string, identity: string, sid?: string): void;
  /** LiveKit's webhook events (optional: only the webhook notifier cares). */
  roomStarted?(room: Room): void;
  roomFinished?(room: Room): void;
  participantJoined?(room: Room, p: ParticipantRecord): void;
  participantDeparted?(room: Room, p: ParticipantRecord): void;
  trackPublished?(room: Room, p: ParticipantRecord, track: TrackRecord): void;
  trackUnpublished?(room: Room, p: ParticipantRecord, track: TrackRecord): void;
}

export type RoomCloseReason = NotificationData<"roomClosed">["reason"];

export interface RoomOptions {
  name: string;
  /** Room sid of the media token that opened the room (absent: standalone, or a tool's token). */
  sid?: string | undefined;
  /** The room's routers, opened with its first one (RouterGroup.open). */
  routers: RouterGroup;
  emptyTimeoutMs: number;
  maxParticipants: number;
  /** The room's stored settings, as read when it opened (kept to restore them: registry re-sync). */
  settings: StoredRoomSettings;
  metadata: string;
  /** When the control plane created the room (ms; now when it has no record): names its sid. */
  createdAt: number;
  /** The room record's emptyTimeout (s), as RoomService shows it. */
  emptyTimeout: number;
  /** Node-wide track limit check (0 = none), evaluated on publish. */
  canAddTrack: () => boolean;
  observer: RoomObserver;
  log: Logger;
  onClosed: (room: Room) => void;
}

/** Requests a room answers (join and leave are the session's). */
type RoomRequest = Exclude<Request, { method: "join" | "leave" | "resume" }>;
type Empty = Record<string, never>;
const EMPTY: Empty = {};
const MAX_TRANSPORTS_PER_PARTICIPANT = 4;
/** Media + data tracks one participant may publish: generous for camera, mic, screen and its audio
 * plus data channels, and a bound on what one client can make the node hold. */
const MAX_TRACKS_PER_PARTICIPANT = 16;

/** The track a consumer (media or data) receives: its appData, set when it was made. */
const trackOf = (c: types.Consumer | types.DataConsumer): string =>
  String(c.appData.trackId ?? ("producerId" in c ? c.producerId : c.dataProducerId));

function fail(code: ErrorCode, message: string): never {
  throw new ProtocolError(code, message);
}

export class Room {
  readonly name: string;
  readonly routers: RouterGroup;
  readonly participants = new Map<string, Participant>();
  /** Every published track of the room by id, for O(1) consume lookups. */
  private readonly tracks = new Map<string, { owner: Participant; track: PublishedTrack }>();
  private readonly o: RoomOptions;
  private emptyTimer: NodeJS.Timeout | undefined;
  private readonly dynacast: Dynacast;
  private readonly speakers: RoomSpeakers;
  private readonly quality: QualityMonitor;
  /** Next subchannel of the server data track (uint16; wraps after 65536 joins). */
  private nextSubchannel = 0;
  private readonly serverData = new ServerData();
  readonly sid: string;
  readonly createdAt: number;
  metadata: string;
  /** Participants served by other nodes (cascade), by identity; their tracks by id. */
  private readonly remote = new Map<string, RemoteParticipant>();
  private readonly remoteTracks = new Map<string, { identity: string; info: TrackInfo }>();
  /** Set by the cascade when the room spans nodes. */
  peers: RoomPeers | undefined;
  closed = false;

  /** What the control plane stored with the room when it opened here (restored on re-sync). */
  get settings(): StoredRoomSettings {
    return this.o.settings;
  }

  constructor(o: RoomOptions) {
    this.o = o;
    this.name = o.name;
    this.routers = o.routers;
    o.routers.onRouterLost = (r) => this.routerLost(r);
    this.dynacast = new Dynacast({
      owner: (trackId) => {
        const t = this.tracks.get(trackId);
        if (!t?.track.producer || t.owner.closed) return undefined;
        return {
          simulcast: t.track.producer.type === "simulcast",
          notify: (maxSpatialLayer) => t.owner.sink.notify("subscribedLayers", { trackId, maxSpatialLayer }),
        };
      },
    });
    // A hidden participant (recorder, agent) is never named, not even as a speaker.
    const announced = (identity: string) => this.participants.get(identity)?.permissions.hidden === false;
    this.speakers = new RoomSpeakers({
      activeSpeaker: (identity) => {
        if (announced(identity)) this.broadcastAll("activeSpeaker", { identity });
      },
      levels: (speakers) => {
        const shown = speakers.filter((x) => announced(x.identity));
        if (shown.length > 0 || speakers.length === 0) this.broadcastAll("speakers", { speakers: shown });
      },
    });
    this.quality = new QualityMonitor(
      () => this.participants.values(),
      (updates) => this.broadcastAll("connectionQuality", { updates }),
    );
    this.metadata = o.metadata;
    this.createdAt = o.createdAt;
    // The control plane's sid for this incarnation of the room; derived when it gave none.
    this.sid = o.sid ?? roomSid(o.name, o.createdAt);
    o.observer.roomOpened(o.name, o.sid);
    o.observer.roomStarted?.(this);
  }

  /** A router's worker died: its participants lost their media (they reconnect); the room lives on
   * while another router does. */
  private routerLost(r: RoomRouter): void {
    if (this.routers.all().length === 0) return this.close("worker_died");
    for (const p of [...this.participants.values()]) {
      if (p.router !== r) continue;
      this.leave(p);
      p.sink.notify("roomClosed", { reason: "worker_died" });
      p.sink.close(CloseCode.RoomClosed, "room closed: worker_died");
    }
  }

  get log(): Logger {
    return this.o.log;
  }

  async join(
    identity: string,
    profile: Profile,
    permissions: Permissions,
    sink: ParticipantSink,
    signalNode: string,
  ): Promise<Participant> {
    if (this.closed) fail(ErrorCode.NotFound, "room is closed");
    const router = await this.routers
      .admit(permissions.canSubscribe ? this.expectedTracks() : 0)
      .catch((e: unknown) => {
        if (this.closed) fail(ErrorCode.NotFound, "room is closed");
        throw e;
      });
    try {
      return this.enter(identity, profile, permissions, sink, signalNode, router);
    } catch (e) {
      this.routers.release(router);
      throw e;
    }
  }

  /** Tracks a new subscriber is expected to consume: what is published, and at least camera + mic
   * of every participant allowed to publish (joins come before their publishes). */
  private expectedTracks(): number {
    let n = 0;
    for (const p of this.participants.values())
      n += p.permissions.canPublish ? Math.max(2, p.mediaTrackCount) : p.mediaTrackCount;
    return n;
  }

  private enter(
    identity: string,
    profile: Profile,
    permissions: Permissions,
    sink: ParticipantSink,
    signalNode: string,
    router: RoomRouter,
  ): Participant {
    if (this.closed) fail(ErrorCode.NotFound, "room is closed");
    const previous = this.participants.get(identity);
    if (previous) {
      // Same identity again (a reconnect, or a second tab): the newer connection wins, as in LiveKit.
      this.leave(previous);
      previous.sink.close(CloseCode.DuplicateIdentity, "identity joined again");
    }
    // Served on another node until now (it rejoined here after that node died): the newer
    // connection wins here too, so the room does not list it twice nor drop it with that node.
    const far = this.remote.get(identity);
    if (far) {
      this.applyRemote(far.node, "participantLeft", { identity, sid: far.info.sid });
      this.peers?.replaced(far.node, identity, far.info.sid);
    }
    const max = this.o.maxParticipants;
    if (max > 0 && this.participants.size + this.remote.size >= max)
      fail(ErrorCode.Conflict, `room is full (${max} participants)`);
    clearTimeout(this.emptyTimer);
    this.emptyTimer = undefined;
    const p = new Participant(identity, profile, permissions, sink, signalNode, router, this.nextSubchannel);
    this.nextSubchannel = (this.nextSubchannel + 1) % 65_536;
    this.broadcast(p, "participantJoined", { participant: p.info() });
    this.participants.set(identity, p);
    this.quality.joined(p);
    const speaker = this.speakers.current;
    if (speaker !== undefined && speaker !== identity && this.participants.get(speaker)?.permissions.hidden === false)
      p.sink.notify("activeSpeaker", { identity: speaker });
    const record = p.record();
    this.o.observer.participantUpdated(this.name, record);
    if (!p.permissions.hidden) this.o.observer.participantJoined?.(this, record);
    return p;
  }

  joinResponse(p: Participant, node: { id: string; region: string }): Responses["join"] {
    return {
      protocol: 1,
      node,
      signalNode: p.signalNode,
      room: this.name,
      participant: p.info(),
      participants: [
        ...[...this.participants.values()].filter((o) => o !== p && !o.permissions.hidden).map((o) => o.info()),
        ...[...this.remote.values()].map((r) => r.info),
      ],
      permissions: p.permissions,
      routerRtpCapabilities: p.router.router.rtpCapabilities as Record<string, unknown>,
      roomMetadata: this.metadata,
      serverDataTrackId: SERVER_DATA_TRACK_ID,
    };
  }

  leave(p: Participant): void {
    if (this.participants.get(p.identity) !== p) return;
    this.participants.delete(p.identity);
    const record = p.record();
    for (const [trackId, t] of p.tracks) this.unpublish(p, trackId, t);
    p.close();
    this.routers.release(p.router);
    this.broadcast(p, "participantLeft", { identity: p.identity, sid: p.sid });
    this.o.observer.participantLeft(this.name, p.identity, p.sid);
    if (!p.permissions.hidden) this.o.observer.participantDeparted?.(this, record);
    this.checkEmpty();
  }

  /** Closes the local participant `identity` (of `sid`, when given): the same identity connected
   * on another node since (cascade), and one identity has one connection, as on one node. */
  closeDuplicate(identity: string, sid?: string): void {
    const p = this.participants.get(identity);
    if (!p || (sid !== undefined && p.sid !== sid)) return;
    this.leave(p);
    p.sink.close(CloseCode.DuplicateIdentity, "identity joined again on another node");
  }

  /** Starts the empty-room timeout once nobody is here (and no other node needs the room here). */
  checkEmpty(): void {
    if (this.participants.size > 0 || this.closed || this.emptyTimer || this.peers?.holdsOpen()) return;
    this.emptyTimer = setTimeout(() => this.close("empty"), this.o.emptyTimeoutMs);
  }

  /** Local participants and those of other nodes (cascade), as the join response lists them. */
  infos(exceptNode?: string): ParticipantInfo[] {
    return [
      ...[...this.participants.values()].filter((p) => !p.permissions.hidden).map((p) => p.info()),
      ...[...this.remote.values()].filter((r) => r.node !== exceptNode).map((r) => r.info),
    ];
  }

  /** The kind a track of another node was announced with (undefined: no such track). */
  remoteTrackKind(trackId: string): TrackInfo["kind"] | undefined {
    return this.remoteTracks.get(trackId)?.info.kind;
  }

  /** Which node serves a participant's or a track's media: undefined = this one (or unknown). */
  nodeOf(q: { identity?: string; trackId?: string }): string | undefined {
    const identity = q.identity ?? (q.trackId !== undefined ? this.remoteTracks.get(q.trackId)?.identity : undefined);
    return identity === undefined ? undefined : this.remote.get(identity)?.node;
  }

  /** The local producer or data producer of a track published here (cascade offers it to a peer). */
  localTrack(trackId: string): TrackSource | undefined {
    const t = this.tracks.get(trackId);
    if (t?.track.producer) return { router: t.owner.router, kind: "producer", producerId: t.track.producer.id };
    if (t?.track.dataProducer)
      return { router: t.owner.router, kind: "dataProducer", producerId: t.track.dataProducer.id };
    return undefined;
  }

  /** A change on another node (cascade link): mirrored here and told to the local participants. */
  applyRemote<N extends PeerEvent>(node: string, name: N, data: NotificationData<N>): void {
    if (this.closed) return;
    const d = data as NotificationData<PeerEvent>;
    switch (name) {
      case "participantJoined": {
        const info = (d as NotificationData<"participantJoined">).participant;
        if (this.participants.has(info.identity)) return; // a local participant of that identity wins
        this.dropRemote(info.identity);
        this.remote.set(info.identity, { info, node });
        for (const t of info.tracks) this.remoteTracks.set(t.trackId, { identity: info.identity, info: t });
        clearTimeout(this.emptyTimer);
        this.emptyTimer = undefined;
        break;
      }
      case "participantLeft":
        if (this.remote.get((d as NotificationData<"participantLeft">).identity)?.node !== node) return;
        this.dropRemote((d as NotificationData<"participantLeft">).identity);
        break;
      case "participantUpdated": {
        const info = (d as NotificationData<"participantUpdated">).participant;
        const r = this.remote.get(info.identity);
        if (!r || r.node !== node) return;
        // Tracks change through their own events (same link, in order): keep ours.
        r.info = { ...info, tracks: r.info.tracks };
        break;
      }
      case "trackPublished": {
        const { identity, track } = d as NotificationData<"trackPublished">;
        const r = this.remote.get(identity);
        if (!r || r.node !== node) return;
        r.info.tracks = [...r.info.tracks.filter((t) => t.trackId !== track.trackId), track];
        this.remoteTracks.set(track.trackId, { identity, info: track });
        break;
      }
      case "trackUnpublished": {
        const { identity, trackId } = d as NotificationData<"trackUnpublished">;
        const r = this.remote.get(identity);
        if (!r || r.node !== node) return;
        r.info.tracks = r.info.tracks.filter((t) => t.trackId !== trackId);
        this.remoteTracks.delete(trackId);
        break;
      }
      case "trackMuted": {
        const { identity, trackId, muted } = d as NotificationData<"trackMuted">;
        const t = this.remoteTracks.get(trackId);
        if (!t || t.identity !== identity || this.remote.get(identity)?.node !== node) return;
        t.info.muted = muted;
        break;
      }
    }
    let frame: string | undefined;
    for (const p of this.participants.values()) p.sink.notifyEncoded((frame ??= encodeNotification(name, data)));
    // A participant first seen with tracks (a link's welcome): its tracks are announced as
    // publications too, which is what clients subscribe on.
    if (name === "participantJoined") {
      const info = (d as NotificationData<"participantJoined">).participant;
      for (const track of info.tracks) this.applyRemote(node, "trackPublished", { identity: info.identity, track });
    }
  }

  /** Forgets every participant served by a node (its link closed: the node died or left). */
  dropNode(node: string): void {
    for (const [identity, r] of [...this.remote])
      if (r.node === node) this.applyRemote(node, "participantLeft", { identity, sid: r.info.sid });
  }

  private dropRemote(identity: string): void {
    const r = this.remote.get(identity);
    if (!r) return;
    this.remote.delete(identity);
    for (const t of r.info.tracks) this.remoteTracks.delete(t.trackId);
    this.checkEmpty();
  }

  /** Closes the room: tells everyone why, ends their connections, frees every mediasoup object. */
  close(reason: RoomCloseReason, closeCode: CloseCode = CloseCode.RoomClosed): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.emptyTimer);
    // Detached first, so the sockets' own leave() on close finds nobody to remove or notify.
    const everyone = [...this.participants.values()];
    this.participants.clear();
    for (const p of everyone) {
      for (const trackId of p.tracks.keys()) this.trackEvent("trackUnpublished", p, trackId);
      p.sink.notify("roomClosed", { reason });
      p.sink.close(closeCode, `room closed: ${reason}`);
      const record = p.record();
      p.close();
      this.o.observer.participantLeft(this.name, p.identity, p.sid);
      if (!p.permissions.hidden) this.o.observer.participantDeparted?.(this, record);
    }
    this.tracks.clear();
    this.dynacast.close();
    this.quality.close();
    this.remote.clear();
    this.remoteTracks.clear();
    this.peers?.close();
    this.routers.close();
    this.o.observer.roomClosed(this.name);
    this.o.observer.roomFinished?.(this);
    this.o.log.info({ room: this.name, reason }, "room closed");
    this.o.onClosed(this);
  }

  async handle(p: Participant, req: RoomRequest): Promise<unknown> {
    if (p.closed || this.closed) fail(ErrorCode.NotFound, "not in the room any more");
    switch (req.method) {
      case "ping":
        return { now: Date.now() } satisfies Responses["ping"];
      case "setRtpCapabilities":
        p.rtpCapabilities = req.data.rtpCapabilities as types.RtpCapabilities;
        return EMPTY;
      case "createTransport":
        return this.createTransport(p, req.data);
      case "restartIce": {
        const iceParameters = await this.transport(p, req.data.transportId).restartIce();
        return { iceParameters: iceParameters as unknown as Record<string, unknown> } satisfies Responses["restartIce"];
      }
      case "connectTransport":
        await this.transport(p, req.data.transportId).connect({
          dtlsParameters: req.data.dtlsParameters as types.DtlsParameters,
        });
        return EMPTY;
      case "produce":
        return this.produce(p, req.data);
      case "produceData":
        return this.produceData(p, req.data);
      case "closeProducer": {
        const t = this.ownTrack(p, req.data.trackId);
        this.unpublish(p, req.data.trackId, t);
        this.changed(p);
        return EMPTY;
      }
      case "pauseProducer":
      case "resumeProducer":
        return this.setMuted(p, req.data.trackId, req.method === "pauseProducer");
      case "consume":
        return this.consume(p, req.data.trackId);
      case "consumeData":
        return this.consumeData(p, req.data.trackId);
      case "pauseConsumer":
      case "resumeConsumer": {
        const c = p.consumers.get(req.data.consumerId) ?? fail(ErrorCode.NotFound, "no such consumer");
        c.appData.clientPaused = req.method === "pauseConsumer";
        await this.applyPause(c);
        return EMPTY;
      }
      case "setPreferredLayers":
        return this.setPreferredLayers(p, req.data);
      case "updateTrackSettings":
        return this.updateTrackSettings(p, req.data);
    }
  }

  private async createTransport(
    p: Participant,
    { direction, enableSctp, numSctpStreams }: Extract<RoomRequest, { method: "createTransport" }>["data"],
  ): Promise<Responses["createTransport"]> {
    if (direction === "send" && !p.permissions.canPublish && !p.permissions.canPublishData)
      fail(ErrorCode.Forbidden, "token does not allow publishing");
    if (direction === "recv" && !p.permissions.canSubscribe)
      fail(ErrorCode.Forbidden, "token does not allow subscribing");
    if (p.transports.size >= MAX_TRANSPORTS_PER_PARTICIPANT) fail(ErrorCode.Conflict, "too many transports");
    const t = await p.router.router.createWebRtcTransport({
      webRtcServer: p.router.slot.webRtcServer,
      enableUdp: true,
      enableTcp: true,
      preferUdp: true,
      enableSctp: enableSctp ?? false,
      ...(numSctpStreams ? { numSctpStreams } : {}),
      appData: { direction, identity: p.identity },
    });
    if (p.closed) {
      t.close();
      fail(ErrorCode.NotFound, "left the room");
    }
    p.transports.set(t.id, t);
    t.observer.once("close", () => p.transports.delete(t.id));
    const r: Responses["createTransport"] = {
      transportId: t.id,
      iceParameters: t.iceParameters,
      iceCandidates: t.iceCandidates as unknown as Record<string, unknown>[],
      dtlsParameters: t.dtlsParameters as unknown as Record<string, unknown>,
    };
    if (t.sctpParameters) r.sctpParameters = t.sctpParameters as unknown as Record<string, unknown>;
    return r;
  }

  private transport(p: Participant, id: string, direction?: TransportDirection): types.WebRtcTransport {
    const t = p.transports.get(id) ?? fail(ErrorCode.NotFound, "no such transport");
    if (direction && t.appData.direction !== direction)
      fail(ErrorCode.BadRequest, `transport is not a ${direction} transport`);
    return t;
  }

  private async produce(
    p: Participant,
    d: Extract<RoomRequest, { method: "produce" }>["data"],
  ): Promise<Responses["produce"]> {
    if (!p.permissions.canPublish) fail(ErrorCode.Forbidden, "token does not allow publishing");
    const source = d.source ?? defaultSource(d.kind);
    if (!sourceFitsKind(source, d.kind)) fail(ErrorCode.BadRequest, `a ${d.kind} track cannot have source "${source}"`);
    if (!canPublishSource(p.permissions, source))
      fail(ErrorCode.Forbidden, `token does not allow publishing source "${source}"`);
    this.ensureTrackSlot(p);
    if (!this.o.canAddTrack()) fail(ErrorCode.Conflict, "node track limit reached");
    const transport = this.transport(p, d.transportId, "send");
    const producer = await transport.produce({
      kind: d.kind,
      rtpParameters: d.rtpParameters as types.RtpParameters,
      paused: d.paused ?? false,
      appData: { identity: p.identity },
    });
    const info: TrackInfo = { trackId: producer.id, kind: d.kind, muted: producer.paused, source };
    if (d.kind === "video") info.layers = trackLayers(d.layers, producer);
    this.publish(p, { info, producer });
    producer.observer.once("close", () => this.dropTrack(p, producer.id));
    if (d.kind === "audio")
      this.speakers
        .add(p.router.router, producer)
        .catch((e: unknown) => this.o.log.warn({ err: e, room: this.name }, "audio observers failed"));
    return { trackId: producer.id };
  }

  private async produceData(
    p: Participant,
    d: Extract<RoomRequest, { method: "produceData" }>["data"],
  ): Promise<Responses["produceData"]> {
    if (!p.permissions.canPublishData) fail(ErrorCode.Forbidden, "token does not allow publishing data");
    this.ensureTrackSlot(p);
    const transport = this.transport(p, d.transportId, "send");
    const dataProducer = await transport.produceData({
      sctpStreamParameters: d.sctpStreamParameters as types.SctpStreamParameters,
      ...(d.label !== undefined ? { label: d.label } : {}),
      ...(d.protocol !== undefined ? { protocol: d.protocol } : {}),
    });
    const info: TrackInfo = { trackId: dataProducer.id, kind: "data", muted: false, label: dataProducer.label };
    this.publish(p, { info, dataProducer });
    dataProducer.observer.once("close", () => this.dropTrack(p, dataProducer.id));
    return { trackId: dataProducer.id };
  }

  private ensureTrackSlot(p: Participant): void {
    if (p.tracks.size >= MAX_TRACKS_PER_PARTICIPANT)
      fail(ErrorCode.Conflict, `a participant may publish at most ${MAX_TRACKS_PER_PARTICIPANT} tracks`);
  }

  private publish(p: Participant, track: PublishedTrack): void {
    if (p.closed) {
      track.producer?.close();
      track.dataProducer?.close();
      fail(ErrorCode.NotFound, "left the room");
    }
    p.tracks.set(track.info.trackId, track);
    this.tracks.set(track.info.trackId, { owner: p, track });
    this.broadcast(p, "trackPublished", { identity: p.identity, track: track.info });
    this.changed(p);
    this.trackEvent("trackPublished", p, track.info.trackId);
  }

  /** A producer closed underneath us (its transport closed): forget it. */
  private dropTrack(p: Participant, trackId: string): void {
    const t = p.tracks.get(trackId);
    if (t && !p.closed) {
      this.unpublish(p, trackId, t);
      this.changed(p);
    }
  }

  private unpublish(p: Participant, trackId: string, t: PublishedTrack): void {
    this.trackEvent("trackUnpublished", p, trackId);
    p.tracks.delete(trackId);
    this.tracks.delete(trackId);
    this.dynacast.forget(trackId);
    // Closing the producer closes its consumers; they tell their owners (consumerClosed).
    t.producer?.close();
    t.dataProducer?.close();
    this.broadcast(p, "trackUnpublished", { identity: p.identity, trackId });
  }

  private ownTrack(p: Participant, trackId: string): PublishedTrack {
    return p.tracks.get(trackId) ?? fail(ErrorCode.NotFound, "no such track of yours");
  }

  private async setMuted(p: Participant, trackId: string, muted: boolean): Promise<Empty> {
    const t = this.ownTrack(p, trackId);
    if (!t.producer) fail(ErrorCode.BadRequest, "data tracks cannot be paused");
    await (muted ? t.producer.pause() : t.producer.resume());
    t.info.muted = muted;
    this.broadcast(p, "trackMuted", { identity: p.identity, trackId, muted });
    this.changed(p);
    return EMPTY;
  }

  private remoteTrack(p: Participant, trackId: string): { owner: Participant; track: PublishedTrack } {
    if (!p.permissions.canSubscribe) fail(ErrorCode.Forbidden, "token does not allow subscribing");
    const found = this.tracks.get(trackId) ?? fail(ErrorCode.NotFound, "no such track");
    if (found.owner === p) fail(ErrorCode.BadRequest, "cannot subscribe to your own track");
    return found;
  }

  /** A track to subscribe to (media for consume, data for consumeData): published here, or on
   * another node of the room (cascade). */
  private trackSource(
    p: Participant,
    trackId: string,
    want: "media" | "data",
  ): { identity: string; locate: () => Promise<TrackSource> } {
    const wrongKind = (isData: boolean) => {
      if (isData !== (want === "data"))
        fail(ErrorCode.BadRequest, isData ? "data track: use consumeData" : "media track: use consume");
    };
    const far = this.remoteTracks.get(trackId);
    if (far && this.peers) {
      if (!p.permissions.canSubscribe) fail(ErrorCode.Forbidden, "token does not allow subscribing");
      wrongKind(far.info.kind === "data");
      const peers = this.peers;
      return { identity: far.identity, locate: () => peers.fetch(trackId) };
    }
    const { owner, track } = this.remoteTrack(p, trackId);
    wrongKind(track.dataProducer !== undefined);
    const at = this.localTrack(trackId) ?? fail(ErrorCode.NotFound, "no such track");
    return { identity: owner.identity, locate: async () => at };
  }

  private async consume(p: Participant, trackId: string): Promise<Responses["consume"]> {
    const source = this.trackSource(p, trackId, "media");
    const rtpCapabilities = p.rtpCapabilities ?? fail(ErrorCode.BadRequest, "send setRtpCapabilities before consume");
    const transport = p.recvTransport() ?? fail(ErrorCode.BadRequest, "create a recv transport before consume");
    // One consumer per track and subscriber: repeated consumes would pile up worker objects.
    const consumer = await this.subscribing(p, trackId, async () => {
      const at = await source.locate();
      const producerId = await this.pipedTo(p, at.router, "producer", at.producerId);
      if (!p.router.router.canConsume({ producerId, rtpCapabilities }))
        fail(ErrorCode.BadRequest, "your RTP capabilities cannot receive this track");
      return transport.consume({
        producerId,
        rtpCapabilities,
        paused: true,
        appData: { trackId, clientPaused: true, hidden: false },
      });
    });
    p.consumers.set(consumer.id, consumer);
    this.dynacast.add(trackId, consumer);
    consumer.on("layerschange", (layers) =>
      p.sink.notify("layersChanged", {
        trackId,
        spatialLayer: layers?.spatialLayer ?? null,
        temporalLayer: layers?.temporalLayer ?? null,
      }),
    );
    this.routers.countConsumer(p.router, consumer);
    consumer.observer.once("close", () => p.consumers.delete(consumer.id));
    consumer.on("producerclose", () => p.sink.notify("consumerClosed", { consumerId: consumer.id, trackId }));
    return {
      consumerId: consumer.id,
      trackId,
      identity: source.identity,
      kind: consumer.kind,
      rtpParameters: consumer.rtpParameters as unknown as Record<string, unknown>,
      producerPaused: consumer.producerPaused,
    };
  }

  private async consumeData(p: Participant, trackId: string): Promise<Responses["consumeData"]> {
    // The server data track: the producer on the participant's own router, filtered to its subchannel.
    const server = trackId === SERVER_DATA_TRACK_ID;
    if (server && !p.permissions.canSubscribe) fail(ErrorCode.Forbidden, "token does not allow subscribing");
    const source = server ? undefined : this.trackSource(p, trackId, "data");
    const transport = p.recvTransport() ?? fail(ErrorCode.BadRequest, "create a recv transport before consumeData");
    if (!transport.sctpParameters) fail(ErrorCode.BadRequest, "recv transport was created without enableSctp");
    const dc = await this.subscribing(p, trackId, async () => {
      if (!source)
        return transport.consumeData({
          dataProducerId: (await this.serverData.on(p.router.router)).id,
          subchannels: [p.dataSubchannel],
          appData: { trackId },
        });
      const at = await source.locate();
      return transport.consumeData({
        dataProducerId: await this.pipedTo(p, at.router, "dataProducer", at.producerId),
        appData: { trackId },
      });
    });
    p.dataConsumers.set(dc.id, dc);
    dc.observer.once("close", () => p.dataConsumers.delete(dc.id));
    dc.on("dataproducerclose", () => p.sink.notify("consumerClosed", { consumerId: dc.id, trackId }));
    return {
      dataConsumerId: dc.id,
      trackId,
      identity: source?.identity ?? "",
      sctpStreamParameters: (dc.sctpStreamParameters ?? {}) as Record<string, unknown>,
      label: dc.label,
      protocol: dc.protocol,
    };
  }

  /** Runs a subscription of `p` to a track, refusing a second one while the first exists or is
   * being made (its awaits would otherwise let two through). */
  private async subscribing<T extends { closed: boolean; close(): void }>(
    p: Participant,
    trackId: string,
    make: () => Promise<T>,
  ): Promise<T> {
    const held = (c: { appData: Record<string, unknown> }) => c.appData.trackId === trackId;
    if (p.subscribing.has(trackId) || [...p.consumers.values()].some(held) || [...p.dataConsumers.values()].some(held))
      fail(ErrorCode.Conflict, "already subscribed to this track");
    p.subscribing.add(trackId);
    try {
      const c = await make();
      if (p.closed) {
        c.close();
        fail(ErrorCode.NotFound, "left the room");
      }
      return c;
    } finally {
      p.subscribing.delete(trackId);
    }
  }

  /** The id on `p`'s router of a producer of router `from`, piping it there on first use. */
  private async pipedTo(
    p: Participant,
    from: RoomRouter,
    kind: "producer" | "dataProducer",
    id: string,
  ): Promise<string> {
    try {
      return await this.routers.producerOn(kind, id, from, p.router);
    } catch (e) {
      // The producer (or a router) closed while piping: the track is gone.
      if (e instanceof Error && (e.name === "NotFoundError" || e.name === "InvalidStateError"))
        fail(ErrorCode.NotFound, "no such track");
      throw e;
    }
  }

  /** A consumer runs unless its subscriber paused it or reported it hidden (adaptive stream). */
  private async applyPause(c: types.Consumer): Promise<void> {
    const paused = c.appData.clientPaused === true || c.appData.hidden === true;
    if (paused !== c.paused) await (paused ? c.pause() : c.resume());
    this.dynacast.changed(String(c.appData.trackId));
  }

  private subscription(p: Participant, trackId: string): types.Consumer {
    for (const c of p.consumers.values()) if (c.appData.trackId === trackId) return c;
    return fail(ErrorCode.NotFound, "not subscribed to this track");
  }

  private async setPreferredLayers(
    p: Participant,
    d: Extract<RoomRequest, { method: "setPreferredLayers" }>["data"],
  ): Promise<Empty> {
    const c = this.subscription(p, d.trackId);
    if (c.kind !== "video") fail(ErrorCode.BadRequest, "layers are for video tracks");
    if (c.type === "simulcast") {
      const max = (this.tracks.get(d.trackId)?.track.info.layers?.length ?? 1) - 1;
      if (d.spatialLayer > max)
        fail(ErrorCode.BadRequest, `spatialLayer ${d.spatialLayer} out of range: the track has layers 0..${max}`);
      await c.setPreferredLayers({
        spatialLayer: d.spatialLayer,
        ...(d.temporalLayer !== undefined ? { temporalLayer: d.temporalLayer } : {}),
      });
    } else if (d.spatialLayer > 0) fail(ErrorCode.BadRequest, "the track is not simulcast: only spatialLayer 0");
    if (d.priority !== undefined) await c.setPriority(d.priority);
    c.appData.explicitLayers = true; // from now on adaptive reports only pause and resume it
    this.dynacast.changed(d.trackId);
    return EMPTY;
  }

  private async updateTrackSettings(
    p: Participant,
    d: Extract<RoomRequest, { method: "updateTrackSettings" }>["data"],
  ): Promise<Empty> {
    const c = this.subscription(p, d.trackId);
    c.appData.hidden = !d.visible;
    if (d.visible && c.type === "simulcast" && c.appData.explicitLayers !== true) {
      const layers = this.tracks.get(d.trackId)?.track.info.layers ?? DEFAULT_CAMERA_LAYERS;
      await c.setPreferredLayers({ spatialLayer: layerForSize(layers, d.width ?? 0, d.height ?? 0) });
    }
    await this.applyPause(c);
    return EMPTY;
  }

  /** RoomService operations (shared/room-admin.ts), sent by the control plane over the bus.
   * Throws ProtocolError (not_found, bad_request) for the caller. In a room that spans nodes the
   * origin hands an operation on a participant another node serves to that node, and sends the
   * ones for everyone (SendData, room metadata) to the other nodes too; `relayed`: an operation
   * the origin handed here, applied to this node's participants only (never handed on: no loops). */
  async admin(op: RoomOp, o: { deadline?: number; relayed?: boolean } = {}): Promise<AdminResult> {
    if (this.closed) fail(ErrorCode.NotFound, "room is closed");
    if (this.peers && !o.relayed) {
      if ("identity" in op && !this.participants.has(op.identity)) {
        const node = this.nodeOf({ identity: op.identity });
        if (node !== undefined) return this.peers.admin(node, op, o.deadline);
        // Not announced here (hidden, or its announcement did not fit a link message): the other
        // nodes are asked; none has it → not_found below, as for a local participant.
        const found = await this.peers.adminAny(op, o.deadline);
        if (found) return found;
      }
      if (op.op === "updateRoomMetadata") this.peers.adminAll(op);
      if (op.op === "sendData") this.peers.adminAll(op, this.nodesServing(op.destinationIdentities));
    }
    switch (op.op) {
      case "removeParticipant": {
        const p = this.member(op.identity);
        p.sink.notify("disconnected", { reason: "participant_removed" });
        this.leave(p);
        p.sink.close(CloseCode.Removed, "removed by the server");
        return {};
      }
      case "mutePublishedTrack": {
        const p = this.member(op.identity);
        const t =
          p.tracks.get(op.trackSid) ??
          fail(ErrorCode.NotFound, `participant ${op.identity} has no track ${op.trackSid}`);
        if (!t.producer) fail(ErrorCode.BadRequest, "data tracks cannot be muted");
        await this.setMuted(p, op.trackSid, op.muted);
        // The publisher is told too (setMuted tells the others): its client pauses its sender.
        p.sink.notify("trackMuted", { identity: p.identity, trackId: op.trackSid, muted: op.muted });
        return { track: p.record().tracks.find((x) => x.sid === op.trackSid)! };
      }
      case "updateParticipant": {
        const p = this.member(op.identity);
        if (op.name !== undefined) p.name = op.name;
        if (op.metadata !== undefined) p.metadata = op.metadata;
        if (op.attributes !== undefined) {
          const a = { ...p.attributes };
          for (const [k, v] of Object.entries(op.attributes))
            if (v === "") delete a[k];
            else a[k] = v;
          p.attributes = a;
        }
        if (op.permission !== undefined) this.setPermissions(p, op.permission);
        const participant = p.info();
        this.broadcast(p, "participantUpdated", { participant });
        p.sink.notify("participantUpdated", { participant, permissions: p.permissions });
        this.changed(p);
        return { participant: p.record() };
      }
      case "updateSubscriptions": {
        const p = this.member(op.identity);
        for (const sid of op.trackSids) {
          if (op.subscribe) {
            // Consumers are the client's to create: it is told (again) that the track is there.
            const found = this.tracks.get(sid);
            const far = this.remoteTracks.get(sid);
            if (!p.permissions.canSubscribe) continue;
            if (found && found.owner !== p)
              p.sink.notify("trackPublished", { identity: found.owner.identity, track: found.track.info });
            else if (far) p.sink.notify("trackPublished", { identity: far.identity, track: far.info });
          } else {
            for (const c of [...p.consumers.values(), ...p.dataConsumers.values()])
              if (trackOf(c) === sid) this.dropConsumer(p, c);
          }
        }
        return {};
      }
      case "sendData": {
        const to = op.destinationIdentities?.length
          ? op.destinationIdentities.flatMap((id) => this.participants.get(id)?.dataSubchannel ?? [])
          : undefined;
        if (to?.length === 0) return {}; // none of the named identities is here
        await this.serverData.send(JSON.stringify({ ...(op.topic ? { topic: op.topic } : {}), data: op.data }), to);
        return {};
      }
      case "updateRoomMetadata": {
        this.metadata = op.metadata;
        const frame = encodeNotification("roomUpdated", { metadata: op.metadata });
        for (const p of this.participants.values()) p.sink.notifyEncoded(frame);
        return {};
      }
    }
  }

  /** The other nodes serving these identities (none: this node serves them all); undefined = every
   * node: no identities (everyone), or one nobody announced here (hidden: it may be anywhere). */
  private nodesServing(identities: readonly string[] | undefined): Set<string> | undefined {
    if (!identities?.length) return undefined;
    const nodes = new Set<string>();
    for (const identity of identities) {
      if (this.participants.has(identity)) continue;
      const node = this.nodeOf({ identity });
      if (node === undefined) return undefined;
      nodes.add(node);
    }
    return nodes;
  }

  /** The room as LiveKit's RoomService and webhooks show it. */
  fields(): RoomFields {
    let publishers = 0;
    for (const p of this.participants.values()) if (p.mediaTrackCount > 0) publishers++;
    return {
      sid: this.sid,
      name: this.name,
      createdAt: this.createdAt,
      emptyTimeout: this.o.emptyTimeout,
      maxParticipants: this.o.maxParticipants,
      metadata: this.metadata,
      numParticipants: this.participants.size,
      numPublishers: publishers,
    };
  }

  private member(identity: string): Participant {
    return (
      this.participants.get(identity) ?? fail(ErrorCode.NotFound, `participant ${identity} is not in room ${this.name}`)
    );
  }

  /** New permissions take effect at once: tracks the participant may no longer publish are
   * unpublished, and without canSubscribe every consumer is closed. */
  private setPermissions(p: Participant, u: PermissionUpdate): void {
    const { canPublishSources, ...flags } = u;
    const next: Permissions = { ...p.permissions };
    for (const [k, v] of Object.entries(flags)) if (v !== undefined) next[k as keyof typeof flags] = v;
    if (canPublishSources !== undefined) {
      if (canPublishSources.length === 0) delete next.canPublishSources;
      else next.canPublishSources = [...canPublishSources];
    }
    p.permissions = next;
    for (const [trackId, t] of [...p.tracks]) {
      const allowed = t.producer ? canPublishSource(next, t.info.source ?? "unknown") : next.canPublishData;
      if (allowed) continue;
      this.unpublish(p, trackId, t);
      p.sink.notify("trackUnpublished", { identity: p.identity, trackId });
    }
    if (!next.canSubscribe) {
      for (const c of [...p.consumers.values(), ...p.dataConsumers.values()]) this.dropConsumer(p, c);
    }
  }

  private dropConsumer(p: Participant, c: types.Consumer | types.DataConsumer): void {
    c.close();
    p.sink.notify("consumerClosed", { consumerId: c.id, trackId: trackOf(c) });
  }

  private trackEvent(kind: "trackPublished" | "trackUnpublished", p: Participant, trackId: string): void {
    const notify = this.o.observer[kind];
    if (!notify || p.permissions.hidden) return;
    const record = p.record();
    const track = record.tracks.find((t) => t.sid === trackId);
    if (track) notify.call(this.o.observer, this, record, track);
  }

  private changed(p: Participant): void {
    if (!p.closed) this.o.observer.participantUpdated(this.name, p.record());
  }

  private broadcast<N extends NotificationName>(from: Participant, name: N, data: NotificationData<N>): void {
    // A hidden participant (LiveKit: recorders, agents) is never announced, nor is anything it does.
    if (from.permissions.hidden) return;
    let frame: string | undefined; // encoded once, for the first recipient
    for (const other of this.participants.values())
      if (other !== from) other.sink.notifyEncoded((frame ??= encodeNotification(name, data)));
    if (this.peers && PEER_EVENTS.has(name)) this.peers.local(name as PeerEvent, data as NotificationData<PeerEvent>);
  }

  /** To everyone in the room, the sender included (speakers, quality): hidden ones are left out. */
  private broadcastAll<N extends NotificationName>(name: N, data: NotificationData<N>): void {
    let frame: string | undefined;
    for (const p of this.participants.values()) p.sink.notifyEncoded((frame ??= encodeNotification(name, data)));
  }

  /** Producers (tracks in) and consumers (tracks out) of the room. */
  counts(): { clients: number; tracksIn: number; tracksOut: number } {
    let tracksIn = 0;
    let tracksOut = 0;
    for (const p of this.participants.values()) {
      tracksIn += p.mediaTrackCount;
      tracksOut += p.consumers.size;
    }
    return { clients: this.participants.size, tracksIn, tracksOut };
  }

  *transports(): Iterable<types.WebRtcTransport> {
    for (const p of this.participants.values()) yield* p.transports.values();
  }
}

/** A video track's layer sizes: what the client declared when it matches the producer's encodings,
 * else (an older client) the default camera ladder cut to the encodings it sends. */
function trackLayers(declared: TrackInfo["layers"], producer: types.Producer): NonNullable<TrackInfo["layers"]> {
  const n = producer.type === "simulcast" ? (producer.rtpParameters.encodings?.length ?? 1) : 1;
  if (declared && declared.length === n) return declared;
  return DEFAULT_CAMERA_LAYERS.slice(-n);
}
