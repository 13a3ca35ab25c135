// WebSocket signaling at /rtc. Each connection authenticates with the media token (URL
// `?access_token=` or the `join` request), opens a RoomSession and forwards validated requests to
// it. Bad input never closes the socket: it gets an error reply with a stable code. Only
// authentication/authorization failures close it, with a CloseCode.
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, WebSocket, type RawData } from "ws";
import { ErrorCode } from "../../shared/errors.ts";
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
} from "../../shared/protocol.ts";
import { TokenError, verifyToken, type ApiKeys, type TokenClaims } from "../../shared/token.ts";
import type { Logger } from "./log.ts";
import type { NodeMetrics } from "./metrics.ts";
import type { ParticipantSink } from "./participant.ts";
import { TokenBucket } from "./rate-limit.ts";
import type { JoinParams, RoomSession, RoomSessionFactory } from "./session.ts";

export const SIGNAL_PATH = "/rtc";
const HEARTBEAT_MS = 20_000;

export interface SignalingOptions {
  apiKeys: ApiKeys;
  /** Cluster mode: tokens must carry the `meridian` claim minted by the control plane. */
  requireMediaClaim: boolean;
  sessions: RoomSessionFactory;
  ratePerSec: number;
  burst: number;
  authTimeoutMs: number;
  metrics: NodeMetrics;
  log: Logger;
}

/** Which close code ends a connection whose join failed with this error code. */
const JOIN_CLOSE: Partial<Record<ErrorCode, CloseCode>> = {
  [ErrorCode.Unauthorized]: CloseCode.Unauthorized,
  [ErrorCode.Forbidden]: CloseCode.Forbidden,
  [ErrorCode.WrongNode]: CloseCode.WrongNode,
  [ErrorCode.Draining]: CloseCode.Draining,
};

function toErrorInfo(e: unknown): ErrorInfo {
  if (e instanceof ProtocolError) return { code: e.code, message: e.message };
  // mediasoup rejects malformed parameters with TypeError (ortc validation): the caller's fault.
  if (e instanceof TypeError) return { code: ErrorCode.BadRequest, message: e.message };
  if (e instanceof Error && e.name === "UnsupportedError") return { code: ErrorCode.BadRequest, message: e.message };
  if (e instanceof Error && e.name === "InvalidStateError") return { code: ErrorCode.Conflict, message: e.message };
  return { code: ErrorCode.Internal, message: "internal error" };
}

/** Pure: what a verified token allows, or why it is refused. */
export function joinParamsFromClaims(
  claims: TokenClaims,
  requestedRoom: string | undefined,
  requireMediaClaim: boolean,
): JoinParams {
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
    // LiveKit semantics: an absent permission is granted.
    permissions: { canPublish: v.canPublish ?? true, canSubscribe: v.canSubscribe ?? true, canPublishData: v.canPublishData ?? true },
    hostNode: claims.meridian?.node,
  };
}

class Connection implements ParticipantSink {
  private readonly ws: WebSocket;
  private readonly o: SignalingOptions;
  private readonly urlToken: string | undefined;
  private readonly bucket: TokenBucket;
  private state: "new" | "joining" | "joined" | "closed" = "new";
  private session: RoomSession | undefined;
  private authTimer: NodeJS.Timeout | undefined;
  private log: Logger;
  alive = true;

  constructor(ws: WebSocket, urlToken: string | undefined, o: SignalingOptions) {
    this.ws = ws;
    this.o = o;
    this.urlToken = urlToken;
    this.log = o.log;
    this.bucket = new TokenBucket(o.ratePerSec, o.burst, Date.now());
    this.authTimer = setTimeout(() => this.close(CloseCode.AuthTimeout, "no join"), o.authTimeoutMs);
    ws.on("message", (data, isBinary) => this.onMessage(data, isBinary));
    ws.on("pong", () => (this.alive = true));
    ws.on("close", () => this.onClose());
    ws.on("error", (err) => this.log.debug({ err }, "signaling socket error"));
  }

  notify: ParticipantSink["notify"] = (name, data) => {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(encodeNotification(name, data));
  };

  close(code: CloseCode, reason: string): void {
    if (this.state === "closed") return;
    this.ws.close(code, reason);
    this.onClose();
  }

  private reply(id: number, data: unknown): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(encodeResponse(id, data));
  }

  private replyError(id: number | null, error: ErrorInfo): void {
    this.o.metrics.signalErrors.inc({ code: error.code });
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(encodeError(id, error));
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    if (this.state === "closed") return;
    // Every frame costs a token, even malformed ones; the reply still names the request when it can.
    const allowed = this.bucket.take(Date.now());
    const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    if (isBinary) return this.replyError(null, { code: ErrorCode.BadRequest, message: "binary frames are not part of the protocol" });
    if (bytes.length > MAX_MESSAGE_BYTES)
      return this.replyError(null, { code: ErrorCode.BadRequest, message: `message larger than ${MAX_MESSAGE_BYTES} bytes` });
    const parsed = parseRequest(bytes.toString("utf8"));
    if (!allowed) {
      const id = parsed.ok ? parsed.request.id : parsed.id;
      return this.replyError(id, { code: ErrorCode.RateLimited, message: "too many messages; slow down" });
    }
    if (!parsed.ok) return this.replyError(parsed.id, parsed.error);
    const req = parsed.request;
    this.o.metrics.signalMessages.inc({ method: req.method });
    if (req.method === "join") return void this.join(req.id, req.data);
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

  private async join(id: number, data: RequestData<"join">): Promise<void> {
    if (this.state !== "new") return this.replyError(id, { code: ErrorCode.Conflict, message: "already joined" });
    this.state = "joining";
    try {
      let claims: TokenClaims;
      try {
        claims = await verifyToken(this.urlToken ?? data.token, this.o.apiKeys);
      } catch (e) {
        if (e instanceof TokenError) throw new ProtocolError(ErrorCode.Unauthorized, e.message);
        throw e;
      }
      const params = joinParamsFromClaims(claims, data.room, this.o.requireMediaClaim);
      this.log = this.o.log.child({ room: params.room, identity: params.identity });
      const session = await this.o.sessions.open(params, this);
      if (this.state !== "joining") return session.leave(); // socket closed while joining
      clearTimeout(this.authTimer);
      this.session = session;
      this.state = "joined";
      this.o.metrics.joins.inc({ result: "ok" });
      this.log.info("participant joined");
      this.reply(id, session.joined);
    } catch (e) {
      const info = toErrorInfo(e);
      this.o.metrics.joins.inc({ result: info.code });
      if (info.code === ErrorCode.Internal) this.log.error({ err: e }, "join failed");
      else this.log.info({ code: info.code, reason: info.message }, "join refused");
      this.replyError(id, info);
      this.close(JOIN_CLOSE[info.code] ?? CloseCode.ProtocolError, info.message.slice(0, 120));
    }
  }

  private onClose(): void {
    if (this.state === "closed") return;
    const wasJoined = this.state === "joined";
    this.state = "closed";
    clearTimeout(this.authTimer);
    this.session?.leave();
    this.session = undefined;
    if (wasJoined) this.log.info("participant left");
  }

  terminate(): void {
    this.ws.terminate();
    this.onClose();
  }

  ping(): void {
    this.alive = false;
    this.ws.ping();
  }
}

export class SignalingServer {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES });
  private readonly connections = new Set<Connection>();
  private readonly heartbeat: NodeJS.Timeout;
  private readonly o: SignalingOptions;

  constructor(o: SignalingOptions) {
    this.o = o;
    this.heartbeat = setInterval(() => {
      for (const c of this.connections) {
        if (!c.alive) c.terminate();
        else c.ping();
      }
    }, HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  /** For http.Server 'upgrade': takes requests for SIGNAL_PATH, refuses the rest. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? "/", "http://localhost");
    if (url.pathname !== SIGNAL_PATH) {
      socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n");
      return;
    }
    const token = url.searchParams.get("access_token") ?? undefined;
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const c = new Connection(ws, token, this.o);
      this.connections.add(c);
      ws.once("close", () => this.connections.delete(c));
    });
  }

  get size(): number {
    return this.connections.size;
  }

  close(): void {
    clearInterval(this.heartbeat);
    for (const c of this.connections) c.terminate();
    this.wss.close();
  }
}
