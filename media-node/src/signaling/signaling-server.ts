// WebSocket signaling at /rtc. Each connection authenticates with the media token (`join`
// request, `Authorization: Bearer` on the upgrade, or URL `?access_token=`), opens a RoomSession and
// forwards validated requests to it. Bad input gets an error reply with a stable code, within a
// budget: a socket that keeps sending frames that are rate-limited or not valid requests (a flood)
// gets a bounded number of error replies, then is closed (TooManyMessages); before it has joined
// the budget is small. What the node queues for a socket is bounded too (SendBufferFull): a client
// that does not read cannot make the node hold its replies. Authentication/authorization failures
// close with their CloseCode.
//
// Cluster mode adds the signaling bridge. A token naming another hosting node makes this node the
// client's signal node: after authenticating it relays the client's frames verbatim over a
// BridgeSession (relay.ts) and the host's frames back. The token stays here: the host gets the
// verified claims as an assertion from this node (join-assertion.ts) and the join frame without it.
// On the hosting node a bridged session is a Connection like any other (transport.ts). A host that
// does not own the room refuses (WrongNode); the signal node then re-reads the room's mapping once and retries there.
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type RawData, type WebSocket } from "ws";
import { ErrorCode } from "#shared/errors.ts";
import {
  CloseCode,
  encodeRequest,
  MAX_FRAME_BYTES,
  MAX_MESSAGE_BYTES,
  ProtocolError,
  encodeError,
  encodeNotification,
  encodeResponse,
  parseRequest,
  type ErrorInfo,
  type Request,
  type RequestData,
} from "#shared/protocol.ts";
import { permissionsOf } from "#shared/grants.ts";
import { TokenError, verifyToken, type ApiKeys, type TokenClaims } from "#shared/token.ts";
import { BridgeCloseCode, type BridgeEndpoint, type BridgeSession } from "../bridge/index.ts";
import type { Logger } from "../log.ts";
import type { NodeMetrics } from "../metrics.ts";
import type { ParticipantSink } from "../rooms/participant.ts";
import { TokenBucket } from "./rate-limit.ts";
import { RelayRefused, openRelay } from "./relay.ts";
import type { Admission, JoinParams, RoomSession, RoomSessionFactory } from "../rooms/room-session.ts";
import { decodeAssertion, encodeAssertion } from "./join-assertion.ts";
import { bridgeTransport, wsTransport, type SignalTransport } from "./transport.ts";
import { SessionSink, type ResumeRegistry, type SessionHolder } from "./resume.ts";

export const SIGNAL_PATH = "/rtc";
const HEARTBEAT_MS = 20_000;

/** Per-socket budgets (README "Signaling limits"). A "strike" is a frame the node drops: rate-limited,
 * not a valid request, binary, oversized, or sent before joining. Each strike is answered with an
 * error while strikes remain; the one after that closes the socket (TooManyMessages). */
export const SOCKET_BUDGET = {
  /** Joined sockets: strikes, refilled at strikesPerSec. */
  strikes: 50,
  strikesPerSec: 1,
  /** Sockets that have not joined yet: frames they may send (join, perhaps a retry) ... */
  unauthFrames: 5,
  unauthFramesPerSec: 1,
  /** ... and strikes they get. */
  unauthStrikes: 3,
} as const;

export type DropReason = "rate_limited" | "invalid" | "binary" | "oversized" | "unauthenticated";
export type SignalCloseReason = "flood" | "send_buffer_full" | "auth_timeout" | "too_many_pending";

export interface SignalingOptions {
  nodeId: string;
  apiKeys: ApiKeys;
  /** Cluster mode: tokens must carry the `meridian` claim minted by the control plane. */
  requireMediaClaim: boolean;
  sessions: RoomSessionFactory;
  ratePerSec: number;
  burst: number;
  authTimeoutMs: number;
  /** A joined session is told to reconnect and closed after this long (0 = never). */
  maxSessionAgeMs: number;
  /** Bytes the node may have queued for one socket (ws bufferedAmount, or the bridge session's
   *  unacked bytes); a send beyond it closes the socket with SendBufferFull. */
  maxBufferedBytes: number;
  /** Sockets that have not joined yet, node-wide; more upgrades are refused with 503. */
  maxPendingSockets: number;
  /** The node's bridge endpoint (cluster mode, once connected). */
  bridge: () => BridgeEndpoint | undefined;
  /** The room's current hosting node per Redis; undefined when unknown or Redis is unreachable. */
  resolveHost: (room: string) => Promise<string | undefined>;
  /** Whether a node is in the registry; undefined when Redis is unreachable. */
  hostRegistered: (node: string) => Promise<boolean | undefined>;
  /** Sessions kept for a grace period after their connection dropped (resume.ts); undefined:
   * resume is off and a dropped connection leaves the room at once. */
  resumable?: ResumeRegistry | undefined;
  /** The node is draining: it relays no new sessions (it is about to go away). */
  draining: () => boolean;
  metrics: NodeMetrics;
  log: Logger;
}

/** Which close code ends a connection whose join failed with this error code. */
const JOIN_CLOSE: Partial<Record<ErrorCode, CloseCode>> = {
  [ErrorCode.Unauthorized]: CloseCode.Unauthorized,
  [ErrorCode.Forbidden]: CloseCode.Forbidden,
  [ErrorCode.WrongNode]: CloseCode.WrongNode,
  [ErrorCode.Draining]: CloseCode.Draining,
  // the room was deleted since the token was minted: nothing to rejoin
  [ErrorCode.NotFound]: CloseCode.RoomClosed,
};

function toErrorInfo(e: unknown): ErrorInfo {
  if (e instanceof ProtocolError) return { code: e.code, message: e.message };
  // mediasoup rejects malformed parameters with TypeError (ortc validation): the caller's fault.
  if (e instanceof TypeError) return { code: ErrorCode.BadRequest, message: e.message };
  if (e instanceof Error && e.name === "UnsupportedError") return { code: ErrorCode.BadRequest, message: e.message };
  if (e instanceof Error && (e.name === "InvalidStateError" || e.name === "WorkerClosedError"))
    return { code: ErrorCode.Conflict, message: e.message };
  return { code: ErrorCode.Internal, message: "internal error" };
}

/** The room may be elsewhere: worth one look at its current mapping. */
function reResolvable(e: unknown): boolean {
  return e instanceof ProtocolError && (e.code === ErrorCode.WrongNode || e.code === ErrorCode.Draining);
}

/** Cluster nodes take media tokens only (the control plane's, naming the room's host); a
 * standalone node has no control plane and takes app tokens too. */
async function verify(token: string | undefined, keys: ApiKeys, requireMediaClaim: boolean): Promise<TokenClaims> {
  try {
    return await verifyToken(token, keys, requireMediaClaim ? "media" : "any");
  } catch (e) {
    if (e instanceof TokenError)
      throw new ProtocolError(e.reason === "wrong_kind" ? ErrorCode.Forbidden : ErrorCode.Unauthorized, e.message);
    throw e;
  }
}

/** Pure: what a verified token allows, or why it is refused. */
export function joinParamsFromClaims(
  claims: TokenClaims,
  requestedRoom: string | undefined,
  requireMediaClaim: boolean,
): Omit<JoinParams, "signalNode"> {
  const v = claims.video;
  if (!v.roomJoin || !v.room) throw new ProtocolError(ErrorCode.Forbidden, "token does not grant roomJoin for a room");
  if (requestedRoom !== undefined && requestedRoom !== v.room)
    throw new ProtocolError(ErrorCode.Forbidden, "token is for another room");
  if (!claims.sub) throw new ProtocolError(ErrorCode.Forbidden, "token has no identity (sub)");
  if (requireMediaClaim && !claims.meridian)
    throw new ProtocolError(ErrorCode.Forbidden, "token was not minted for a media node (no meridian claim)");
  return {
    room: v.room,
    identity: claims.sub,
    name: claims.name,
    metadata: claims.metadata,
    attributes: claims.attributes,
    permissions: permissionsOf(v),
    hostNode: claims.meridian?.node,
    roomSid: claims.meridian?.roomSid,
  };
}

class Connection implements ParticipantSink, SessionHolder {
  private readonly t: SignalTransport;
  private readonly o: SignalingOptions;
  /** The token from the socket's URL, or the claims a signal node vouched for (bridged). */
  private readonly credential: { token: string | undefined } | { claims: TokenClaims };
  private readonly remoteAddress: string | undefined;
  /** A bridged session's check, made when it opened: its join does not check again. */
  private admission: Admission | undefined;
  private readonly bucket: TokenBucket;
  private readonly unauthBucket: TokenBucket;
  private readonly strikes: TokenBucket;
  private readonly unauthStrikes: TokenBucket;
  private state: "new" | "joining" | "joined" | "closed" = "new";
  /** Joined locally: the room is on this node (or this is the hosting end of a bridge). */
  private session: RoomSession | undefined;
  /** The participant sid when the session is resumable (local sockets, resume on). */
  private resumeSid: string | undefined;
  /** Joined through the bridge: this node only relays frames to and from the hosting node. */
  private relay: BridgeSession | undefined;
  private authTimer: NodeJS.Timeout | undefined;
  private ageTimer: NodeJS.Timeout | undefined;
  private log: Logger;
  /** Called once, when the connection joined or ended (the server's count of pending sockets). */
  onSettled: (() => void) | undefined;

  constructor(
    t: SignalTransport,
    credential: Connection["credential"],
    o: SignalingOptions,
    remoteAddress?: string,
    admission?: Admission,
  ) {
    this.t = t;
    this.admission = admission;
    this.o = o;
    this.credential = credential;
    this.remoteAddress = remoteAddress;
    this.log = t.signalNode === o.nodeId ? o.log : o.log.child({ signalNode: t.signalNode });
    const now = Date.now();
    this.bucket = new TokenBucket(o.ratePerSec, o.burst, now);
    this.unauthBucket = new TokenBucket(SOCKET_BUDGET.unauthFramesPerSec, SOCKET_BUDGET.unauthFrames, now);
    this.strikes = new TokenBucket(SOCKET_BUDGET.strikesPerSec, SOCKET_BUDGET.strikes, now);
    this.unauthStrikes = new TokenBucket(0, SOCKET_BUDGET.unauthStrikes, now);
    this.authTimer = setTimeout(() => this.closeFor("auth_timeout", CloseCode.AuthTimeout, "no join"), o.authTimeoutMs);
  }

  /** Joined (or relayed): past the unauthenticated budget. */
  get authenticated(): boolean {
    return this.state === "joined";
  }

  notify: ParticipantSink["notify"] = (name, data) => {
    this.send(encodeNotification(name, data));
  };

  notifyEncoded(frame: string): void {
    this.send(frame);
  }

  /** Every frame to the client goes through here: past the socket's buffer bound the client is
   * not reading, and the socket is closed instead of queueing more. */
  private send(frame: string): void {
    if (!this.t.isOpen || this.state === "closed") return;
    if (this.t.bufferedAmount > this.o.maxBufferedBytes) {
      this.log.warn({ buffered: this.t.bufferedAmount }, "client does not read; closing its socket");
      return this.closeFor("send_buffer_full", CloseCode.SendBufferFull, "send buffer full: the client does not read");
    }
    this.t.send(frame);
  }

  close(code: number, reason: string): void {
    if (this.state === "closed") return;
    this.t.close(code, reason);
    this.ended();
  }

  /** Closes for a counted reason; a hostile client's connection is cut (signal-transport.ts). */
  private closeFor(why: SignalCloseReason, code: number, reason: string): void {
    if (this.state === "closed") return;
    this.o.metrics.signalCloses.inc({ reason: why });
    if (why === "auth_timeout") return this.close(code, reason);
    this.t.cut(code, reason);
    this.ended();
  }

  private reply(id: number, data: unknown): void {
    this.send(encodeResponse(id, data));
  }

  private replyError(id: number | null, error: ErrorInfo): void {
    this.o.metrics.signalErrors.inc({ code: error.code });
    this.send(encodeError(id, error));
  }

  /** A frame the node does not act on: counted; answered while the socket has strikes left,
   * otherwise the socket is closed (a flood gets no more answers). */
  private drop(reason: DropReason, now: number, answer: () => { id: number | null; error: ErrorInfo }): void {
    this.o.metrics.framesDropped.inc({ reason });
    if ((this.authenticated ? this.strikes : this.unauthStrikes).take(now)) {
      const { id, error } = answer();
      return this.replyError(id, error);
    }
    this.log.info({ reason }, "closing a flooding socket");
    this.closeFor("flood", CloseCode.TooManyMessages, "too many rate-limited or invalid messages");
  }

  /** A frame from the transport. */
  receive(data: string | Buffer, isBinary: boolean): void {
    if (this.state === "closed") return;
    const now = Date.now();
    // Every frame costs a token, even malformed ones; a socket that has not joined draws from a
    // small budget of its own.
    const allowed = (this.authenticated ? this.bucket : this.unauthBucket).take(now);
    const size = typeof data === "string" ? Buffer.byteLength(data) : data.length;
    if (isBinary)
      return this.drop("binary", now, () => ({
        id: null,
        error: { code: ErrorCode.BadRequest, message: "binary frames are not part of the protocol" },
      }));
    if (size > MAX_MESSAGE_BYTES)
      return this.drop("oversized", now, () => ({
        id: null,
        error: { code: ErrorCode.BadRequest, message: `message larger than ${MAX_MESSAGE_BYTES} bytes` },
      }));
    const text = typeof data === "string" ? data : data.toString("utf8");
    // Relayed: the hosting node parses and answers; parsing here too would only add latency. A
    // frame that may carry a token (a second join) is answered here: tokens stay off the bus.
    if (this.relay && allowed) {
      if (!text.includes('"token"')) return void this.relay.send(text);
      const p = parseRequest(text);
      if (!p.ok || p.request.method !== "join") return void this.relay.send(text);
      return this.replyError(p.request.id, { code: ErrorCode.Conflict, message: "already joined" });
    }
    if (!allowed) {
      return this.drop(this.authenticated ? "rate_limited" : "unauthenticated", now, () => {
        // Parsed only to name the request in the reply, and only while there are replies to give.
        const parsed = parseRequest(text);
        return {
          id: parsed.ok ? parsed.request.id : parsed.id,
          error: { code: ErrorCode.RateLimited, message: "too many messages; slow down" },
        };
      });
    }
    const parsed = parseRequest(text);
    if (!parsed.ok) return this.drop("invalid", now, () => ({ id: parsed.id, error: parsed.error }));
    const req = parsed.request;
    this.o.metrics.signalMessages.inc({ method: req.method });
    if (req.method === "join") return void this.join(req.id, req.data);
    if (req.method === "resume") return void this.resume(req.id, req.data);
    if (this.state !== "joined" || !this.session)
      return this.drop("unauthenticated", now, () => ({
        id: req.id,
        error: { code: ErrorCode.BadRequest, message: "send join first" },
      }));
    if (req.method === "leave") {
      this.reply(req.id, {});
      return this.close(CloseCode.Normal, "left");
    }
    void this.forward(this.session, req);
  }

  private async forward(
    session: RoomSession,
    req: Exclude<Request, { method: "join" | "leave" | "resume" }>,
  ): Promise<void> {
    try {
      this.reply(req.id, await session.request(req));
    } catch (e) {
      const info = toErrorInfo(e);
      if (info.code === ErrorCode.Internal) this.log.warn({ err: e, method: req.method }, "signaling request failed");
      this.replyError(req.id, info);
    }
  }

  private async join(id: number, data: RequestData<"join">): Promise<void> {
    if (this.state !== "new") return this.replyError(id, { code: ErrorCode.Conflict, message: "already joined" });
    this.state = "joining";
    try {
      const claims =
        "claims" in this.credential
          ? this.credential.claims
          : await verify(this.credential.token ?? data.token, this.o.apiKeys, this.o.requireMediaClaim);
      const params = {
        ...joinParamsFromClaims(claims, data.room, this.o.requireMediaClaim),
        signalNode: this.t.signalNode,
      };
      // Authenticated: finding the room's node is not the client's delay.
      clearTimeout(this.authTimer);
      this.log = this.log.child({ room: params.room, identity: params.identity });
      let host = (await this.o.sessions.mediaNode?.(params)) ?? params.hostNode ?? this.o.nodeId;
      for (let attempt = 0; ; attempt++) {
        try {
          if (host === this.o.nodeId) return await this.joinLocal(id, params);
          return await this.joinRelayed(host, claims, encodeRequest(id, "join", { ...data, token: undefined }));
        } catch (e) {
          // Once: a second refusal means the mapping is in flux; the client rejoins via the control plane.
          if (attempt > 0 || !reResolvable(e)) throw e;
          const next = await this.o.resolveHost(params.room);
          if (next === undefined || next === host) throw e;
          this.log.info({ from: host, to: next }, "room is elsewhere; re-resolved its hosting node");
          host = next;
        }
      }
    } catch (e) {
      const info = toErrorInfo(e);
      this.o.metrics.joins.inc({ result: info.code });
      if (info.code === ErrorCode.Internal) this.log.error({ err: e }, "join failed");
      else this.log.info({ code: info.code, reason: info.message }, "join refused");
      this.replyError(id, info);
      // The node's own code when there is one (wrong node, draining...), else the bridge's (timeouts).
      const code = JOIN_CLOSE[info.code] ?? (e instanceof RelayRefused ? e.closeCode : CloseCode.ProtocolError);
      this.close(code, info.message);
    }
  }

  /** Takes back a session kept after its connection dropped (resume.ts). Refused (unknown,
   * expired or forged token): `not_found` and close 4404, and the client joins again. */
  private resume(id: number, data: RequestData<"resume">): void {
    if (this.state !== "new") return this.replyError(id, { code: ErrorCode.Conflict, message: "already joined" });
    const registry = this.o.resumable;
    let taken: ReturnType<ResumeRegistry["take"]>;
    try {
      if (!registry || this.t.signalNode !== this.o.nodeId)
        throw new ProtocolError(ErrorCode.NotFound, "no such session to resume: join again");
      taken = registry.take(data.token, this);
    } catch (e) {
      const info = toErrorInfo(e);
      this.log.info({ reason: info.message }, "resume refused");
      this.replyError(id, info);
      return this.close(CloseCode.ResumeFailed, info.message);
    }
    const { session, sink, joinedAt, resume } = taken;
    this.session = session;
    this.resumeSid = session.joined.participant.sid;
    this.log = this.log.child({ room: session.joined.room, identity: session.joined.participant.identity });
    this.joined("resumed");
    this.startAgeTimer(joinedAt);
    this.reply(id, { ...session.current(), resume });
    sink.attach(this); // what was held while disconnected, after the reply
  }

  /** The session was resumed on another connection: this one closes without leaving the room. */
  detach(): void {
    this.session = undefined;
    this.resumeSid = undefined;
    this.close(CloseCode.Resumed, "session resumed on another connection");
  }

  private startAgeTimer(joinedAt: number): void {
    // The hosting end enforces the age (a relayed client's signal node just follows the close).
    if (this.o.maxSessionAgeMs > 0)
      this.ageTimer = setTimeout(
        () => {
          this.notify("reconnect", { reason: "session_expired" });
          this.close(CloseCode.SessionExpired, "session reached the maximum age; rejoin");
        },
        Math.max(0, joinedAt + this.o.maxSessionAgeMs - Date.now()),
      );
  }

  private async joinLocal(id: number, params: JoinParams): Promise<void> {
    const admission = this.admission;
    this.admission = undefined;
    // A local socket's session can be resumed after its connection drops; a bridged one ends
    // with it (the client rejoins: its signal node holds no session to resume).
    const registry = this.t.signalNode === this.o.nodeId ? this.o.resumable : undefined;
    const sink = registry ? new SessionSink(this) : this;
    const session = await this.o.sessions.open(params, sink, admission);
    if (this.state !== "joining") return session.leave(); // socket closed while joining
    this.session = session;
    this.joined("ok");
    this.startAgeTimer(Date.now());
    if (!registry || !(sink instanceof SessionSink)) return this.reply(id, session.joined);
    this.resumeSid = session.joined.participant.sid;
    this.reply(id, { ...session.joined, resume: registry.register(this.resumeSid, session, sink, this) });
  }

  /** The hosting node answers the join (and everything after it) itself. */
  private async joinRelayed(host: string, claims: TokenClaims, joinFrame: string): Promise<void> {
    const refuseIfDraining = () => {
      if (this.o.draining())
        throw new ProtocolError(ErrorCode.Draining, "signal node is draining: rejoin through the control plane");
    };
    refuseIfDraining();
    const bridge = this.o.bridge();
    if (!bridge)
      throw new ProtocolError(ErrorCode.WrongNode, `room is hosted on node ${host}; this node has no bridge to it`);
    const toClient = (f: string) => this.send(f);
    const relay = await openRelay(
      bridge,
      { host, assertion: encodeAssertion(claims), remoteAddress: this.remoteAddress },
      joinFrame,
      toClient,
      this.o.hostRegistered,
    );
    if (this.state !== "joining") return relay.close(); // socket closed while the host accepted
    try {
      refuseIfDraining(); // the drain began while the host accepted: handOffRelayed() did not see it
    } catch (e) {
      relay.close(BridgeCloseCode.Normal, "signal node draining");
      throw e;
    }
    this.relay = relay;
    relay.on("close", (e) => this.close(e.code, e.reason));
    this.joined("relayed");
    this.log = this.log.child({ host });
  }

  private joined(result: "ok" | "relayed" | "resumed"): void {
    clearTimeout(this.authTimer);
    this.state = "joined";
    this.settle();
    this.o.metrics.joins.inc({ result });
    this.log.info(
      result === "ok"
        ? "participant joined"
        : result === "resumed"
          ? "participant resumed its session"
          : "participant joined through the bridge",
    );
  }

  /** A relayed client needs only a new signal path, not a new room: tells it to reconnect (the
   * same notification a hosting node sends at its drain deadline) and closes with Draining, which
   * also ends its session on the host. Returns whether this connection was relayed. */
  handOff(): boolean {
    if (this.state !== "joined" || !this.relay) return false;
    this.notify("reconnect", { reason: "draining" });
    this.close(CloseCode.Draining, "signal node draining");
    return true;
  }

  /** The transport is gone (or we closed it): leave the room / end the relayed session. `dropped`:
   * the connection was lost rather than closed on purpose — a resumable session is kept for the
   * grace period instead of leaving. */
  ended(dropped = false): void {
    if (this.state === "closed") return;
    const wasJoined = this.state === "joined";
    this.state = "closed";
    this.settle();
    clearTimeout(this.authTimer);
    clearTimeout(this.ageTimer);
    const sid = this.resumeSid;
    this.resumeSid = undefined;
    if (sid !== undefined && dropped && this.o.resumable?.park(sid)) {
      this.session = undefined;
      return this.log.info("connection lost; session kept for resume");
    }
    if (sid !== undefined) this.o.resumable?.forget(sid);
    this.session?.leave();
    this.session = undefined;
    this.relay?.close(BridgeCloseCode.Normal, "client left");
    this.relay = undefined;
    if (wasJoined) this.log.info("participant left");
  }

  /** `dropped`: the client is unreachable (heartbeat), not the node shutting down. */
  terminate(dropped = false): void {
    this.t.terminate();
    this.ended(dropped);
  }

  private settle(): void {
    const f = this.onSettled;
    this.onSettled = undefined;
    f?.();
  }
}

function frameBytes(data: RawData): Buffer {
  // ws hands over a Buffer (binaryType "nodebuffer"): used as is, not copied per message.
  if (Buffer.isBuffer(data)) return data;
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}

export class SignalingServer {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES });
  /** WebSocket connections with their heartbeat flag. */
  private readonly sockets = new Map<WebSocket, { conn: Connection; alive: boolean }>();
  /** Sessions bridged from other nodes' clients (their liveness is the bridge's business). */
  private readonly bridged = new Set<Connection>();
  /** WebSocket connections that have not joined yet (bounded: maxPendingSockets). */
  private readonly pending = new Set<Connection>();
  private readonly heartbeat: NodeJS.Timeout;
  private readonly o: SignalingOptions;

  constructor(o: SignalingOptions) {
    this.o = o;
    this.heartbeat = setInterval(() => {
      for (const [ws, s] of this.sockets) {
        if (!s.alive) s.conn.terminate(true);
        else {
          s.alive = false;
          ws.ping();
        }
      }
    }, HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  /** For http.Server 'upgrade': takes requests for SIGNAL_PATH, refuses the rest. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = URL.parse(req.url ?? "/", "http://localhost"); // null for "//[" and the like
    if (url?.pathname !== SIGNAL_PATH) {
      socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n");
      return;
    }
    if (this.pending.size >= this.o.maxPendingSockets) {
      // Each pending socket is cheap but not free, and it has not proven anything yet.
      this.o.metrics.signalCloses.inc({ reason: "too_many_pending" });
      socket.end("HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\n\r\n");
      return;
    }
    // Non-browser clients send `Authorization: Bearer`; browsers (whose WebSocket cannot set
    // headers) send the token in `join`. `?access_token=` stays for LiveKit-style clients, but
    // URLs end up in proxy logs: prefer the other two.
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? "")?.[1];
    const token = bearer ?? url.searchParams.get("access_token") ?? undefined;
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const c = new Connection(wsTransport(ws, this.o.nodeId), { token }, this.o, req.socket.remoteAddress);
      this.pending.add(c);
      c.onSettled = () => this.pending.delete(c);
      const entry = { conn: c, alive: true };
      this.sockets.set(ws, entry);
      ws.on("message", (data, isBinary) => c.receive(frameBytes(data), isBinary));
      ws.on("pong", () => (entry.alive = true));
      ws.on("error", (err) => this.o.log.debug({ err }, "signaling socket error"));
      ws.once("close", (code) => {
        this.sockets.delete(ws);
        // 1000: the client closed on purpose (it left); 1001: its page went away (a closed tab or
        // a reload has no token to resume with: parking it would leave a ghost in the room).
        // Anything else — 1006, the connection was lost — may come back and resume.
        c.ended(code !== 1000 && code !== 1001);
      });
    });
  }

  /**
   * Bridge session handler of the hosting node: applies the token rules itself to the claims the
   * signal node vouched for (authenticated by the bus as from that node; never a token), refuses
   * rooms it does not own (WrongNode) or cannot open (Draining), and otherwise serves the session
   * like a local socket.
   */
  hostBridged = async (session: BridgeSession): Promise<void> => {
    let claims: TokenClaims;
    let admission: Admission;
    try {
      const a = decodeAssertion(session.init.assertion);
      if ("error" in a) throw new ProtocolError(ErrorCode.Unauthorized, a.error);
      claims = a.claims;
      admission = await this.o.sessions.check({
        ...joinParamsFromClaims(claims, undefined, this.o.requireMediaClaim),
        signalNode: session.peerNodeId,
      });
    } catch (e) {
      const info = toErrorInfo(e);
      const code =
        info.code === ErrorCode.WrongNode
          ? BridgeCloseCode.WrongNode
          : info.code === ErrorCode.Draining
            ? BridgeCloseCode.Draining
            : BridgeCloseCode.Refused;
      this.o.log.info({ code: info.code, reason: info.message, from: session.peerNodeId }, "bridged session refused");
      return session.close(code, info.message);
    }
    const c = new Connection(bridgeTransport(session), { claims }, this.o, undefined, admission);
    this.bridged.add(c);
    session.on("message", (f) => c.receive(f, false));
    session.once("close", () => {
      this.bridged.delete(c);
      c.ended();
    });
  };

  get size(): number {
    return this.sockets.size + this.bridged.size;
  }

  /** Sockets by whether they joined (gauges on /metrics). */
  get socketCounts(): { pending: number; open: number; parked: number } {
    return { pending: this.pending.size, open: this.sockets.size, parked: this.o.resumable?.parked ?? 0 };
  }

  /** Drain of a signal node: hands every relayed client off at once (their media is on other
   * nodes) and resolves once their sockets closed — or after `timeoutMs`, so stop() can follow. */
  async handOffRelayed(timeoutMs = 2_000): Promise<number> {
    const closing: Promise<unknown>[] = [];
    for (const [ws, { conn }] of this.sockets) {
      if (!conn.handOff()) continue;
      closing.push(
        new Promise((resolve) => (ws.readyState === ws.CLOSED ? resolve(undefined) : ws.once("close", resolve))),
      );
    }
    if (closing.length > 0) {
      const timeout = new Promise((resolve) => setTimeout(resolve, timeoutMs).unref());
      await Promise.race([Promise.all(closing), timeout]);
      this.o.log.info({ clients: closing.length }, "relayed clients handed off");
    }
    return closing.length;
  }

  close(): void {
    clearInterval(this.heartbeat);
    for (const { conn } of this.sockets.values()) conn.terminate();
    for (const c of this.bridged) c.terminate();
    this.o.resumable?.close();
    this.wss.close();
  }
}
