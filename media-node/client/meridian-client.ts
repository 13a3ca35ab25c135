// Browser client for a Meridian media node (mediasoup-client underneath): join with a media token,
// publish camera/mic (and data), subscribe to everyone else automatically, and rejoin by itself —
// through a hook that fetches a fresh url + token from the control plane — when the node asks it to
// (`reconnect`) or its connection is lost in a way a rejoin can fix (node died, bridge timed out).
import { Device, type types } from "mediasoup-client";
import {
  BridgeCloseCode,
  CloseCode,
  defaultSource,
  shouldReconnect,
  type NotificationData,
  type NotificationName,
  type ParticipantInfo,
  type ResumeInfo,
  type Responses,
  type TrackInfo,
  type TrackSource,
  type VideoLayer,
  type ConnectionQuality,
} from "#shared/protocol.ts";
import { SignalClient, SignalError, type CloseInfo } from "./signal-client.ts";
import {
  CAMERA_CAPTURE,
  cameraEncodings,
  encodingLayers,
  pickVideoCodec,
  SCREEN_ENCODINGS,
  START_BITRATE_KBPS,
  type Simulcast,
  type VideoCodec,
} from "./simulcast.ts";
import { TrackViews } from "./track-views.ts";

/** Rejoin attempts after a lost connection, and the backoff between them: every 250 ms for the
 * first 3 s — when a dead node's room moves (an edge takes the origin role once the node missed a
 * report, or its record expires: at most 2 report intervals) — then doubling to 2 s; ~15 s in all. */
export const REJOIN_ATTEMPTS = 22;
const REJOIN_BACKOFF_MS = { first: 250, firstTries: 12, triesPerStep: 2, max: 2_000 };
/** Opening a signaling WebSocket gives up after this long (a node that black-holes connections
 * must not stall a rejoin until the browser's TCP timeout). */
const OPEN_TIMEOUT_MS = 5_000;
/** ICE "disconnected" often heals by itself (a lost packet burst); restart only if it lasts. */
const ICE_DISCONNECTED_GRACE_MS = 2_000;
/** After a restart, ICE gets this long to connect before the next restart... */
const ICE_RESTART_RETRY_MS = 8_000;
/** ... up to this many restarts in a row (a network that stays down is the signaling's problem). */
const ICE_RESTART_ATTEMPTS = 6;
/** Closes after which the session is worth resuming: the connection was lost, not closed by the node. */
const RESUMABLE_CLOSES = new Set([1006, 1001, 1011]);
/** Resume attempts stop after this long (or the node's grace period if shorter): a node that
 * died is not waited for longer than this before a full rejoin. */
const RESUME_WINDOW_MS = 5_000;

/** Pure: whether a close with this code should make the client rejoin through the control plane.
 * 1006: the socket dropped (node died); 1001/1012/1013: the server went away or is restarting;
 * the node's wrong-node/draining codes; the bridge's codes for a lost hosting node. */
export function shouldRejoin(code: number): boolean {
  return (
    code === 1006 ||
    code === 1001 ||
    code === 1012 ||
    code === 1013 ||
    code === CloseCode.WrongNode ||
    code === CloseCode.Draining ||
    code === CloseCode.SessionExpired ||
    shouldReconnect(code)
  );
}

export function rejoinBackoffMs(attempt: number): number {
  const b = REJOIN_BACKOFF_MS;
  if (attempt === 0) return 0;
  if (attempt <= b.firstTries) return b.first;
  return Math.min(b.first * 2 ** Math.ceil((attempt - b.firstTries) / b.triesPerStep), b.max);
}

/** ±20 %: the clients of a dead node do not retry in lockstep (thousands at once every 250 ms). */
function jittered(ms: number): number {
  return ms * (0.8 + 0.4 * Math.random());
}

/** What a rejoin hook is told about the loss, to pass on to POST /v1/join (`failedNode`). */
export interface RejoinHint {
  /** The node whose connection failed (refused, dropped, or timed out behind the bridge): the
   * control plane steers this client's signal node away from it. */
  failedNode?: string;
}

/** Pure: the node a close says failed — the node the socket was on for a dropped connection, the
 * hosting node for the bridge's lost-host codes; none for a node's deliberate close. */
export function failedNodeOf(
  code: number,
  joined: { node: { id: string }; signalNode?: string | undefined },
): string | undefined {
  if (code === 1006 || code === 1001 || code === 1011) return joined.signalNode ?? joined.node.id;
  if (code === BridgeCloseCode.PeerTimeout || code === BridgeCloseCode.OpenTimeout) return joined.node.id;
  return undefined;
}

export interface RemoteTrack {
  identity: string;
  trackId: string;
  kind: "audio" | "video";
  source: TrackSource;
  /** The publisher muted it (trackMuted). */
  muted: boolean;
  track: MediaStreamTrack;
  consumer: types.Consumer;
}

export interface ClientEvents {
  participantJoined: ParticipantInfo;
  participantLeft: { identity: string };
  trackSubscribed: RemoteTrack;
  trackUnsubscribed: { identity: string; trackId: string };
  /** A remote track was muted or unmuted by its publisher (or the server). */
  trackMuted: { identity: string; trackId: string; muted: boolean };
  /** The layers the node forwards of a subscribed video track (null: none). */
  layersChanged: NotificationData<"layersChanged">;
  /** Dynacast: the node said which layers of a published track anyone consumes; the encodings
   * above are turned off. */
  subscribedLayers: NotificationData<"subscribedLayers">;
  activeSpeaker: { identity: string };
  speakers: NotificationData<"speakers">["speakers"];
  connectionQuality: NotificationData<"connectionQuality">["updates"];
  /** A message on another participant's data channel; `reliable`: sent on an ordered, fully
   * retransmitted channel (LiveKit's RELIABLE), else lossy. */
  data: { identity: string; label: string; data: string | ArrayBuffer; reliable: boolean };
  /** A message the server sent (RoomService SendData). */
  serverData: { topic: string | undefined; payload: Uint8Array };
  /** The server changed one of this client's own tracks (RoomService mute, or a permission lost). */
  localTrackChanged: { trackId: string; muted?: boolean; unpublished?: boolean };
  reconnect: NotificationData<"reconnect">;
  disconnected: CloseInfo;
  /** The replacement client after a rejoin (this one is finished). */
  reconnected: MeridianClient;
  /** Every rejoin attempt failed; the last error. */
  reconnectFailed: { reason: string; error: string };
  /** The connection dropped and the session was taken back on a new one (same participant sid,
   * nothing republished); `ms` from the drop. */
  resumed: { sid: string; attempt: number; ms: number };
  /** The session could not be resumed; the client rejoins (`reconnected`) when it can. */
  resumeFailed: { error: string };
  /** A transport's connection state changed (mediasoup-client's `connectionstatechange`). */
  transportState: { direction: "send" | "recv"; state: string };
  /** Gathering through a STUN/TURN server failed, e.g. 401 for wrong or expired TURN credentials,
   * 701 for an unreachable server (the browser's RTCPeerConnectionIceErrorEvent). */
  iceError: { direction: "send" | "recv"; errorCode: number; errorText: string; url: string };
  /** A transport's ICE was restarted (it had failed or stayed disconnected). */
  iceRestarted: { direction: "send" | "recv"; attempt: number };
}

type Listener<T> = (ev: T) => void;

export interface PublishOptions {
  /** Screen share (two simulcast layers, source screen_share). */
  screen?: boolean;
  /** Camera video: simulcast on (default), off, or these encodings. */
  simulcast?: Simulcast;
  /** Video codec (default: the first the node offers, VP8). */
  videoCodec?: VideoCodec;
}

export interface ConnectOptions {
  url: string;
  token: string;
  /** Called when the client must rejoin (the node asked, or the connection was lost); returns where,
   * from the control plane (POST /v1/join, passing `hint.failedNode` on). Called again on each
   * retry. Without it the client just reports `reconnect` and `disconnected`. */
  onReconnect?: (reason: string, hint: RejoinHint) => Promise<{ url: string; token: string }>;
  /** "relay": media only through the TURN servers (the join response's, or `iceServers`). */
  iceTransportPolicy?: RTCIceTransportPolicy;
  /** Replaces the TURN servers the node hands out. */
  iceServers?: RTCIceServer[];
  /** Turn off the simulcast encodings nobody consumes when the node says so (default true). */
  dynacast?: boolean;
}

export class MeridianClient {
  readonly joined: Responses["join"];
  /** Replaced when the session is resumed on a new connection. */
  private signal: SignalClient;
  /** How to resume the session after a dropped connection (absent: not resumable, e.g. bridged). */
  private resumeInfo: ResumeInfo | undefined;
  /** Restart ICE of transports that are not connected (after a resume: the network changed). */
  private readonly iceKicks = new Set<() => void>();
  private readonly device: Device;
  private readonly opts: ConnectOptions;
  private sendTransport: types.Transport | undefined;
  private recvTransport: types.Transport | undefined;
  private readonly remote = new Map<string, RemoteTrack>();
  /** Consumers subscribed whose resume the node has not answered yet (not announced). */
  private readonly resuming = new Set<string>();
  private readonly published = new Map<string, types.Producer>();
  /** Each participant's last notified connection quality (a page showing the call late reads it). */
  readonly quality = new Map<string, ConnectionQuality>();
  /** The room's active speaker as last notified. */
  activeSpeaker: string | undefined;
  /** What publishStream was asked for each published track, so a rejoin republishes alike. */
  private readonly publishedAs = new Map<string, PublishOptions>();
  /** Adaptive stream: the elements subscribed video is shown in, reported to the node. */
  readonly views = new TrackViews((trackId, view) => {
    void this.signal.request("updateTrackSettings", { trackId, ...view }).catch(() => undefined);
  });
  private readonly dataProducers = new Map<string, types.DataProducer>();
  private readonly listeners = new Map<keyof ClientEvents, Set<Listener<never>>>();
  /** Subscriptions in flight or done, by track id (a track is consumed once). */
  private readonly subscribing = new Set<string>();
  /** Left on purpose or already moving to another node: a close is no reason to rejoin. */
  private finished = false;

  private constructor(signal: SignalClient, device: Device, joined: Responses["join"], opts: ConnectOptions) {
    this.signal = signal;
    this.device = device;
    this.joined = joined;
    this.opts = opts;
    this.resumeInfo = joined.resume;
  }

  static async connect(opts: ConnectOptions): Promise<MeridianClient> {
    const signal = await SignalClient.open(opts.url, opts.token, OPEN_TIMEOUT_MS);
    // Notifications that arrive while the device loads (a track published meanwhile) are replayed
    // once the client can act on them.
    const early: [NotificationName, NotificationData<NotificationName>][] = [];
    const stopBuffering = signal.onNotification((name, data) => void early.push([name, data]));
    const joined = await signal.request("join", {});
    const device = await Device.factory();
    await device.load({ routerRtpCapabilities: joined.routerRtpCapabilities as types.RtpCapabilities });
    const client = new MeridianClient(signal, device, joined, opts);
    client.watchSignal(signal);
    if (joined.permissions.canSubscribe) {
      await signal.request("setRtpCapabilities", {
        rtpCapabilities: device.recvRtpCapabilities as Record<string, unknown>,
      });
      client.recvTransport = await client.createTransport("recv");
      for (const p of joined.participants) for (const t of p.tracks) void client.subscribe(p.identity, t);
      void client.subscribe("", { trackId: joined.serverDataTrackId, kind: "data", muted: false });
    }
    stopBuffering();
    signal.onNotification((name, data) => void client.onNotification(name, data));
    for (const [name, data] of early) void client.onNotification(name, data);
    return client;
  }

  /** A lost connection is resumed when the node gave a resume token, else (or when the node no
   * longer has the session) the client rejoins. */
  private watchSignal(signal: SignalClient): void {
    void signal.closed.then((info) => {
      if (signal !== this.signal || this.finished) return;
      this.emit("disconnected", info);
      const failedNode = failedNodeOf(info.code, this.joined);
      const hint: RejoinHint = failedNode ? { failedNode } : {};
      if (this.resumeInfo && RESUMABLE_CLOSES.has(info.code)) void this.resume(this.resumeInfo, hint);
      else if (shouldRejoin(info.code)) void this.followReconnect(`connection lost (${info.code})`, hint);
    });
  }

  /** Takes the session back on a new connection to the same URL: same participant, transports and
   * subscriptions, nothing republished. Tries for min(grace period, RESUME_WINDOW_MS); a refusal
   * (the node no longer has the session) or no answer in time falls back to a full rejoin. So does
   * a node that cannot be reached while the control plane can (a dead node: resuming it is
   * pointless); while neither answers (this client's network is down) it keeps trying. */
  private async resume(info: ResumeInfo, hint: RejoinHint): Promise<void> {
    const started = Date.now();
    const deadline = started + Math.min(info.graceMs, RESUME_WINDOW_MS);
    let error = "";
    let answer: { url: string; token: string } | undefined;
    for (let attempt = 0; Date.now() < deadline && !this.finished; attempt++) {
      await new Promise((r) => setTimeout(r, jittered(rejoinBackoffMs(attempt))));
      let signal: SignalClient | undefined;
      try {
        signal = await SignalClient.open(this.opts.url, undefined, Math.max(1_000, deadline - Date.now()));
      } catch (e) {
        error = String(e);
        answer = await this.opts.onReconnect?.(`node unreachable (${error})`, hint).catch(() => undefined);
        if (answer) break;
        continue;
      }
      try {
        const s = signal;
        s.onNotification((name, data) => void (this.signal === s && this.onNotification(name, data)));
        const r = await s.request("resume", { token: info.token }, Math.max(1_000, deadline - Date.now()));
        this.signal = s;
        this.resumeInfo = r.resume;
        this.watchSignal(s);
        this.emit("resumed", { sid: r.participant.sid, attempt, ms: Date.now() - started });
        for (const kick of this.iceKicks) kick();
        return;
      } catch (e) {
        signal?.close();
        error = String(e);
        if (e instanceof SignalError) break; // refused: the node no longer has the session
      }
    }
    this.resumeInfo = undefined;
    this.emit("resumeFailed", { error });
    if (!this.finished) void this.followReconnect(`session not resumed (${error})`, hint, answer);
  }

  on<K extends keyof ClientEvents>(event: K, l: Listener<ClientEvents[K]>): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(l as Listener<never>);
    return () => set.delete(l as Listener<never>);
  }

  private emit<K extends keyof ClientEvents>(event: K, ev: ClientEvents[K]): void {
    for (const l of this.listeners.get(event) ?? []) (l as Listener<ClientEvents[K]>)(ev);
  }

  private async createTransport(direction: "send" | "recv"): Promise<types.Transport> {
    const t = await this.signal.request("createTransport", { direction, enableSctp: true });
    const options = {
      id: t.transportId,
      iceParameters: t.iceParameters as unknown as types.IceParameters,
      iceCandidates: t.iceCandidates as unknown as types.IceCandidate[],
      dtlsParameters: t.dtlsParameters as unknown as types.DtlsParameters,
      ...(t.sctpParameters ? { sctpParameters: t.sctpParameters as unknown as types.SctpParameters } : {}),
    };
    const iceServers = this.opts.iceServers ?? this.joined.iceServers;
    Object.assign(options, {
      ...(iceServers ? { iceServers } : {}),
      ...(this.opts.iceTransportPolicy ? { iceTransportPolicy: this.opts.iceTransportPolicy } : {}),
    });
    const transport =
      direction === "send" ? this.device.createSendTransport(options) : this.device.createRecvTransport(options);
    this.watchIce(transport, direction);
    transport.on("connect", ({ dtlsParameters }, ok, fail) => {
      this.signal
        .request("connectTransport", { transportId: transport.id, dtlsParameters: dtlsParameters as never })
        .then(() => ok(), fail);
    });
    if (direction === "send") {
      transport.on("produce", ({ kind, rtpParameters, appData }, ok, fail) => {
        const layers = appData.layers as VideoLayer[] | undefined;
        this.signal
          .request("produce", {
            transportId: transport.id,
            kind,
            rtpParameters: rtpParameters as never,
            source: appData.source as TrackSource | undefined,
            ...(layers ? { layers } : {}),
          })
          .then(({ trackId }) => ok({ id: trackId }), fail);
      });
      transport.on("producedata", ({ sctpStreamParameters, label, protocol }, ok, fail) => {
        this.signal
          .request("produceData", {
            transportId: transport.id,
            sctpStreamParameters: sctpStreamParameters as never,
            label,
            protocol,
          })
          .then(({ trackId }) => ok({ id: trackId }), fail);
      });
    }
    return transport;
  }

  /** Restarts a transport's ICE when it failed, or stayed disconnected, while signaling is up
   * (a network change): new ICE parameters from the node, no new join. */
  private watchIce(transport: types.Transport, direction: "send" | "recv"): void {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let attempt = 0;
    const restart = async () => {
      if (this.finished || transport.closed || !this.signal.isOpen || attempt >= ICE_RESTART_ATTEMPTS) return;
      attempt++;
      try {
        const { iceParameters } = await this.signal.request("restartIce", { transportId: transport.id });
        await transport.restartIce({ iceParameters: iceParameters as unknown as types.IceParameters });
        this.emit("iceRestarted", { direction, attempt });
      } catch (e) {
        console.warn(`ICE restart of the ${direction} transport failed`, e);
      }
      clearTimeout(timer);
      timer = setTimeout(() => void (transport.connectionState !== "connected" && restart()), ICE_RESTART_RETRY_MS);
    };
    this.iceKicks.add(() => {
      if (transport.closed) return;
      if (transport.connectionState === "failed" || transport.connectionState === "disconnected") void restart();
    });
    transport.on("connectionstatechange", (state) => {
      this.emit("transportState", { direction, state });
      clearTimeout(timer);
      if (state === "connected") attempt = 0;
      else if (state === "failed") void restart();
      else if (state === "disconnected") timer = setTimeout(() => void restart(), ICE_DISCONNECTED_GRACE_MS);
    });
    transport.on("icecandidateerror", (e) =>
      this.emit("iceError", { direction, errorCode: e.errorCode, errorText: e.errorText, url: e.url }),
    );
  }

  private async send(): Promise<types.Transport> {
    this.sendTransport ??= await this.createTransport("send");
    return this.sendTransport;
  }

  /** Publishes camera and/or microphone (fake devices in tests). Camera video goes out in three
   * simulcast layers (320×180, 640×360, 1280×720, VP8 with temporal layers) unless `simulcast`
   * says otherwise; `videoCodec` picks H.264 or VP9 instead. Returns the local stream. */
  async publishMedia(
    opts: { audio?: boolean; video?: boolean; simulcast?: Simulcast; videoCodec?: VideoCodec } = {},
  ): Promise<MediaStream> {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: opts.audio ?? true,
      video: (opts.video ?? true) ? CAMERA_CAPTURE : false,
    });
    await this.publishStream(stream, {
      simulcast: opts.simulcast ?? true,
      ...(opts.videoCodec ? { videoCodec: opts.videoCodec } : {}),
    });
    return stream;
  }

  /** Shares the screen (getDisplayMedia) in two simulcast layers, with its audio when asked and
   * offered. Source `screen_share` (`screen_share_audio`). Returns the captured stream; ending it
   * (the browser's "stop sharing") unpublishes it. */
  async publishScreen(opts: { audio?: boolean } = {}): Promise<MediaStream> {
    const stream = await navigator.mediaDevices.getDisplayMedia({
      video: { frameRate: 15 },
      audio: opts.audio ?? false,
    });
    await this.publishStream(stream, { screen: true });
    for (const t of stream.getTracks()) t.addEventListener("ended", () => void this.unpublishTrack(t));
    return stream;
  }

  async publishStream(stream: MediaStream, opts: PublishOptions = {}): Promise<void> {
    // Checked before anything is published, so an unsupported codec publishes nothing.
    const videoCodec = opts.videoCodec
      ? pickVideoCodec(this.device.rtpCapabilities.codecs, opts.videoCodec)
      : undefined;
    const transport = await this.send();
    for (const track of stream.getTracks()) {
      const kind = track.kind === "audio" ? "audio" : "video";
      const source: TrackSource = opts.screen
        ? kind === "audio"
          ? "screen_share_audio"
          : "screen_share"
        : defaultSource(kind);
      const encodings =
        kind === "audio" ? undefined : opts.screen ? SCREEN_ENCODINGS : cameraEncodings(opts.simulcast ?? true);
      const layers = encodings ? encodingLayers(track.getSettings(), encodings) : undefined;
      const producer = await transport.produce({
        track,
        stopTracks: false,
        ...(kind === "video" && videoCodec ? { codec: videoCodec } : {}),
        ...(encodings ? { encodings, codecOptions: { videoGoogleStartBitrate: START_BITRATE_KBPS } } : {}),
        appData: { source, ...(layers ? { layers } : {}) },
      });
      this.published.set(producer.id, producer);
      this.publishedAs.set(producer.id, opts);
    }
  }

  /** Stops publishing a local track (a screen share that ended). */
  async unpublishTrack(track: MediaStreamTrack): Promise<void> {
    for (const [id, p] of this.published) {
      if (p.track !== track) continue;
      this.published.delete(id);
      this.publishedAs.delete(id);
      p.close();
      await this.signal.request("closeProducer", { trackId: id }).catch(() => undefined);
    }
  }

  /** The local tracks published, by track id (for mute buttons). */
  get localTracks(): { trackId: string; kind: string; source: TrackSource; paused: boolean }[] {
    return [...this.published.values()].map((p) => ({
      trackId: p.id,
      kind: p.kind,
      source: p.appData.source as TrackSource,
      paused: p.paused,
    }));
  }

  /** Explicit layer choice for a subscribed video track (LiveKit's setVideoQuality): the node
   * forwards the best layer available up to `spatialLayer`; `priority` (1-255) shares bandwidth. */
  async setPreferredLayers(
    trackId: string,
    spatialLayer: number,
    opts: { temporalLayer?: number; priority?: number } = {},
  ): Promise<void> {
    await this.signal.request("setPreferredLayers", { trackId, spatialLayer, ...opts });
  }

  /** Opens a data channel to the room; others receive what is sent on it as `data` events.
   * `reliable: false` opens a lossy one (unordered, no retransmission: LiveKit's LOSSY). */
  async publishData(label = "chat", opts: { reliable?: boolean } = {}): Promise<types.DataProducer> {
    const transport = await this.send();
    const dp = await transport.produceData(
      opts.reliable === false ? { label, ordered: false, maxRetransmits: 0 } : { label, ordered: true },
    );
    this.dataProducers.set(dp.id, dp);
    return dp;
  }

  async setMuted(trackId: string, muted: boolean): Promise<void> {
    const p = this.published.get(trackId);
    if (!p) throw new Error("no such published track");
    if (muted) p.pause();
    else p.resume();
    await this.signal.request(muted ? "pauseProducer" : "resumeProducer", { trackId });
  }

  /** Raw WebRTC stats of the receiving side (inbound-rtp etc.), as plain objects. */
  async recvStats(): Promise<Record<string, unknown>[]> {
    if (!this.recvTransport || this.recvTransport.closed) return []; // left, or moving to another node
    const report = await this.recvTransport.getStats();
    return [...report.values()] as Record<string, unknown>[];
  }

  /** Raw WebRTC stats of the sending side (outbound-rtp per simulcast rid etc.). */
  async sendStats(): Promise<Record<string, unknown>[]> {
    if (!this.sendTransport || this.sendTransport.closed) return [];
    const report = await this.sendTransport.getStats();
    return [...report.values()] as Record<string, unknown>[];
  }

  /** The tracks announced by trackSubscribed and not yet by trackUnsubscribed. */
  get remoteTracks(): RemoteTrack[] {
    return [...this.remote].filter(([id]) => !this.resuming.has(id)).map(([, r]) => r);
  }

  private async subscribe(identity: string, t: TrackInfo): Promise<void> {
    const recv = this.recvTransport;
    if (!recv || this.subscribing.has(t.trackId)) return;
    this.subscribing.add(t.trackId);
    try {
      if (t.kind === "data") {
        const r = await this.signal.request("consumeData", { trackId: t.trackId });
        const dc = await recv.consumeData({
          id: r.dataConsumerId,
          dataProducerId: r.trackId,
          sctpStreamParameters: r.sctpStreamParameters as unknown as types.SctpStreamParameters,
          label: r.label,
          protocol: r.protocol,
        });
        if (t.trackId === this.joined.serverDataTrackId)
          dc.on("message", (data: string | ArrayBuffer) => this.serverMessage(data));
        else {
          const s = dc.sctpStreamParameters;
          const reliable = s.ordered !== false && s.maxRetransmits === undefined && s.maxPacketLifeTime === undefined;
          dc.on("message", (data: string | ArrayBuffer) =>
            this.emit("data", { identity, label: dc.label, data, reliable }),
          );
        }
        return;
      }
      const r = await this.signal.request("consume", { trackId: t.trackId });
      const consumer = await recv.consume({
        id: r.consumerId,
        producerId: r.trackId,
        kind: r.kind,
        rtpParameters: r.rtpParameters as unknown as types.RtpParameters,
      });
      const source = t.source ?? (r.kind === "audio" ? "microphone" : "camera");
      const remote: RemoteTrack = {
        identity,
        trackId: t.trackId,
        kind: r.kind,
        source,
        muted: t.muted,
        track: consumer.track,
        consumer,
      };
      // Known (a consumerClosed may name it meanwhile) but not announced until the node resumed it:
      // remoteTracks and trackSubscribed agree, and a track closed meanwhile is never announced.
      this.remote.set(consumer.id, remote);
      this.resuming.add(consumer.id);
      try {
        await this.signal.request("resumeConsumer", { consumerId: consumer.id });
      } catch (e) {
        this.remote.delete(consumer.id);
        consumer.close();
        throw e;
      } finally {
        this.resuming.delete(consumer.id);
      }
      if (this.remote.get(consumer.id) !== remote) return; // closed while resuming
      this.emit("trackSubscribed", remote);
    } catch (e) {
      this.subscribing.delete(t.trackId);
      console.warn(`subscribe ${t.trackId} failed`, e);
    }
  }

  /** Server data frames are JSON text {topic?, data: base64} (shared/protocol.ts serverDataTrackId). */
  private serverMessage(frame: string | ArrayBuffer): void {
    try {
      const m = JSON.parse(typeof frame === "string" ? frame : new TextDecoder().decode(frame)) as {
        topic?: string;
        data: string;
      };
      this.emit("serverData", { topic: m.topic, payload: Uint8Array.from(atob(m.data), (c) => c.charCodeAt(0)) });
    } catch (e) {
      console.warn("malformed server data frame", e);
    }
  }

  private async onNotification<N extends NotificationName>(name: N, data: NotificationData<N>): Promise<void> {
    switch (name) {
      case "trackMuted": {
        // Muted by the server: stop sending too (the node already paused forwarding).
        const d = data as NotificationData<"trackMuted">;
        const own = d.identity === this.joined.participant.identity ? this.published.get(d.trackId) : undefined;
        if (!own) {
          for (const r of this.remote.values()) if (r.trackId === d.trackId) r.muted = d.muted;
          return this.emit("trackMuted", d);
        }
        if (d.muted) own.pause();
        else own.resume();
        return this.emit("localTrackChanged", { trackId: d.trackId, muted: d.muted });
      }
      case "trackUnpublished": {
        const d = data as NotificationData<"trackUnpublished">;
        const own = d.identity === this.joined.participant.identity ? this.published.get(d.trackId) : undefined;
        if (!own) return;
        own.close();
        this.published.delete(d.trackId);
        return this.emit("localTrackChanged", { trackId: d.trackId, unpublished: true });
      }
      case "participantJoined":
        return this.emit("participantJoined", (data as NotificationData<"participantJoined">).participant);
      case "participantLeft":
        this.quality.delete((data as NotificationData<"participantLeft">).identity);
        return this.emit("participantLeft", { identity: (data as NotificationData<"participantLeft">).identity });
      case "trackPublished": {
        const d = data as NotificationData<"trackPublished">;
        return this.subscribe(d.identity, d.track);
      }
      case "layersChanged":
        return this.emit("layersChanged", data as NotificationData<"layersChanged">);
      case "subscribedLayers":
        return this.dynacast(data as NotificationData<"subscribedLayers">);
      case "activeSpeaker":
        this.activeSpeaker = (data as NotificationData<"activeSpeaker">).identity;
        return this.emit("activeSpeaker", data as NotificationData<"activeSpeaker">);
      case "speakers":
        return this.emit("speakers", (data as NotificationData<"speakers">).speakers);
      case "connectionQuality":
        for (const u of (data as NotificationData<"connectionQuality">).updates)
          this.quality.set(u.identity, u.quality);
        return this.emit("connectionQuality", (data as NotificationData<"connectionQuality">).updates);
      case "consumerClosed": {
        const d = data as NotificationData<"consumerClosed">;
        const r = this.remote.get(d.consumerId);
        this.subscribing.delete(d.trackId);
        if (!r) return;
        this.remote.delete(d.consumerId);
        this.views.unobserve(r.trackId);
        r.consumer.close();
        if (this.resuming.has(d.consumerId)) return; // never announced (subscribe sees it gone)
        return this.emit("trackUnsubscribed", { identity: r.identity, trackId: r.trackId });
      }
      case "reconnect":
        this.emit("reconnect", data as NotificationData<"reconnect">);
        return this.followReconnect((data as NotificationData<"reconnect">).reason);
    }
  }

  /** Dynacast: encodings above what anyone consumes go inactive (the lowest stays on, so a new
   * subscriber gets a picture at once). */
  private async dynacast(d: NotificationData<"subscribedLayers">): Promise<void> {
    const p = this.published.get(d.trackId);
    if (!p || p.closed || p.kind !== "video" || this.opts.dynacast === false) return;
    try {
      await p.setMaxSpatialLayer(Math.max(0, d.maxSpatialLayer));
    } catch (e) {
      console.warn(`dynacast ${d.trackId} failed`, e);
    }
    this.emit("subscribedLayers", d);
  }

  /** Moves to the node the control plane names, republishing the same local tracks. Retries with
   * backoff: right after a node dies the control plane may still name it until its registration
   * expires (at most 2 report intervals). `first`: an answer the hook already gave. */
  private async followReconnect(
    reason: string,
    hint: RejoinHint = {},
    first?: { url: string; token: string },
  ): Promise<void> {
    const onReconnect = this.opts.onReconnect;
    if (!onReconnect || this.finished) return;
    const tracks = [...this.published.values()]
      .filter((p) => p.track !== null)
      .map((p) => ({ track: p.track!, as: this.publishedAs.get(p.id) ?? {} }));
    this.leave();
    let error = "";
    let answer = first;
    for (let attempt = 0; attempt < REJOIN_ATTEMPTS; attempt++) {
      if (!answer) await new Promise((r) => setTimeout(r, jittered(rejoinBackoffMs(attempt))));
      let next: MeridianClient | undefined;
      try {
        const where = answer ?? (await onReconnect(reason, hint));
        answer = undefined;
        next = await MeridianClient.connect({ ...this.opts, ...where });
        for (const t of tracks) await next.publishStream(new MediaStream([t.track]), t.as);
      } catch (e) {
        next?.leave();
        error = String(e);
        continue;
      }
      for (const [event, set] of this.listeners) for (const l of set) next.on(event, l as never);
      this.emit("reconnected", next);
      return;
    }
    this.emit("reconnectFailed", { reason, error });
  }

  leave(): void {
    this.finished = true;
    this.views.close();
    if (this.signal.isOpen) void this.signal.request("leave", {}).catch(() => undefined);
    this.sendTransport?.close();
    this.recvTransport?.close();
  }
}
