// Request/response over the signaling WebSocket (shared/protocol.ts). Runs in browsers and in
// Node ≥ 22 (global WebSocket), so tests speak the protocol through the same code as the client.
import {
  ServerMessageEnvelope,
  encodeRequest,
  type ErrorInfo,
  type Method,
  type NotificationData,
  type NotificationName,
  type RequestData,
  type Responses,
} from "#shared/protocol.ts";

export class SignalError extends Error {
  readonly code: ErrorInfo["code"];
  constructor(info: ErrorInfo) {
    super(`${info.code}: ${info.message}`);
    this.code = info.code;
  }
}

export type NotificationListener = <N extends NotificationName>(name: N, data: NotificationData<N>) => void;
export interface CloseInfo {
  code: number;
  reason: string;
}

interface Pending {
  resolve: (data: unknown) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

export class SignalClient {
  private readonly ws: WebSocket;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Set<NotificationListener>();
  private nextId = 1;
  /** Media token the `join` request carries. */
  private token: string | undefined;
  /** Resolves when the socket closes, with the close code the node chose. */
  readonly closed: Promise<CloseInfo>;

  private constructor(ws: WebSocket) {
    this.ws = ws;
    this.closed = new Promise((resolve) => {
      ws.addEventListener("close", (ev) => {
        for (const p of this.pending.values()) {
          clearTimeout(p.timer);
          p.reject(new Error(`signaling closed (${ev.code} ${ev.reason})`));
        }
        this.pending.clear();
        resolve({ code: ev.code, reason: ev.reason });
      });
    });
    ws.addEventListener("message", (ev) => this.onMessage(String(ev.data)));
  }

  /** Opens the socket. `token` is sent in the `join` request (unless that names its own), never
   * in the URL: URLs end up in proxies' logs, and a browser WebSocket cannot set headers. Gives up
   * after `timeoutMs` when given (a host that drops packets would otherwise hold it for the
   * browser's TCP timeout). */
  static open(url: string, token?: string, timeoutMs?: number): Promise<SignalClient> {
    const ws = new WebSocket(new URL(url).toString());
    const client = new SignalClient(ws);
    client.token = token;
    return new Promise((resolve, reject) => {
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              reject(new Error(`cannot connect to ${url}: no answer in ${timeoutMs} ms`));
              ws.close();
            }, timeoutMs);
      ws.addEventListener(
        "open",
        () => {
          clearTimeout(timer);
          resolve(client);
        },
        { once: true },
      );
      ws.addEventListener(
        "error",
        () => {
          clearTimeout(timer);
          reject(new Error(`cannot connect to ${url}`));
        },
        { once: true },
      );
    });
  }

  onNotification(l: NotificationListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  request<M extends Method>(method: M, data: RequestData<M>, timeoutMs = 15_000): Promise<Responses[M]> {
    if (method === "join" && this.token !== undefined && (data as RequestData<"join">).token === undefined)
      data = { ...data, token: this.token } as RequestData<M>;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${method}: no response in ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (d: unknown) => void, reject, timer });
      this.sendRaw(encodeRequest(id, method, data));
    });
  }

  /** Sends a frame as is (tests send malformed ones). */
  sendRaw(frame: string): void {
    this.ws.send(frame);
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  close(code = 1000, reason = ""): void {
    this.ws.close(code, reason);
  }

  private onMessage(raw: string): void {
    let msg;
    try {
      msg = ServerMessageEnvelope.parse(JSON.parse(raw));
    } catch {
      return; // a newer node's message this client does not know: ignore
    }
    if ("notification" in msg) {
      for (const l of this.listeners) l(msg.notification, msg.data as never);
      return;
    }
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    clearTimeout(p.timer);
    if (msg.ok) p.resolve(msg.data);
    else p.reject(new SignalError(msg.error as ErrorInfo));
  }
}
