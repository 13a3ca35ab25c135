// One participant of a room on this node: its permissions, its connection (a sink for
// notifications) and every mediasoup object it owns. Closing its transports closes the producers
// and consumers on them, so `close()` leaves nothing behind in the worker.
import { randomBytes } from "node:crypto";
import type { types } from "mediasoup";
import type { CloseCode, NotificationData, NotificationName, ParticipantInfo, TrackInfo } from "#shared/protocol.ts";
import type { Permissions } from "#shared/grants.ts";
import type { ParticipantRecord } from "#shared/records.ts";
import type { RoomRouter } from "./router-group.ts";

/** What a participant shows others: from its token, changed by RoomService UpdateParticipant. */
export interface Profile {
  name: string | undefined;
  metadata: string | undefined;
  attributes: Record<string, string> | undefined;
}

/** Where a participant's notifications go: its signaling connection (a WebSocket here, or a bridged
 * session relayed by another node). */
export interface ParticipantSink {
  notify<N extends NotificationName>(name: N, data: NotificationData<N>): void;
  /** A notification already encoded (encodeNotification): a broadcast encodes once for everyone. */
  notifyEncoded(frame: string): void;
  /** Ends the connection (room closed, identity joined again elsewhere, node shutting down). */
  close(code: CloseCode, reason: string): void;
}

export type TransportDirection = "send" | "recv";

export interface PublishedTrack {
  info: TrackInfo;
  producer?: types.Producer;
  dataProducer?: types.DataProducer;
}

export class Participant {
  readonly identity: string;
  name: string | undefined;
  metadata: string | undefined;
  attributes: Record<string, string> | undefined;
  readonly sid = `PA_${randomBytes(8).toString("hex")}`;
  readonly joinedAt = Date.now();
  permissions: Permissions;
  /** Subchannel of the server data track this participant's data consumer listens on (SendData
   * to named identities sends on theirs only). */
  readonly dataSubchannel: number;
  readonly sink: ParticipantSink;
  /** Node holding the participant's signaling connection: this node, or the one bridging it. */
  readonly signalNode: string;
  rtpCapabilities: types.RtpCapabilities | undefined;
  readonly transports = new Map<string, types.WebRtcTransport>();
  readonly tracks = new Map<string, PublishedTrack>();
  readonly consumers = new Map<string, types.Consumer>();
  readonly dataConsumers = new Map<string, types.DataConsumer>();
  /** Track ids a subscription is being made to (consume in flight). */
  readonly subscribing = new Set<string>();
  /** The room's router holding this participant's transports. */
  readonly router: RoomRouter;
  closed = false;

  constructor(
    identity: string,
    profile: Profile,
    permissions: Permissions,
    sink: ParticipantSink,
    signalNode: string,
    router: RoomRouter,
    dataSubchannel: number,
  ) {
    this.router = router;
    this.identity = identity;
    this.name = profile.name;
    this.metadata = profile.metadata;
    this.attributes = profile.attributes;
    this.dataSubchannel = dataSubchannel;
    this.permissions = permissions;
    this.sink = sink;
    this.signalNode = signalNode;
  }

  info(): ParticipantInfo {
    const p: ParticipantInfo = {
      identity: this.identity,
      sid: this.sid,
      tracks: [...this.tracks.values()].map((t) => t.info),
    };
    if (this.name !== undefined) p.name = this.name;
    if (this.metadata !== undefined) p.metadata = this.metadata;
    if (this.attributes !== undefined) p.attributes = this.attributes;
    return p;
  }

  record(): ParticipantRecord {
    const r: ParticipantRecord = {
      identity: this.identity,
      sid: this.sid,
      joinedAt: this.joinedAt,
      signalNode: this.signalNode,
      permissions: this.permissions,
      tracks: [...this.tracks.values()].map(({ info, producer }) => {
        const t: ParticipantRecord["tracks"][number] = { sid: info.trackId, kind: info.kind, muted: info.muted };
        if (info.source !== undefined) t.source = info.source;
        if (info.label !== undefined) t.name = info.label;
        const mimeType = producer?.rtpParameters.codecs[0]?.mimeType;
        if (mimeType !== undefined) t.mimeType = mimeType;
        return t;
      }),
    };
    if (this.name !== undefined) r.name = this.name;
    if (this.metadata !== undefined) r.metadata = this.metadata;
    if (this.attributes !== undefined) r.attributes = this.attributes;
    return r;
  }

  /** The transport the participant receives on (the first recv transport it created). */
  recvTransport(): types.WebRtcTransport | undefined {
    for (const t of this.transports.values()) if (t.appData.direction === "recv") return t;
    return undefined;
  }

  get mediaTrackCount(): number {
    let n = 0;
    for (const t of this.tracks.values()) if (t.producer) n++;
    return n;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.transports.values()) t.close();
    this.transports.clear();
    this.tracks.clear();
    this.consumers.clear();
    this.dataConsumers.clear();
  }
}
