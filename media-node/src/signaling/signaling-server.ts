// WebSocket signaling at /rtc. Each connection authenticates with the media token (`join`
// request, `Authorization: Bearer` on the upgrade, or URL `?access_token=`), opens a RoomSession and forwards validated requests to
// it. Bad input never closes the socket: it gets an error reply with a stable code. Only
// authentication/authorization failures close it, with a CloseCode.
//
// Cluster mode adds the signaling bridge. A token naming another hosting node makes this node the
// client's signal node: after authenticating it relays the client's frames verbatim over a
// BridgeSession (relay.ts) and the host's frames back. On the hosting node a bridged session is a
// Connection like any other (transport.ts). A host that does not own the room refuses
// (WrongNode); the signal node then re-reads the room's mapping once and retries there.
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type RawData, type WebSocket } from "ws";
import { ErrorCode } from "#shared/errors.ts";
import {
  CloseCode,
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
import type { JoinParams, RoomSession, RoomSessionFactory } from "../rooms/room-session.ts";
import { bridgeTransport, wsTransport, type SignalTransport } from "./transport.ts";

export const SIGNAL_PATH = "/rtc";
const HEARTBEAT_MS = 20_000;

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
  /** The node's bridge endpoint (cluster mode, once connected). */
  bridge: () => BridgeEndpoint | undefined;
  /** The room's current hosting node per Redis; undefined when unknown or Redis is unreachable. */
  resolveHost: (room: string) => Promise<string | undefined>;
  /** Whether a node is in the registry; undefined when Redis is unreachable. */
  hostRegistered: (node: string) => Promise<boolean | undefined>;
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
  if (e instanceof Error && (e.name === "InvalidStateError" || e.name === "WorkerClosedError")) return { code: ErrorCode.Conflict, message: e.message };
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
    if (e instanceof TokenError) throw new ProtocolError(e.reason === "wrong_kind" ? ErrorCode.Forbidden : ErrorCode.Unauthorized, e.message);
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
    permissions: permissionsOf(v),
    hostNode: claims.meridian?.node,
    roomSid: claims.meridian?.roomSid,
  };
}

class Connection implements ParticipantSink {
  private readonly t: SignalTransport;
  private readonly o: SignalingOptions;
  private readonly urlToken: string | undefined;
  private readonly remoteAddress: string | undefined;
  private readonly bucket: TokenBucket;
  private state: "new" | "joining" | "joined" | "closed" = "new";
  /** Joined locally: the room is on this node (or this is the hosting end of a bridge). */
  private session: RoomSession | undefined;
  /** Joined through the bridge: this node only relays frames to and from the hosting node. */
  private relay: BridgeSession | undefined;
  private authTimer: NodeJS.Timeout | undefined;
  private ageTimer: NodeJS.Timeout | undefined;
  private log: Logger;

  constructor(t: SignalTransport, urlToken: string | undefined, o: SignalingOptions, remoteAddress?: string) {
    this.t = t;
    this.o = o;
    this.urlToken = urlToken;
    this.remoteAddress = remoteAddress;
    this.log = t.signalNode === o.nodeId ? o.log : o.log.child({ signalNode: t.signalNode });
    this.bucket = new TokenBucket(o.ratePerSec, o.burst, Date.now());
    this.authTimer = setTimeout(() => this.close(CloseCode.AuthTimeout, "no join"), o.authTimeoutMs);
  }

  notify: ParticipantSink["notify"] = (name, data) => {
    if (this.t.isOpen) this.t.send(encodeNotification(name, data));
  };

  notifyEncoded(frame: string): void {
    if (this.t.isOpen) this.t.send(frame);
  }

  close(code: number, reason: string): void {
    if (this.state === "closed") return;
    this.t.close(code, reason);
    this.ended();
  }

  private reply(id: number, data: unknown): void {
    if (this.t.isOpen) this.t.send(encodeResponse(id, data));
  }

  private replyError(id: number | null, error: ErrorInfo): void {
    this.o.metrics.signalErrors.inc({ code: error.code });
    if (this.t.isOpen) this.t.send(encodeError(id, error));
  }

  /** A frame from the transport. */
  receive(data: string | Buffer, isBinary: boolean): void {
    if (this.state === "closed") return;
    // Every frame costs a token, even malformed ones; the reply still names the request when it can.
    const allowed = this.bucket.take(Date.now());
    if (isBinary) return this.replyError(null, { code: ErrorCode.BadRequest, message: "binary frames are not part of the protocol" });
    const size = typeof data === "string" ? Buffer.byteLength(data) : data.length;
    if (size > MAX_MESSAGE_BYTES)
      return this.replyError(null, { code: ErrorCode.BadRequest, message: `message larger than ${MAX_MESSAGE_BYTES} bytes` });
    const text = typeof data === "string" ? data : data.toString("utf8");
    // Relayed: the hosting node parses and answers; parsing here too would only add latency.
    if (this.relay && allowed) return void this.relay.send(text);
    const parsed = parseRequest(text);
    if (!allowed) {
      const id = parsed.ok ? parsed.request.id : parsed.id;
      return this.replyError(id, { code: ErrorCode.RateLimited, message: "too many messages; slow down" });
    }
    if (!parsed.ok) return this.replyError(parsed.id, parsed.error);
    const req = parsed.request;
    this.o.metrics.signalMessages.inc({ method: req.method });
    if (req.method === "join") return void this.join(req.id, req.data, text);
    if (this.state !== "joined" || !this.session)
      return this.replyError(req.id, { code: ErrorCode.BadRequest, message: "send join first" });
    if (req.method === "leave") {
      this.reply(req.id, {});
      return this.close(CloseCode.Normal, "left");
    }
    void this.forward(this.session, req);
  }

  private async forward(session: RoomSession, req: Exclude<Request, { method: "join" | "leave" }>): Promise<void> {
    try {
      this.reply(req.id, await session.request(req));
    } catch (e) {
      const info = toErrorInfo(e);
      if (info.code === ErrorCode.Internal) this.log.warn({ err: e, method: req.method }, "signaling request failed");
      this.replyError(req.id, info);
    }
  }

  private async join(id: number, data: RequestData<"join">, frame: string): Promise<void> {
    if (this.state !== "new") return this.replyError(id, { code: ErrorCode.Conflict, message: "already joined" });
    this.state = "joining";
    try {
      const token = this.urlToken ?? data.token;
      const params = { ...joinParamsFromClaims(await verify(token, this.o.apiKeys, this.o.requireMediaClaim), data.room, this.o.requireMediaClaim), signalNode: this.t.signalNode };
      // Authenticated: finding the room's node is not the client's delay.
      clearTimeout(this.authTimer);
      this.log = this.log.child({ room: params.room, identity: params.identity });
      let host = params.hostNode ?? this.o.nodeId;
      for (let attempt = 0; ; attempt++) {
        try {
          if (host === this.o.nodeId) return await this.joinLocal(id, params);
          return await this.joinRelayed(host, token!, frame);
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

  private async joinLocal(id: number, params: JoinParams): Promise<void> {
    const session = await this.o.sessions.open(params, this);
    if (this.state !== "joining") return session.leave(); // socket closed while joining
    this.session = session;
    this.joined("ok");
    // The hosting end enforces the age (a relayed client's signal node just follows the close).
    if (this.o.maxSessionAgeMs > 0)
      this.ageTimer = setTimeout(() => {
        this.notify("reconnect", { reason: "session_expired" });
        this.close(CloseCode.SessionExpired, "session reached the maximum age; rejoin");
      }, this.o.maxSessionAgeMs);
    this.reply(id, session.joined);
  }

  /** The hosting node answers the join (and everything after it) itself. */
  private async joinRelayed(host: string, token: string, joinFrame: string): Promise<void> {
    const refuseIfDraining = () => {
      if (this.o.draining()) throw new ProtocolError(ErrorCode.Draining, "signal node is draining: rejoin through the control plane");
    };
    refuseIfDraining();
    const bridge = this.o.bridge();
    if (!bridge) throw new ProtocolError(ErrorCode.WrongNode, `room is hosted on node ${host}; this node has no bridge to it`);
    const toClient = (f: string) => {
      if (this.t.isOpen) this.t.send(f);
    };
    const relay = await openRelay(bridge, { host, token, remoteAddress: this.remoteAddress }, joinFrame, toClient, this.o.hostRegistered);
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

  private joined(result: "ok" | "relayed"): void {
    clearTimeout(this.authTimer);
    this.state = "joined";
    this.o.metrics.joins.inc({ result });
    this.log.info(result === "ok" ? "participant joined" : "participant joined through the bridge");
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

  /** The transport is gone (or we closed it): leave the room / end the relayed session. */
  ended(): void {
    if (this.state === "closed") return;
    const wasJoined = this.state === "joined";
    this.state = "closed";
    clearTimeout(this.authTimer);
    clearTimeout(this.ageTimer);
    this.session?.leave();
    this.session = undefined;
    this.relay?.close(BridgeCloseCode.Normal, "client left");
    this.relay = undefined;
    if (wasJoined) this.log.info("participant left");
  }

  terminate(): void {
    this.t.terminate();
    this.ended();
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
  private readonly heartbeat: NodeJS.Timeout;
  private readonly o: SignalingOptions;

  constructor(o: SignalingOptions) {
    this.o = o;
    this.heartbeat = setInterval(() => {
      for (const [ws, s] of this.sockets) {
        if (!s.alive) s.conn.terminate();
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
    // Non-browser clients send `Authorization: Bearer`; browsers (whose WebSocket cannot set
    // headers) send the token in `join`. `?access_token=` stays for LiveKit-style clients, but
    // URLs end up in proxy logs: prefer the other two.
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? "")?.[1];
    const token = bearer ?? url.searchParams.get("access_token") ?? undefined;
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const c = new Connection(wsTransport(ws, this.o.nodeId), token, this.o, req.socket.remoteAddress);
      const entry = { conn: c, alive: true };
      this.sockets.set(ws, entry);
      ws.on("message", (data, isBinary) => c.receive(frameBytes(data), isBinary));
      ws.on("pong", () => (entry.alive = true));
      ws.on("error", (err) => this.o.log.debug({ err }, "signaling socket error"));
      ws.once("close", () => {
        this.sockets.delete(ws);
        c.ended();
      });
    });
  }

  /**
   * Bridge session handler of the hosting node: verifies the token itself (it never trusts the
   * relay), refuses rooms it does not own (WrongNode) or cannot open (Draining), and otherwise
   * serves the session like a local socket.
   */
  hostBridged = async (session: BridgeSession): Promise<void> => {
    try {
      const claims = await verify(session.init.token, this.o.apiKeys, this.o.requireMediaClaim);
      await this.o.sessions.check({ ...joinParamsFromClaims(claims, undefined, this.o.requireMediaClaim), signalNode: session.peerNodeId });
    } catch (e) {
      const info = toErrorInfo(e);
      const code =
        info.code === ErrorCode.WrongNode ? BridgeCloseCode.WrongNode : info.code === ErrorCode.Draining ? BridgeCloseCode.Draining : BridgeCloseCode.Refused;
      this.o.log.info({ code: info.code, reason: info.message, from: session.peerNodeId }, "bridged session refused");
      return session.close(code, info.message);
    }
    const c = new Connection(bridgeTransport(session), session.init.token, this.o);
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

  /** Drain of a signal node: hands every relayed client off at once (their media is on other
   * nodes) and resolves once their sockets closed — or after `timeoutMs`, so stop() can follow. */
  async handOffRelayed(timeoutMs = 2_000): Promise<number> {
    const closing: Promise<unknown>[] = [];
    for (const [ws, { conn }] of this.sockets) {
      if (!conn.handOff()) continue;
      closing.push(new Promise((resolve) => (ws.readyState === ws.CLOSED ? resolve(undefined) : ws.once("close", resolve))));
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
    this.wss.close();
  }
}
